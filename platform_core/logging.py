"""JSON log lines carrying the request id of the request (or task) being served.

Stdlib only: gunicorn's configuration (platform_core.gunicorn_conf) imports this module before Django.
"""

import contextvars
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}

# gunicorn's access-log atoms worth a field of their own, by field name.
_ACCESS_FIELDS = {
    "remote_addr": "h",
    "method": "m",
    "path": "U",
    "query": "q",
    "protocol": "H",
    "status": "s",
    "bytes": "B",
    "duration_ms": "M",
    "referer": "f",
    "user_agent": "a",
}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id_of(record)
        return True


def _request_id_of(record: logging.LogRecord) -> str:
    # django.request logs a 4xx/5xx once the middleware has returned, outside the request's context,
    # but passes the request along.
    request_id = getattr(getattr(record, "request", None), "request_id", None)
    return request_id if isinstance(request_id, str) else request_id_var.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, then any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _request_id_of(record),
        }
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            entry.update(_access_fields(record.args))
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = _plain(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=repr)


def _access_fields(atoms: Mapping) -> dict:
    """gunicorn logs the access line after the response, outside the request's context: the request id
    comes from the response header (the middleware always sets it), the rest from gunicorn's atoms."""
    fields = {name: atoms[atom] for name, atom in _ACCESS_FIELDS.items()}
    fields["request_id"] = atoms["{x-request-id}o"]
    for name in ("status", "bytes", "duration_ms"):
        try:
            fields[name] = int(fields[name])
        except (TypeError, ValueError):
            pass
    return fields


def _plain(value):
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)


LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
FORMATS = {"json", "text"}


def base_config() -> dict:
    """The filters and formatters shared by Django's LOGGING and gunicorn's logconfig_dict."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "platform_core.logging.RequestIdFilter"}},
        "formatters": {
            "json": {"()": "platform_core.logging.JsonFormatter"},
            "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        },
    }


def stream_handler(formatter: str, stream: str = "ext://sys.stderr") -> dict:
    return {
        "class": "logging.StreamHandler",
        "formatter": formatter,
        "filters": ["request_id"],
        "stream": stream,
    }
