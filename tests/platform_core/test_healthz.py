"""GET /healthz against a real PostgreSQL, a real Redis and real Celery worker subprocesses."""

import time

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"


def filesystem_broker(root) -> dict:
    """Settings of the REDIS_URL-less fallback, as platform_core.settings builds them for VAR_DIR=root."""
    folder = root / "celery"
    for name in ("queue", "control", "processed"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    return {
        "REDIS_URL": None,
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_TRANSPORT_OPTIONS": {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
        },
    }


def test_all_green_with_a_running_worker(client, celery_worker, settings):
    # given a database, Redis (or the fallback broker when REDIS_URL is unset) and a worker on the
    # same broker as this process
    # when
    response = client.get("/healthz")

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == ("ok" if settings.REDIS_URL else "not_configured")
    assert body["checks"]["celery"]["status"] == "ok"
    assert celery_worker.hostname in body["checks"]["celery"]["workers"]
    assert body["checks"]["celery"]["broker"] == ("redis" if settings.REDIS_URL else "filesystem")


def test_response_shape_and_headers(client, celery_worker):
    response = client.get("/healthz")

    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert set(body) == {"status", "checks"}
    assert set(body["checks"]) == {"database", "redis", "celery"}
    for check in body["checks"].values():
        assert check["status"] in {"ok", "error", "not_configured"}
        assert isinstance(check["latency_ms"], float)
        assert check["latency_ms"] >= 0
    assert isinstance(body["checks"]["celery"]["workers"], list)


def test_no_authentication_and_read_only(client, celery_worker):
    assert client.get("/healthz").status_code == 200  # anonymous client, no session, no token
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_no_worker_is_a_503_naming_celery(client, tmp_path):
    # given a broker no worker listens on (a private filesystem queue)
    with override_settings(**filesystem_broker(tmp_path), HEALTHZ_CELERY_TIMEOUT=0.3):
        # when
        response = client.get("/healthz")

    # then
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"
    celery = body["checks"]["celery"]
    assert celery["status"] == "error"
    assert celery["workers"] == []
    assert "Aucun worker Celery" in celery["error"]


def test_filesystem_fallback_without_redis(client, tmp_path, start_celery_worker):
    # given the bare-machine setup: no REDIS_URL, a worker on the filesystem broker of its VAR_DIR
    broker = filesystem_broker(tmp_path)
    worker = start_celery_worker(
        env={"REDIS_URL": None, "VAR_DIR": str(tmp_path)},
        broker_url=broker["CELERY_BROKER_URL"],
        transport_options=broker["CELERY_BROKER_TRANSPORT_OPTIONS"],
    )

    # when (the worker polls its control folder once a second)
    with override_settings(**broker, HEALTHZ_CELERY_TIMEOUT=2.5):
        response = client.get("/healthz")

    # then Redis is reported as not configured, which is not a failure
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["checks"]["redis"]["status"] == "not_configured"
    assert body["checks"]["redis"]["broker"] == "filesystem"
    assert "error" not in body["checks"]["redis"]
    assert body["checks"]["celery"]["broker"] == "filesystem"
    assert body["checks"]["celery"]["workers"] == [worker.hostname]


def test_redis_unreachable_is_a_fast_503(client):
    # given Redis (cache and broker) pointing at a closed port
    dead = {
        "REDIS_URL": DEAD_REDIS,
        "CELERY_BROKER_URL": DEAD_REDIS,
        "CACHES": {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}
        },
    }
    with override_settings(**dead):
        # when
        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started

    # then
    assert response.status_code == 503
    assert elapsed < 3
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "error"
    assert "127.0.0.1:1" in body["checks"]["redis"]["error"]
    assert body["checks"]["celery"]["status"] == "error"
    assert body["checks"]["celery"]["workers"] == []


def test_errors_never_reveal_passwords(client):
    url = "redis://maillage:s3cr3t-broker-password@127.0.0.1:1/0"
    with override_settings(REDIS_URL=url, CELERY_BROKER_URL=url):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert b"s3cr3t-broker-password" not in response.content
    assert response.json()["checks"]["celery"]["broker"] == "redis"


def test_a_broken_configuration_is_a_503_not_a_500(client):
    with override_settings(CELERY_BROKER_URL="nosuchtransport://somewhere"):
        response = client.get("/healthz")

    assert response.status_code == 503
    celery = response.json()["checks"]["celery"]
    assert celery["status"] == "error"
    assert celery["error"]
