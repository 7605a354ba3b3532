"""journal.record() from 2 processes with the sealer running vs plain INSERTs; lag, verification, proofs.

Four measurements in one run, on a fresh benchmark database:

1. Writes: two writer processes (Django set up, own connection) call ``journal.record`` in a loop,
   ``BATCH`` records per ``transaction.atomic``, each record a realistic exchange call (string actor,
   organisation and contract ids, a ``pseudonym_for`` subject computed per record, a request id and a
   ~150-byte payload). Meanwhile a third process runs ``seal_pending()`` as beat would: a tick every
   ``SEAL_EVERY`` seconds (immediately again when a call took longer). Once a second the parent samples
   the sealing lag, max(now - occurred_at) over the committed entries above the last seal's
   last_entry_id.
2. The same two processes' worth of plain psycopg INSERTs of equivalent rows (same columns and values,
   one ``INSERT ... RETURNING id`` per row, ``BATCH`` rows per transaction), the sealer running too.
   The two sides alternate in rounds (record, plain, record, plain) of BENCH_JOURNAL_SECONDS / 2 each
   (default 120: each round sustains 60 s of writing) so machine noise and table growth hit both alike.
3. ``verify_journal(workers=2)`` over everything written (after sealing what is left).
4. Inclusion proofs: ``entry_proof_for_user`` (what the proof API view calls) for 200 random sealed
   entries, as an auditor (no visibility query). Then the journal is grown with one INSERT ... SELECT
   from generate_series to BENCH_JOURNAL_BULK_TO entries (default 10,000,000; 0 to skip), sealed, and
   verification and proofs are measured again at that size.

Worker protocol: ``python -m benchmarks.bench_journal ROLE`` prints "ready" once set up, reads the
duration in seconds on stdin, works, and prints one JSON line of results. The sealer stops on SIGTERM.
"""

import hashlib
import hmac
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import psycopg

from benchmarks.support import BASE_DIR, bench_database_url, manage, platform_env

BATCH = 100  # records per transaction, both sides
SEAL_EVERY = 2.0  # seconds, the beat schedule's interval
WRITERS = 2
ROUNDS = 2  # per side, alternating
PROOFS = 200
EVENT_TYPE = "bench.exchange_call"
PURPOSE = "Instruction d'une demande d'aide au logement"
ORGANISATION = "6f1c2a8e-4b7d-4e0a-9c3f-2d5b8a1e7c40"
CONTRACT = "0b9e7d3c-5a1f-4c8e-8d2b-7f6a3e9c1b52"

_LAG_SQL = """
SELECT coalesce(extract(epoch FROM clock_timestamp() - min(occurred_at)), 0)
  FROM protection_journalentry
 WHERE id > (SELECT coalesce(max(last_entry_id), 0) FROM protection_seal)
"""
_INSERT_SQL = """
INSERT INTO protection_journalentry (public_id, occurred_at, event_type, actor_type, actor_id, actor_label,
       organisation_id, subject, purpose, contract, outcome, request_id, data, deferred_disclosure_until)
VALUES (%s, %s, %s, 'system', 'bench-client', 'bench-client', %s, %s, %s, %s, 'success', %s, %s, NULL)
RETURNING id
"""
_BULK_SQL = """
INSERT INTO protection_journalentry (public_id, occurred_at, event_type, actor_type, actor_id, actor_label,
       organisation_id, subject, purpose, contract, outcome, request_id, data, deferred_disclosure_until)
SELECT gen_random_uuid(), now() - interval '1 day' + n * interval '1 millisecond', %(event)s, 'system',
       'bench-client', 'bench-client', %(organisation)s, 'p1:' || encode(sha256(n::text::bytea), 'hex'),
       %(purpose)s, %(contract)s, 'success', md5(n::text),
       format('{"duration_ms":%%s,"fields":["revenu_fiscal_reference","quotient_familial"],"person":%%s,'
              '"provider":"dgfip","status":200}', n %% 500, n %% 100000)::json, NULL
  FROM generate_series(1, %(count)s) AS n
"""


def payload(n: int) -> dict:
    return {
        "fields": ["revenu_fiscal_reference", "quotient_familial"],
        "provider": "dgfip",
        "status": 200,
        "duration_ms": n % 500,
        "person": n % 100_000,
    }


# --- worker processes ----------------------------------------------------------------------------------


def _setup_django():
    import django

    django.setup()
    from protection import events

    events.register(EVENT_TYPE, "Appel d'échange (banc d'essai)")


def _wait_for_go() -> float:
    print("ready", flush=True)
    return float(sys.stdin.readline())


def _write_loop(seconds: float, write_batch) -> dict:
    started = time.monotonic()
    deadline = started + seconds
    count = n = 0
    while time.monotonic() < deadline:
        write_batch(n)
        n += BATCH
        count += BATCH
    return {"records": count, "seconds": time.monotonic() - started}


def _record_worker() -> dict:
    _setup_django()
    from django.db import connection, transaction

    from protection import journal
    from protection.pseudonyms import pseudonym_for

    connection.ensure_connection()
    seed = os.getpid() * 1_000_000

    def write_batch(n):
        with transaction.atomic():
            for i in range(n, n + BATCH):
                journal.record(
                    EVENT_TYPE,
                    actor="bench-client",
                    subject=pseudonym_for(f"person-{(seed + i) % 100_000}"),
                    purpose=PURPOSE,
                    contract=CONTRACT,
                    organisation=ORGANISATION,
                    request_id=uuid.uuid4().hex,
                    data=payload(i),
                )

    return _write_loop(_wait_for_go(), write_batch)


def _plain_worker() -> dict:
    from psycopg.types.json import Json

    from protection.canonical import canonical_json

    key = b"bench-pseudonym-key-32-bytes-long"  # same HMAC cost as pseudonym_for
    seed = os.getpid() * 1_000_000
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:

        def write_batch(n):
            with conn.transaction(), conn.cursor() as cursor:
                for i in range(n, n + BATCH):
                    digest = hmac.new(key, f"person-{(seed + i) % 100_000}".encode(), hashlib.sha256)
                    cursor.execute(
                        _INSERT_SQL,
                        (uuid.uuid4(), datetime.now(UTC), EVENT_TYPE, ORGANISATION,
                         f"p1:{digest.hexdigest()}", PURPOSE, CONTRACT, uuid.uuid4().hex,
                         Json(payload(i), dumps=canonical_json)),
                    )  # fmt: skip
                    cursor.fetchone()

        return _write_loop(_wait_for_go(), write_batch)


def _seal_worker() -> dict:
    _setup_django()
    from protection.sealing import seal_pending

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    _wait_for_go()
    durations, entries, seals = [], 0, 0
    next_tick = time.monotonic()
    while not stopping:
        started = time.monotonic()
        new = seal_pending()
        durations.append(time.monotonic() - started)
        seals += len(new)
        entries += sum(seal.entry_count for seal in new)
        next_tick = max(next_tick + SEAL_EVERY, time.monotonic())
        while not stopping and time.monotonic() < next_tick:
            time.sleep(0.05)
    return {
        "calls": len(durations),
        "seals": seals,
        "entries": entries,
        "max_call_s": max(durations, default=0),
    }


def _check_worker() -> dict:
    """Seal what is left, verify everything, time PROOFS inclusion proofs of random sealed entries."""
    _setup_django()
    from django.contrib.auth import get_user_model

    from protection.models import JournalEntry, Seal
    from protection.sealing import seal_pending
    from protection.verification import entry_proof_for_user, verify_journal

    _wait_for_go()
    started, sealed = time.monotonic(), 0
    while new := seal_pending(max_batches=200):
        sealed += sum(seal.entry_count for seal in new)
    seal_seconds = time.monotonic() - started
    report = verify_journal(workers=2)
    assert report.ok, str(report.failure)  # noqa: S101 - a broken journal makes every figure meaningless
    auditor = get_user_model().objects.filter(username="bench-auditor").first()
    auditor = auditor or get_user_model().objects.create_superuser("bench-auditor", "auditor@example.org")
    last = Seal.objects.order_by("-batch_number").values_list("last_entry_id", flat=True).first()
    picked = random.Random(1).sample(range(1, last + 1), min(PROOFS + 10, last))  # noqa: S311
    public_ids = list(JournalEntry.objects.filter(id__in=picked).values_list("public_id", flat=True))
    random.Random(2).shuffle(public_ids)  # noqa: S311
    durations = []
    for position, public_id in enumerate(public_ids[: PROOFS + 10]):
        begun = time.perf_counter()
        entry_proof_for_user(auditor, public_id)
        if position >= 10:  # the first 10 warm the caches and are not counted
            durations.append(time.perf_counter() - begun)
    return {
        "journal_size": JournalEntry.objects.count(),
        "seals": Seal.objects.count(),
        "sealed_now": sealed,
        "seal_seconds": seal_seconds,
        "verified": report.entries,
        "verify_seconds": report.seconds,
        "proof_ms": [duration * 1000 for duration in durations],
    }


WORKERS = {"record": _record_worker, "plain": _plain_worker, "seal": _seal_worker, "check": _check_worker}


# --- the parent ----------------------------------------------------------------------------------------


def _start(role: str, environment: dict) -> subprocess.Popen:
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "benchmarks.bench_journal", role],
        cwd=BASE_DIR, env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    _PROCESSES.append(process)
    return process


def _go(processes: list[subprocess.Popen], seconds: float) -> None:
    for process in processes:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("a benchmark worker did not start")
    for process in processes:
        process.stdin.write(f"{seconds}\n")
        process.stdin.flush()


def _result(process: subprocess.Popen, timeout: float | None = None) -> dict:
    out, _ = process.communicate(timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"a benchmark worker failed ({process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


_PROCESSES: list[subprocess.Popen] = []


def _write_round(
    side: str, seconds: float, environment: dict, lag_connection
) -> tuple[list[dict], list[float]]:
    writers = [_start(side, environment) for _ in range(WRITERS)]
    _go(writers, seconds)
    lags = []
    next_sample = time.monotonic() + 1
    while any(writer.poll() is None for writer in writers):
        time.sleep(max(0.0, next_sample - time.monotonic()))
        next_sample += 1
        if any(writer.poll() is None for writer in writers):
            lags.append(lag_connection.execute(_LAG_SQL).fetchone()[0])
    return [_result(writer) for writer in writers], [float(lag) for lag in lags]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(len(ordered) * fraction)) - 1))]


def _check(environment: dict) -> dict:
    checker = _start("check", environment)
    _go([checker], 0)
    return _result(checker)


def run() -> None:
    seconds = float(os.environ.get("BENCH_JOURNAL_SECONDS", "120"))
    bulk_to = int(os.environ.get("BENCH_JOURNAL_BULK_TO", "10000000"))
    database_url = bench_database_url()
    environment = platform_env(database_url)
    manage(environment, "migrate", "--noinput", "--verbosity", "0")
    rates = {"record": [], "plain": []}
    lags = {"record": [], "plain": []}
    try:
        with psycopg.connect(database_url, autocommit=True) as lag_connection:
            sealer = _start("seal", environment)
            _go([sealer], 0)
            for side in ["record", "plain"] * ROUNDS:
                results, round_lags = _write_round(side, seconds / ROUNDS, environment, lag_connection)
                rates[side].append(sum(result["records"] / result["seconds"] for result in results))
                lags[side] += round_lags
            sealer.send_signal(signal.SIGTERM)
            sealing = _result(sealer, timeout=60)
        written = _check(environment)
        grown = None
        if bulk_to > written["journal_size"]:
            started = time.monotonic()
            with psycopg.connect(database_url, autocommit=True) as connection:
                connection.execute(
                    _BULK_SQL,
                    {"event": EVENT_TYPE, "organisation": ORGANISATION, "purpose": PURPOSE,
                     "contract": CONTRACT, "count": bulk_to - written["journal_size"]},
                )  # fmt: skip
                connection.execute("ANALYZE protection_journalentry")
            bulk_seconds = time.monotonic() - started
            grown = _check(environment)
    finally:
        for process in _PROCESSES:
            if process.poll() is None:
                process.kill()
            process.wait()

    record_rate, plain_rate = statistics.mean(rates["record"]), statistics.mean(rates["plain"])
    print(f"{WRITERS} writer processes, {BATCH} rows per transaction, {ROUNDS} alternating rounds of "
          f"{seconds / ROUNDS:.0f} s per side; seal_pending() every {SEAL_EVERY:.0f} s in a third process "
          f"({sealing['calls']} calls, {sealing['seals']} seals, "
          f"longest call {sealing['max_call_s']:.2f} s)\n")  # fmt: skip
    print("| side | events/s (per round) | events/s | sealing lag max (s) | sealing lag p95 (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for side, name, rate in (
        ("record", "journal.record()", record_rate),
        ("plain", "plain INSERT", plain_rate),
    ):
        per_round = ", ".join(f"{value:,.0f}" for value in rates[side])
        print(f"| {name} | {per_round} | {rate:,.0f} | {max(lags[side]):.2f} | "
              f"{_percentile(lags[side], 0.95):.2f} |")  # fmt: skip
    print(f"\nratio record/plain: {record_rate / plain_rate:.2f}× the throughput "
          f"({plain_rate / record_rate:.2f}× the cost per event)\n")  # fmt: skip
    print("| journal | entries | verify_journal(workers=2) entries/s | proof p50 (ms) | proof p95 (ms) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, figures in (("as written", written), ("grown with generate_series", grown)):
        if figures is None:
            continue
        proofs = figures["proof_ms"]
        print(f"| {name} | {figures['journal_size']:,} ({figures['seals']} seals) | "
              f"{figures['verified'] / figures['verify_seconds']:,.0f} | {statistics.median(proofs):.1f} | "
              f"{_percentile(proofs, 0.95):.1f} |")  # fmt: skip
    if grown:
        print(f"\ngrowth: {grown['journal_size'] - written['journal_size']:,} rows inserted in "
              f"{bulk_seconds:.0f} s, sealed in {grown['seal_seconds']:.0f} s "
              f"({grown['sealed_now'] / grown['seal_seconds']:,.0f} entries/s)")  # fmt: skip
    print(
        f"proofs: {len(written['proof_ms'])} random sealed entries per size (after 10 unmeasured), "
        "entry_proof_for_user as an auditor"
    )


if __name__ == "__main__":
    print(json.dumps(WORKERS[sys.argv[1]]()), flush=True)
