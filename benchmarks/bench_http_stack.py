"""Full HTTP stack (middleware, DRF, pagination, problem plumbing) vs a bare WSGI app, same query.

Both run under one gunicorn sync worker on loopback, requests interleaved in rounds so that machine
noise hits both sides alike; the ratio is the platform's per-request overhead.
"""

import httpx

from benchmarks.support import bench_database_url, gunicorn, manage, platform_env, summary, timed_requests

ROUNDS = 10
PER_ROUND = 100


def run() -> None:
    database_url = bench_database_url()
    environment = platform_env(database_url)
    manage(environment, "migrate", "--noinput", "--verbosity", "0")
    manage(environment, "shell", "--no-imports", "-c", SEED)
    stack, direct = [], []
    with (
        gunicorn("platform_core.wsgi", environment, "/api/v1/organisations/") as platform,
        gunicorn("benchmarks.baseline_wsgi:application", environment) as baseline,
    ):
        with httpx.Client(timeout=10) as client:
            timed_requests(client, f"{platform}/api/v1/organisations/", 20)  # warm-up
            timed_requests(client, f"{baseline}/", 20)
            for _ in range(ROUNDS):
                stack += timed_requests(client, f"{platform}/api/v1/organisations/", PER_ROUND)
                direct += timed_requests(client, f"{baseline}/", PER_ROUND)
    platform_figures, direct_figures = summary(stack), summary(direct)
    print("| side | p50 (ms) | p95 (ms) | req/s |")
    print("| --- | ---: | ---: | ---: |")
    for name, figures in (
        ("Maillage /api/v1/organisations/", platform_figures),
        ("bare WSGI", direct_figures),
    ):
        print(f"| {name} | {figures['p50_ms']:.2f} | {figures['p95_ms']:.2f} | {figures['rps']:.0f} |")
    print(f"\nratio p50 stack/direct: {platform_figures['p50_ms'] / direct_figures['p50_ms']:.2f}×, "
          f"p95: {platform_figures['p95_ms'] / direct_figures['p95_ms']:.2f}×")  # fmt: skip


SEED = """
from platform_core.services import organisation_create
from stdnum import luhn
from stdnum.fr import siret
for n in range(200):
    body = f"{n + 20_000_000:08d}"
    base = body + luhn.calc_check_digit(body) + "0001"
    number = next(base + d for d in "0123456789" if siret.is_valid(base + d))
    organisation_create(name=f"Commune {n:03d}", siret=number, kind="commune", commune_code="33063")
"""
