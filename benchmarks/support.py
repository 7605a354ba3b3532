"""Shared helpers: a throwaway benchmark database, servers on loopback, timing."""

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import psutil
import psycopg
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_database_url(suffix: str = "") -> str:
    """A database of its own next to the one `make bench` was given, recreated each run.

    Named by BENCH_DATABASE_NAME (default maillage_bench), so that two runs on one server can coexist,
    and ``suffix`` for a benchmark that wants its own (maillage_bench_identity).
    """
    url = os.environ["DATABASE_URL"]
    server, _, _ = url.rpartition("/")
    name = os.environ.get("BENCH_DATABASE_NAME", "maillage_bench") + (f"_{suffix}" if suffix else "")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{server}/{quote(name, safe='')}"


# Every request of a benchmark comes from 127.0.0.1, with one client_id: the quotas (protection/ratelimit.py)
# would refuse it within seconds. Raised through their variables, never by changing the defaults; the
# counters still count, so their cost is measured.
UNLIMITED_QUOTAS = {
    f"RATE_LIMIT_{quota}": "1000000/min"
    for quota in ("DEFAULT_IP", "DEFAULT_CLIENT", "SIGN_IN_IP", "OIDC_IP", "OIDC_CLIENT")
}


def platform_env(database_url: str, **extra: str) -> dict:
    """The environment of the platform's processes in a benchmark: production settings on loopback."""
    environment = dict(os.environ)
    environment.update(
        DATABASE_URL=database_url,
        DEBUG="0",
        SECURE_SSL_REDIRECT="0",
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="platform_core.settings",
        **UNLIMITED_QUOTAS,
    )
    environment.update(extra)
    return environment


def manage(environment: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environment, check=True)  # noqa: S603


@contextmanager
def gunicorn(app: str, environment: dict, probe: str = "/", workers: int = 1, threads: int = 1,
             port: int | None = None, options: list[str] = (), stdout=None):  # fmt: skip
    """``app`` on loopback until the block ends: sync workers, or gthread ones when ``threads`` > 1;
    ``options`` go first on gunicorn's command line (``--config python:platform_core.gunicorn_conf``),
    ``stdout`` receives what it writes there (its access log, with that configuration)."""
    port = port or free_port()
    threading = ["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []
    process = subprocess.Popen(  # noqa: S603
        [str(BIN / "gunicorn"), *options, app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         *threading, "--log-level", "warning", "--no-control-socket"],
        cwd=BASE_DIR, env=environment, stdout=stdout,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + probe, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{app} did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def timed_requests(client: httpx.Client, url: str, count: int) -> list[float]:
    durations = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(url)
        durations.append(time.perf_counter() - started)
        response.raise_for_status()
    return durations


def summary(durations: list[float]) -> dict:
    ordered = sorted(durations)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[int(len(ordered) * 0.95) - 1] * 1000,
        "rps": len(ordered) / sum(ordered),
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(len(ordered) * fraction)) - 1))]


class CpuMeter:
    """CPU seconds of groups of processes between two samples, and of the whole machine. Groups are
    listed again at each sample (PostgreSQL forks a backend per connection)."""

    def __init__(self, groups: dict):
        self.groups = groups  # name: () -> pids

    @staticmethod
    def _times(pids: list[int]) -> dict[int, float]:
        found = {}
        for pid in pids:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.NoSuchProcess:
                continue
            found[pid] = times.user + times.system
        return found

    def sample(self) -> dict:
        machine = psutil.cpu_times()
        busy = machine.user + machine.system + machine.nice + machine.irq + machine.softirq + machine.steal
        return {
            "groups": {name: self._times(pids()) for name, pids in self.groups.items()},
            "busy": busy,
            "wall": time.monotonic(),
        }

    @staticmethod
    def used(before: dict, after: dict) -> tuple[float, dict[str, float]]:
        """(wall seconds, {group: CPU seconds}) between two samples, "other processes" included."""
        used = {}
        for name, times in after["groups"].items():
            earlier = before["groups"].get(name, {})
            used[name] = sum(seconds - earlier.get(pid, 0.0) for pid, seconds in times.items())
        used["other processes"] = max(0.0, after["busy"] - before["busy"] - sum(used.values()))
        return after["wall"] - before["wall"], used


def pids(match) -> list[int]:
    return [
        p.pid
        for p in psutil.process_iter(["name", "cmdline"])
        if match(p.info["name"] or "", p.info["cmdline"] or [])
    ]


def serving(port: int) -> list[int]:
    """The gunicorn master and workers bound to ``port`` (they share its command line)."""
    return pids(lambda _name, cmdline: f"127.0.0.1:{port}" in cmdline and "--bind" in cmdline)


def command_all(processes: list[subprocess.Popen], command: str, during=None) -> list[dict]:
    """Send ``command`` to every client, start them together once all are ready, collect their JSON."""
    for process in processes:
        process.stdin.write(command + "\n")
        process.stdin.flush()
    for process in processes:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"a benchmark client failed to prepare {command!r}")
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    if during is not None:
        during()
    results = []
    for process in processes:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"a benchmark client died during {command!r}")
        results.append(json.loads(line))
    return results


def run_and_report(started: float, targets: list[tuple], outs: list[list]) -> None:
    """A client process's command: ``targets`` (function, arguments) run in threads; once all are done,
    the time since ``started`` and every thread's results on one JSON line, as command_all reads it."""
    running = [threading.Thread(target=target, args=arguments) for target, arguments in targets]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    elapsed = time.monotonic() - started
    print(json.dumps({"elapsed": elapsed, "results": [item for out in outs for item in out]}), flush=True)
