"""Open data: incremental aggregation of the journal vs a plain COUNT/GROUP BY; the statistics' server time.

On a fresh benchmark database:

1. BENCH_OPENDATA_ENTRIES journal entries (default 10,000,000) written by one INSERT … SELECT from
   generate_series, as the journal's own INSERT would write them (every column, canonical JSON payloads,
   the table's constraints and indexes), over the past 365 days, in id order: 55 % service sign-ins,
   27 % gateway calls (one in ten a batch item, 3 % refused), 1 % habilitation transitions, the rest
   events that are not statistics; from 400 organisations of every département (3 identity
   providers, 60 services, 12 APIs). Not sealed (sealing is bench_journal's subject).
2. In the same run, alternating: a plain ``SELECT day, event_type, organisation_id, count(*) … GROUP BY``
   over the same rows (what any aggregation has to read), and opendata's incremental aggregation
   (``aggregate_pending`` in chunks of 1,000,000 ids, as the beat task runs it: metric mapping, JSON
   payload fields, organisation join, upsert, high-water mark); then ``rebuild`` of the whole year.
3. Server time of the statistics: Django's test client in one process (middleware, view, selectors,
   suppression, JSON/CSV/HTML rendering; no network), for the API's typical queries and the
   /statistiques page, 10 warm-up then BENCH_OPENDATA_REQUESTS timed requests each: "cached", the
   tables coming from the cache (opendata/selectors.py), as every request but the first after an
   aggregation run that counted something; then as many "first after a new version", each preceded by
   a new statistics version (as such a run gives): every table computed from the database.

Worker protocol: ``python -m benchmarks.bench_opendata serve`` (Django set up on the benchmark database)
prints one JSON line of results.
"""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import psycopg

from benchmarks.support import BASE_DIR, bench_database_url, manage, percentile, platform_env

ORGANISATIONS = 400
CHUNK = 1_000_000

_ORGANISATIONS_SQL = """
INSERT INTO platform_core_organisation (public_id, name, siret, kind, commune_code, departement_code,
       region_code, created_at, updated_at)
SELECT gen_random_uuid(), 'Organisation ' || n, lpad((30000000000000 + n)::text, 14, '0'),
       (ARRAY['commune', 'commune', 'commune', 'epci', 'departement', 'region', 'state_operator',
              'ministry'])[1 + n %% 8],
       '', (%(departements)s::text[])[1 + n %% array_length(%(departements)s::text[], 1)],
       (%(regions)s::text[])[1 + n %% array_length(%(regions)s::text[], 1)], now(), now()
  FROM generate_series(1, %(count)s) AS n
"""
# Entry n: its organisation o = n % 400, spread over the year in id order.
_ENTRIES_SQL = """
INSERT INTO protection_journalentry (public_id, occurred_at, event_type, actor_type, actor_id, actor_label,
       organisation_id, subject, purpose, contract, outcome, request_id, data, deferred_disclosure_until)
SELECT gen_random_uuid(), %(start)s::timestamptz + (n::float8 / %(count)s) * interval '365 days',
       CASE WHEN r < 55 THEN 'identity.fs_signed_in' WHEN r < 82 THEN 'exchange.gateway_call'
            WHEN r < 83 THEN 'exchange.habilitation_transitioned' ELSE 'identity.token_issued' END,
       'system', '', '', orgs.ids[1 + n %% %(organisations)s], '', '', '',
       CASE WHEN r BETWEEN 55 AND 57 THEN 'failure' ELSE 'success' END, md5(n::text),
       (CASE WHEN r < 55 THEN format('{"acr":"eidas1","fi":"fi-%%s","fs":"fs-%%s"}', n %% 3, n %% 60)
             WHEN r < 82 AND n %% 10 = 0 THEN format('{"api":"api-%%s","batch":"b-%%s","status":200}',
                                                     n %% 12, n / 1000)
             WHEN r < 82 THEN format('{"api":"api-%%s","latency_ms":%%s,"status":200}', n %% 12, n %% 300)
             WHEN r < 83 THEN format('{"api":"api-%%s","target":"%%s"}', n %% 12,
                                     CASE WHEN n %% 2 = 0 THEN 'validated' ELSE 'submitted' END)
             ELSE '{"fs":"fs-1"}' END)::json,
       NULL
  FROM (SELECT array_agg(public_id::text ORDER BY id) AS ids FROM platform_core_organisation) AS orgs,
       LATERAL (SELECT n, (n * 7919) %% 100 AS r
                  FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n) AS g
"""
_PLAIN_SQL = """
SELECT count(*), sum(n) FROM (
    SELECT (occurred_at AT TIME ZONE 'Europe/Paris')::date, event_type, organisation_id, count(*) AS n
      FROM protection_journalentry WHERE id > %s AND id <= %s
     GROUP BY 1, 2, 3) AS cells
"""


def queries(today) -> list[tuple[str, str]]:
    year_ago = (today - timedelta(days=364)).isoformat()
    stats = "/api/v1/opendata/stats"
    return [
        ("total, 90 days", f"{stats}"),
        ("by metric", f"{stats}?group_by=metric"),
        ("sign-ins by département", f"{stats}?group_by=departement&metric=sign_ins"),
        ("by région, monthly, a year", f"{stats}?group_by=region&granularity=month&from={year_ago}"),
        ("by metric, weekly, a year", f"{stats}?group_by=metric&granularity=week&from={year_ago}"),
        ("daily, 90 days", f"{stats}?granularity=day"),
        ("by identity provider", f"{stats}?group_by=identity_provider&metric=sign_ins"),
        ("services ranking", f"{stats}?group_by=service&metric=sign_ins"),
        ("APIs ranking, CSV", f"{stats}.csv?group_by=api&metric=exchanges"),
        (
            "départements × month, a year",
            f"{stats}?group_by=departement&granularity=month&metric=sign_ins&from={year_ago}",
        ),
        ("one région by département", f"{stats}?group_by=departement&region=84"),
        ("key figures", "/api/v1/opendata/key-figures"),
        ("organisations", "/api/v1/opendata/organisations"),
        ("page /statistiques", "/statistiques"),
        ("page /statistiques, a région", "/statistiques?region=84"),
    ]


def _serve() -> dict:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from opendata import aggregation
    from opendata.models import DailyStat
    from opendata.selectors import today

    started, total = time.monotonic(), 0
    while True:
        run = aggregation.aggregate_pending(chunk=CHUNK, horizon=int(os.environ["BENCH_LAST_ID"]))
        total += run.entries
        if run.last_entry_id == run.after_id:
            break
    aggregate_seconds = time.monotonic() - started
    cells = DailyStat.objects.count()
    with connection.cursor() as cursor:  # as autovacuum would after such a load
        cursor.execute("VACUUM ANALYZE opendata_dailystat")
    started = time.monotonic()
    rebuilt = aggregation.rebuild(today() - timedelta(days=370), today())
    rebuild_seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE opendata_dailystat")

    client = Client(HTTP_HOST="127.0.0.1")
    count = int(os.environ.get("BENCH_OPENDATA_REQUESTS", "50"))

    def new_version() -> None:  # what an aggregation run that counted something does to the cache
        with connection.cursor() as cursor:
            cursor.execute("UPDATE opendata_statisticsversion SET token = gen_random_uuid()")

    def timed(url: str) -> float:
        begun = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - begun) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.content[:300]!r}")
        return elapsed

    timings, cold = {}, {}
    for name, url in queries(today()):
        for _ in range(10):
            timed(url)
        timings[name] = [timed(url) for _ in range(count)]
        cold[name] = []
        for _ in range(count):
            new_version()
            cold[name].append(timed(url))
    return {
        "aggregated": total,
        "aggregate_seconds": aggregate_seconds,
        "cells": cells,
        "rebuilt": rebuilt,
        "rebuild_seconds": rebuild_seconds,
        "timings": timings,
        "cold": cold,
    }


def run() -> None:
    entries = int(os.environ.get("BENCH_OPENDATA_ENTRIES", "10000000"))
    database_url = bench_database_url("opendata")
    environment = platform_env(database_url, RATE_LIMIT_OPENDATA_IP="1000000/min")
    manage(environment, "migrate", "--noinput", "--verbosity", "0")
    manage(environment, "collectstatic", "--noinput", "--verbosity", "0")  # the page needs the manifest

    from platform_core.geography import REGION_OF_DEPARTEMENT

    departements = sorted(REGION_OF_DEPARTEMENT)
    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            _ORGANISATIONS_SQL,
            {
                "departements": departements,
                "regions": [REGION_OF_DEPARTEMENT[code] for code in departements],
                "count": ORGANISATIONS,
            },
        )
        start = datetime.now(tz=UTC) - timedelta(days=365)
        step = 1_000_000
        for first in range(1, entries + 1, step):
            connection.execute(
                _ENTRIES_SQL,
                {"start": start, "count": entries, "organisations": ORGANISATIONS, "first": first,
                 "last": min(entries, first + step - 1)},
            )  # fmt: skip
            print(f"  … {min(entries, first + step - 1):,} entries", file=sys.stderr, flush=True)
        connection.execute("VACUUM ANALYZE protection_journalentry")
        generate_seconds = time.monotonic() - started
        last_id = connection.execute("SELECT max(id) FROM protection_journalentry").fetchone()[0]

        def plain() -> float:
            begun = time.monotonic()
            for after in range(0, last_id, CHUNK):
                connection.execute(_PLAIN_SQL, [after, min(last_id, after + CHUNK)]).fetchone()
            return time.monotonic() - begun

        plain_before = plain()
        process = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "benchmarks.bench_opendata", "serve"],
            cwd=BASE_DIR, env={**environment, "BENCH_LAST_ID": str(last_id)},
            stdout=subprocess.PIPE, text=True, check=True,
        )  # fmt: skip
        served = json.loads(process.stdout.strip().splitlines()[-1])
        plain_after = plain()

    plain_seconds = (plain_before + plain_after) / 2
    aggregate_rate = served["aggregated"] and entries / served["aggregate_seconds"]
    print(
        f"{entries:,} journal entries generated in {generate_seconds:.0f} s; "
        f"{served['aggregated']:,} of them map to a statistic; {served['cells']:,} daily cells\n"
    )
    print("| over the same rows | seconds | journal entries/s |")
    print("| --- | ---: | ---: |")
    print(
        f"| plain SELECT … COUNT(*) GROUP BY day, type, organisation (mean of 2) | {plain_seconds:.1f} | "
        f"{entries / plain_seconds:,.0f} |"
    )
    print(
        f"| opendata incremental aggregation (chunks of {CHUNK:,} ids) | {served['aggregate_seconds']:.1f} | "
        f"{aggregate_rate:,.0f} |"
    )
    print(
        f"| rebuild_opendata of the year | {served['rebuild_seconds']:.1f} | "
        f"{entries / served['rebuild_seconds']:,.0f} |"
    )
    print(f"\nratio aggregation/plain: {served['aggregate_seconds'] / plain_seconds:.2f}× the time\n")
    print(
        "| server time (Django test client, in process) | cached: p50 (ms) | p95 (ms) "
        "| first after a new version: p50 (ms) | p95 (ms) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, durations in served["timings"].items():
        first = served["cold"][name]
        print(
            f"| {name} | {percentile(durations, 0.5):.1f} | {percentile(durations, 0.95):.1f} "
            f"| {percentile(first, 0.5):.1f} | {percentile(first, 0.95):.1f} |"
        )
    everything = [duration for durations in served["timings"].values() for duration in durations]
    first = [duration for durations in served["cold"].values() for duration in durations]
    print(
        f"| all of the above | {percentile(everything, 0.5):.1f} | {percentile(everything, 0.95):.1f} "
        f"| {percentile(first, 0.5):.1f} | {percentile(first, 0.95):.1f} |"
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        print(json.dumps(_serve()), flush=True)
