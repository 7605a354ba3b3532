"""Operations endpoints: /healthz for orchestrators and load balancers, /metrics for Prometheus.

Both are unauthenticated by design of their callers (probes, scrapers), so neither may leak a
secret nor hang: every check has socket timeouts and error messages are scrubbed of credentials.
"""

import hmac
import ipaddress
import logging
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from celery import Celery
from django.conf import settings
from django.db import connections
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_prometheus.exports import ExportToDjangoView

from platform_core.celery import app as celery_app

logger = logging.getLogger(__name__)

# Upper bound for connecting to and talking with Redis or the broker, in seconds.
SOCKET_TIMEOUT = 2.0
OK, ERROR, NOT_CONFIGURED = "ok", "error", "not_configured"

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^\s/@]+@")


# --- /healthz ---------------------------------------------------------------------------------


@never_cache
@require_safe
def healthz(request):
    """200 when the database, Redis and at least one Celery worker answer; 503 otherwise."""
    checks = {
        "database": _timed(_check_database),
        "redis": _timed(_check_redis),
        "celery": _timed(_check_celery),
    }
    healthy = all(check["status"] in {OK, NOT_CONFIGURED} for check in checks.values())
    for name, check in checks.items():
        if check["status"] == ERROR:
            logger.warning("healthz: %s check failed: %s", name, check.get("error"))
    return JsonResponse(
        {"status": OK if healthy else ERROR, "checks": checks},
        status=200 if healthy else 503,
        json_dumps_params={"ensure_ascii": False},
    )


def _timed(check: Callable[[], dict]) -> dict:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as error:  # a failing check is reported, never a 500
        result = {"status": ERROR, "error": safe_error(error)}
    return {**result, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def _check_database() -> dict:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": OK}


def _check_redis() -> dict:
    if not settings.REDIS_URL:
        # The documented fallback of a bare `make run`: nothing to ping, and nothing wrong.
        return {
            "status": NOT_CONFIGURED,
            "detail": "REDIS_URL n'est pas défini : courtier Celery de repli et cache en base de données.",
            "broker": broker_transport(settings.CELERY_BROKER_URL),
        }
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=SOCKET_TIMEOUT, socket_timeout=SOCKET_TIMEOUT
    )
    try:
        client.ping()
    finally:
        client.close()
    return {"status": OK}


def _check_celery() -> dict:
    broker = broker_transport(settings.CELERY_BROKER_URL)
    try:
        workers = celery_ping(
            settings.CELERY_BROKER_URL,
            getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None),
            timeout=settings.HEALTHZ_CELERY_TIMEOUT,
        )
    except Exception as error:  # an unreachable broker
        return {"status": ERROR, "broker": broker, "workers": [], "error": safe_error(error)}
    if not workers:
        return {
            "status": ERROR,
            "broker": broker,
            "workers": [],
            "error": f"Aucun worker Celery n'a répondu en {settings.HEALTHZ_CELERY_TIMEOUT:g} s.",
        }
    return {"status": OK, "broker": broker, "workers": workers}


def celery_ping(
    broker_url: str,
    transport_options: dict | None = None,
    *,
    timeout: float,
    destination: list[str] | None = None,
) -> list[str]:
    """Host names of the Celery workers answering a control ping on this broker within ``timeout``.

    A throwaway Celery app is used rather than the platform's: its broker is read from the
    settings at call time (so tests can point it elsewhere) and its connections are bounded.
    """
    probe = Celery("maillage-healthz", set_as_current=False, fixups=[])
    probe.conf.update(
        broker_url=broker_url,
        broker_transport_options={**(transport_options or {}), **_fast_transport_options(broker_url)},
        broker_connection_timeout=SOCKET_TIMEOUT,
        broker_connection_retry=False,
        broker_connection_max_retries=1,
        broker_pool_limit=1,
        accept_content=["json"],
        control_exchange=celery_app.conf.control_exchange,
    )
    try:
        with probe.connection_for_write() as connection:
            # Fail fast on an unreachable broker instead of kombu's default retry loop.
            connection.ensure_connection(max_retries=0, timeout=SOCKET_TIMEOUT)
            replies = probe.control.ping(timeout=timeout, connection=connection, destination=destination)
    finally:
        probe.close()
    return sorted(hostname for reply in replies or [] for hostname in reply)


def _fast_transport_options(broker_url: str) -> dict:
    transport = broker_transport(broker_url)
    if transport in {"redis", "rediss"}:
        return {
            "socket_connect_timeout": SOCKET_TIMEOUT,
            "socket_timeout": SOCKET_TIMEOUT,
            "max_retries": 1,
        }
    if transport == "filesystem":
        return {"polling_interval": 0.1}
    return {}


def broker_transport(broker_url: str) -> str:
    """The transport name alone (redis, filesystem…): never the URL, which may hold a password."""
    return broker_url.partition("://")[0] or "inconnu"


def safe_error(error: BaseException) -> str:
    """A one-line error message without credentials, for an unauthenticated response."""
    message = " ".join(f"{type(error).__name__}: {error}".split())
    message = _URL_CREDENTIALS.sub(r"\g<scheme>***@", message)
    for secret in _known_secrets():
        message = message.replace(secret, "***")
    return message[:500]


def _known_secrets() -> set[str]:
    secrets = {settings.SECRET_KEY, settings.DATABASES["default"].get("PASSWORD") or ""}
    for url in (getattr(settings, "REDIS_URL", None), getattr(settings, "CELERY_BROKER_URL", None)):
        try:
            secrets.add(urlsplit(url or "").password or "")
        except ValueError:
            continue
    return {secret for secret in secrets if secret and len(secret) >= 4}


# --- /metrics ---------------------------------------------------------------------------------

_FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


@never_cache
@require_safe
def metrics(request):
    """Prometheus metrics: bearer METRICS_TOKEN when set, else direct loopback clients only."""
    token = getattr(settings, "METRICS_TOKEN", None)
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            response = HttpResponse(
                "Jeton d'accès aux métriques absent ou invalide.\n",
                status=401,
                content_type="text/plain; charset=utf-8",
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not _is_direct_loopback(request):
        return HttpResponse(
            "Les métriques ne sont servies qu'en local, ou avec le jeton METRICS_TOKEN.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    return ExportToDjangoView(request)


def _is_direct_loopback(request) -> bool:
    # A reverse proxy on the same host connects from loopback: a forwarded request is remote.
    if any(header in request.headers for header in _FORWARDING_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback
