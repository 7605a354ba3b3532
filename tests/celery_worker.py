"""pytest plugin: real Celery worker subprocesses, on loopback, for tests that need one.

Registered in tests/conftest.py with ``pytest_plugins = ["tests.celery_worker"]``.

``celery_worker`` (session): one worker on the broker of the test run (REDIS_URL, or the
filesystem fallback when it is unset), its DATABASE_URL pointing at the test database so that
tasks it runs see what ``transactional_db`` tests commit. It consumes the default queue: a test
that sends tasks to it must commit first (``transactional_db``).

``start_celery_worker`` (function): a factory for extra workers with environment overrides
(``None`` removes a variable), e.g. a filesystem-broker worker with REDIS_URL unset and its own
VAR_DIR; each is stopped when the test ends.
"""

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


@dataclass
class CeleryWorker:
    hostname: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)


def database_url_for_tests() -> str:
    """DATABASE_URL of the database the test run uses (test_<name> once pytest-django set it up)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    credentials = quote(database["USER"] or "", safe="")
    if database["PASSWORD"]:
        credentials += ":" + quote(database["PASSWORD"], safe="")
    host = database["HOST"] or "127.0.0.1"
    port = f":{database['PORT']}" if database["PORT"] else ""
    query = f"?{urlencode(database['OPTIONS'])}" if database.get("OPTIONS") else ""
    name = quote(database["NAME"], safe="")
    return f"postgres://{credentials}{'@' if credentials else ''}{host}{port}/{name}{query}"


def start_worker(
    log_dir: Path,
    *,
    env: dict[str, str | None] | None = None,
    broker_url: str | None = None,
    transport_options: dict | None = None,
    queues: list[str] | None = None,
) -> CeleryWorker:
    """Start ``celery -A platform_core worker`` and return once it answers a control ping.

    ``broker_url``/``transport_options`` tell where to ping it; they default to the test
    process's settings, so pass them when ``env`` moves the worker to another broker.
    """
    from django.conf import settings

    from platform_core.ops import celery_ping

    hostname = f"pytest-{uuid.uuid4().hex[:12]}@maillage-tests"
    environment = {
        **os.environ,
        # The test run's settings module (pytest-django exports it), so both read the same broker.
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "platform_core.settings"),
        "DATABASE_URL": database_url_for_tests(),
        "LOG_FORMAT": "text",
        "PYTHONUNBUFFERED": "1",
    }
    environment.pop("CELERY_TASK_ALWAYS_EAGER", None)
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    if broker_url is None:
        broker_url = settings.CELERY_BROKER_URL
        transport_options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None)

    command = [
        sys.executable, "-m", "celery", "-A", "platform_core", "worker",
        "--pool", "solo", "--hostname", hostname, "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    if queues:
        command += ["--queues", ",".join(queues)]
    log_path = log_dir / f"{hostname.split('@')[0]}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 - fixed command, no shell
            command, cwd=BASE_DIR, env=environment, stdout=log_file, stderr=subprocess.STDOUT
        )
    worker = CeleryWorker(hostname=hostname, process=process, log_path=log_path)

    deadline = time.monotonic() + START_TIMEOUT
    last_error = None
    while True:
        if process.poll() is not None:
            pytest.fail(f"the Celery worker exited with status {process.returncode}:\n{worker.log()[-4000:]}")
        try:
            if hostname in celery_ping(broker_url, transport_options, timeout=0.5, destination=[hostname]):
                return worker
        except Exception as error:  # the broker may still be starting: retry until the deadline
            last_error = error
        if time.monotonic() > deadline:
            worker.stop()
            pytest.fail(
                f"the Celery worker did not answer a ping within {START_TIMEOUT:g} s "
                f"(last error: {last_error!r}):\n{worker.log()[-4000:]}"
            )
        time.sleep(0.2)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, tmp_path_factory):
    worker = start_worker(tmp_path_factory.mktemp("celery-worker"))
    yield worker
    worker.stop()


@pytest.fixture
def start_celery_worker(django_db_setup, tmp_path_factory):
    workers: list[CeleryWorker] = []

    def start(**options) -> CeleryWorker:
        worker = start_worker(tmp_path_factory.mktemp("celery-worker"), **options)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
