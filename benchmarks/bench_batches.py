"""Batch transfers: items per second from submission to completion, against the sandbox CAF provider.

As `make run` runs them: Maillage under gunicorn (1 gthread worker × 4 threads: it only takes the
submission and answers the status polls), the sandbox data providers as their own gunicorn (one gthread
worker, 8 threads), one Celery worker on the ``batches`` queue with BENCH_BATCHES_WORKER_CONCURRENCY
prefork processes (default 2, one per core of the target machine), on a database of its own
(maillage_bench_batches) and the broker of REDIS_URL (the filesystem broker without it). `manage.py
prepare_platform` registers the sandbox APIs with the commune's validated habilitation and writes its
credentials under the run's VAR_DIR; the benchmark gets an access token as a consumer does.

Each round submits BENCH_BATCHES_ITEMS items (default 20,000) in JSON Lines — the family quotient of five
sandbox citizens in turn, each with a case_id — through ``POST /api/v1/batches/``, then polls
``GET /api/v1/batches/{id}`` every 0.2 s until it is completed, and checks that every item is done with a
200. Reported: the submission's duration, items/s from the first claim to the last result (the batch's
started_at → finished_at: the workers' throughput) and end to end (submission included), and the CPU
seconds of each process group per 1,000 items. Every item is journaled (one journal row each), as in
production; BATCH_CHUNK_SIZE and BATCH_CONCURRENCY keep their defaults unless set in the environment.

Target (issue 5): ≥ 500 items/s on 2 cores against the sandbox provider.

Run alone: ``make bench BENCH_ARGS=batches`` (``python -m benchmarks batches``); about a minute.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

import httpx

from benchmarks.bench_gateway import _access_token, pivot_queries
from benchmarks.support import (
    BASE_DIR,
    BIN,
    CpuMeter,
    bench_database_url,
    free_port,
    gunicorn,
    pids,
    platform_env,
    serving,
)

ITEMS = int(os.environ.get("BENCH_BATCHES_ITEMS", "20000"))
ROUNDS = int(os.environ.get("BENCH_BATCHES_ROUNDS", "2"))
WORKER_CONCURRENCY = os.environ.get("BENCH_BATCHES_WORKER_CONCURRENCY", "2")
API = "caf-quotient-familial"


def _body(count: int) -> bytes:
    people = cycle(pivot_queries())
    lines = (
        json.dumps({**person, "case_id": f"dossier-{n}"}) for n, person in enumerate(islice(people, count))
    )
    return ("\n".join(lines) + "\n").encode()


def _worker(environment: dict, log) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603
        [str(BIN / "celery"), "-A", "platform_core", "worker", "--queues", "batches", "--concurrency",
         WORKER_CONCURRENCY, "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
         "--hostname", f"bench-batches-{os.getpid()}@%h"],
        cwd=BASE_DIR, env=environment, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _round(maillage: str, token: str, credentials: dict, body: bytes, meter: CpuMeter) -> dict:
    query = {"api": API, "path": "v1/quotient-familial", "recipient": credentials["recipient"],
             "purpose": credentials["purpose"]}  # fmt: skip
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson",
               "Idempotency-Key": os.urandom(8).hex()}  # fmt: skip
    before = meter.sample()
    started = time.monotonic()
    answer = httpx.post(
        f"{maillage}/api/v1/batches/", params=query, content=body, headers=headers, timeout=300
    )
    if answer.status_code != 202:
        raise RuntimeError(f"submission refused: {answer.status_code} {answer.text[:500]}")
    submitted = time.monotonic()
    status_url = answer.json()["links"]["status"]
    while True:
        answer = httpx.get(status_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if answer.status_code == 401:  # access tokens live 60 s: ask for another, as a client does
            token = _access_token(maillage, credentials)
            continue
        answer.raise_for_status()
        state = answer.json()
        if state["status"] in ("completed", "failed"):
            break
        if time.monotonic() - started > 900:
            raise RuntimeError(f"the batch did not finish: {state}")
        time.sleep(0.2)
    ended = time.monotonic()
    wall, cpu = meter.used(before, meter.sample())
    from datetime import datetime

    working = datetime.fromisoformat(state["finished_at"]) - datetime.fromisoformat(state["started_at"])
    return {
        "state": state,
        "submit_s": submitted - started,
        "work_s": working.total_seconds(),
        "end_to_end_s": ended - started,
        "cpu": cpu,
        "wall": wall,
    }


def _ours(cmdline: list[str]) -> bool:
    return any(part.startswith("bench-batches-") for part in cmdline)


def run() -> None:
    database_url = bench_database_url("batches")
    maillage_port, providers_port = free_port(), free_port()
    maillage, providers = f"http://127.0.0.1:{maillage_port}", f"http://127.0.0.1:{providers_port}"
    var_dir = tempfile.TemporaryDirectory(prefix="bench-batches-")
    token_file = Path(var_dir.name) / "providers_token"
    token_file.write_text(os.urandom(24).hex())
    token_file.chmod(0o600)
    environment = platform_env(
        database_url,
        VAR_DIR=var_dir.name,
        PUBLIC_URL=maillage,
        SECURE_COOKIES="0",
        SANDBOX_PROVIDERS_URL=providers,
        SANDBOX_PROVIDERS_TOKEN_FILE=str(token_file),
    )
    environment.pop("SANDBOX_IDP_PUBLIC_URL", None)
    environment.pop("SANDBOX_ACTIVITY", None)
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "prepare_platform"], cwd=BASE_DIR, env=environment, check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    credentials = json.loads((Path(var_dir.name) / "sandbox" / "exchange_credentials.json").read_text())[API]
    providers_environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SANDBOX_PROVIDERS_URL": providers,
        "SANDBOX_PROVIDERS_TOKEN_FILE": str(token_file),
    }
    body = _body(ITEMS)
    worker = None
    results = []
    log_path = Path(var_dir.name) / "worker.log"
    try:
        with (
            gunicorn("exchange.sandbox_providers.wsgi:application", providers_environment, "/healthz",
                     threads=8, port=providers_port),
            gunicorn("platform_core.wsgi", environment, "/api/problems/", workers=1, threads=4,
                     port=maillage_port),
            log_path.open("wb") as log,
        ):  # fmt: skip
            subprocess.run(  # noqa: S603 - messages of an earlier, interrupted run
                [str(BIN / "celery"), "-A", "platform_core", "purge", "-f", "-Q", "batches"],
                cwd=BASE_DIR, env=environment, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            worker = _worker(environment, log)
            worker_pid = worker.pid
            meter = CpuMeter({
                "Celery worker": lambda: [worker_pid, *pids(lambda _n, cmd: _ours(cmd))],
                "Maillage web": lambda: serving(maillage_port),
                "providers": lambda: serving(providers_port),
                "PostgreSQL": lambda: pids(lambda name, _: name in {"postgres", "postmaster"}),
                "Redis": lambda: pids(lambda name, _: name.startswith("redis-server")),
            })  # fmt: skip
            token = _access_token(maillage, credentials)
            _round(maillage, token, credentials, _body(1000), meter)  # warm-up: imports, pools, caches
            for _ in range(ROUNDS):
                token = _access_token(maillage, credentials)  # tokens live 60 s
                results.append(_round(maillage, token, credentials, body, meter))
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        if worker is None or any(r["state"]["done"] != ITEMS for r in results):
            print(log_path.read_text(errors="replace")[-3000:] if log_path.exists() else "")
        var_dir.cleanup()
    _report(results)


def _report(results: list[dict]) -> None:
    chunk = os.environ.get("BATCH_CHUNK_SIZE", "250 (default)")
    concurrency = os.environ.get("BATCH_CONCURRENCY", "16 (default)")
    print(f"{ITEMS:,} items per batch (JSON Lines), {ROUNDS} rounds; Celery worker: prefork × "
          f"{WORKER_CONCURRENCY} on the batches queue; BATCH_CHUNK_SIZE={chunk}, "
          f"BATCH_CONCURRENCY={concurrency}\n")  # fmt: skip
    print("| round | submission (s) | processing (s) | items/s (processing) | items/s (end to end) | done "
          "| failed |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for number, r in enumerate(results, 1):
        state = r["state"]
        print(f"| {number} | {r['submit_s']:.2f} | {r['work_s']:.2f} | {ITEMS / r['work_s']:.0f} | "
              f"{ITEMS / r['end_to_end_s']:.0f} | {state['done']} | {state['failed']} |")  # fmt: skip
    groups = list(results[0]["cpu"])
    print("\n| CPU s per 1,000 items | " + " | ".join(groups) + " |")
    print("| --- |" + " ---: |" * len(groups))
    for number, r in enumerate(results, 1):
        print(f"| round {number} | " + " | ".join(f"{r['cpu'][g] / ITEMS * 1000:.2f}" for g in groups) + " |")
    best = max(ITEMS / r["work_s"] for r in results)
    print(f"\nbest: {best:.0f} items/s (target ≥ 500: {'met' if best >= 500 else 'missed'})")
