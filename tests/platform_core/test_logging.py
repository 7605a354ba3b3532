"""Log lines are JSON objects carrying the request id: the application's and gunicorn's own."""

import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from platform_core.logging import JsonFormatter, RequestIdFilter, request_id_var

BASE_DIR = Path(settings.BASE_DIR)


def format_record(message="hello", *args, exc_info=None, **extra):
    record = logging.getLogger("tests.logging").makeRecord(
        "tests.logging", logging.WARNING, __file__, 1, message, args, exc_info, extra=extra
    )
    RequestIdFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_a_line_has_time_level_logger_message_and_request_id():
    token = request_id_var.set("req-1")
    try:
        line = format_record("%s organisations", 3)
    finally:
        request_id_var.reset(token)

    assert line["level"] == "WARNING"
    assert line["logger"] == "tests.logging"
    assert line["message"] == "3 organisations"
    assert line["request_id"] == "req-1"
    assert line["time"].endswith("+00:00")


def test_extra_fields_are_kept_and_objects_are_represented():
    line = format_record(organisation="DINUM", count=2, thing=object())

    assert line["organisation"] == "DINUM"
    assert line["count"] == 2
    assert line["thing"].startswith("<object object")


def test_exceptions_are_one_field_of_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        formatted = JsonFormatter().format(
            logging.getLogger("tests").makeRecord(
                "tests", logging.ERROR, "f", 1, "failed", (), sys.exc_info()
            )
        )

    assert "\n" not in formatted
    assert "ValueError: boom" in json.loads(formatted)["exception"]


def test_django_logging_writes_json_lines_with_the_request_id_filter():
    console = settings.LOGGING["handlers"]["console"]

    assert console["filters"] == ["request_id"]
    assert settings.LOGGING["formatters"][console["formatter"]] == {
        "()": "platform_core.logging.JsonFormatter"
    }


# --- gunicorn ---------------------------------------------------------------------------------


def _json_lines(path: Path) -> list[dict]:
    """Every complete line, each of which must be JSON (the last one may still be being written)."""
    complete = path.read_text(encoding="utf-8").rpartition("\n")[0]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def _wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := predicate()) is not None:
            return found
        time.sleep(0.1)
    raise AssertionError("gave up waiting")


@pytest.fixture
def gunicorn(tmp_path):
    """A real gunicorn serving the platform with platform_core/gunicorn_conf.py, on a free loopback port."""
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    # Production settings (tests.settings turns DEBUG on), over plain HTTP.
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "platform_core.settings",
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "INFO",
    }
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:platform_core.gunicorn_conf",
                "--bind",
                "127.0.0.1:0",
                "--workers",
                "1",
                "--no-control-socket",  # the default socket lives in $HOME, shared with any other gunicorn
                "platform_core.wsgi",
            ],
            cwd=BASE_DIR,
            env=environment,
            stdout=out,
            stderr=err,
        )
    try:

        def listening_port():
            for line in _json_lines(stderr):
                if line["message"].startswith("Listening at: "):
                    return int(line["message"].rsplit(":", 1)[1].split()[0])
            assert process.poll() is None, stderr.read_text()
            return None

        yield _wait_for(listening_port), stdout, stderr
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_gunicorn_logs_json_lines_and_its_access_line_names_the_request_id(gunicorn):
    port, stdout, stderr = gunicorn

    # when a request is served
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/nowhere?x=1", headers={"X-Request-ID": "through-gunicorn-1"}
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)  # noqa: S310 - a loopback http URL built above
    with raised.value as response:  # closes the connection it holds
        assert response.code == 404
        assert response.headers["X-Request-ID"] == "through-gunicorn-1"

    # then gunicorn's access line is JSON, with the request id of the response header
    access = _wait_for(lambda: next(iter(_json_lines(stdout)), None))
    assert access["logger"] == "gunicorn.access"
    assert access["request_id"] == "through-gunicorn-1"
    assert (access["method"], access["path"], access["query"], access["status"]) == (
        "GET",
        "/api/nowhere",
        "x=1",
        404,
    )
    assert isinstance(access["duration_ms"], int)
    assert "request_id=through-gunicorn-1" in access["message"]
    # and its error log (start-up lines) too
    errors = _json_lines(stderr)
    assert errors and all(
        line["logger"].startswith(("gunicorn.", "django.", "py.warnings")) for line in errors
    )
    assert all("request_id" in line for line in errors)
