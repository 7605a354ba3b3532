"""The exchange gateway vs calling the sandbox provider directly: same upstream, same clients, same run.

Maillage runs as `make run` runs it: gunicorn with platform_core.gunicorn_conf (its access log
included), gthread, BENCH_GATEWAY_WORKERS processes of BENCH_GATEWAY_THREADS threads (default 2 × 16, as
WEB_THREADS), DEBUG=0, on a database of its own (maillage_bench_gateway), Redis as cache when REDIS_URL
is set. The sandbox data providers (exchange/sandbox_providers) run as runner.py starts them: their own
gunicorn, one gthread worker with 8 threads. `manage.py prepare_platform` loads the sandbox data and
load_sandbox_exchange registers the three APIs with a validated habilitation of the sandbox commune
(Ville de Lyon), writing its client secrets to var/sandbox/exchange_credentials.json under the run's own
VAR_DIR (a temporary directory); before each gateway round the benchmark gets a new access token for the
CAF API with ``POST /api/v1/oauth/token`` (client_credentials, HTTP Basic), as a consumer does (tokens
live 60 s; a round takes less).

Server environment: production settings on loopback (support.platform_env: SECURE_SSL_REDIRECT=0,
ALLOWED_HOSTS=127.0.0.1, LOG_LEVEL=WARNING); the quotas the single benchmark client and address would
exhaust are raised through their variables, RATE_LIMIT_GATEWAY_{CLIENT,IP}=1000000/min (default
1200/min per token): they are still counted, one Redis round trip per counter and call.

Both sides ask for the same records: the family quotient of five sandbox citizens, in turn, each call
designating the person by the pivot identity query string (nomNaissance, prenoms, dateNaissance, sexe,
codeLieuNaissance, codePaysNaissance):

- direct: ``GET <providers>/caf/v1/quotient-familial?<pivot>`` with the providers' bearer token;
- gateway: ``GET <maillage>/api/v1/gateway/caf-quotient-familial/v1/quotient-familial?<pivot>
  &recipient=<SIRET>&purpose=<habilitation id>`` with the access token. Maillage checks the token and
  its credential, the API, the quota, recipient and purpose, forwards to the same provider process
  (pooled connections), masks the answer to the granted fields and journals the call (one row in
  protection_journalentry per call); every answer is checked to be 200;
- floor: ``GET <maillage>/api/problems/not-found``, a problem type's description: a small JSON answer
  from memory through the same gunicorn, WSGI and middleware stack, with no database, cache or
  upstream. What any API view of this server costs at least; every answer is checked to be 200.

1. Throughput: BENCH_GATEWAY_CONCURRENCY (8) httpx clients (one thread each, keep-alive) in
   BENCH_GATEWAY_PROCESSES (2) processes. BENCH_GATEWAY_ROUNDS (5) rounds; each round is PER_ROUND
   calls direct, then PER_ROUND through the gateway, then PER_ROUND to the floor (interleaved, so that
   the sides see the same machine state). Throughput of a side = its calls / the wall time of its
   round; the ratio compares the means.
   CPU seconds of each process group (Maillage, the providers, PostgreSQL, Redis, the load generator,
   everything else) over each round say where the time goes, per call. Their sum without "other
   processes" is what one call costs the machine, whatever else runs on it: the "CPU-bound ratio"
   (direct's CPU per call / the gateway's) is the throughput ratio the 2 cores would give if they ran
   nothing else, a figure less sensitive to other work on the machine than the measured ratio.
2. Latency: the same interleaved rounds with one client making sequential calls (LATENCY_PER_ROUND per
   side and round): the p50 a single consumer sees without queueing behind others. "Added p50" is the
   gateway's p50 minus the direct one, from this phase (on 2 cores, the loaded phase's latencies are
   mostly queueing: concurrency / throughput; they are reported too).

3. A provider that takes its time: the API's upstream moved (through the catalogue's service) to a second
   providers process whose every answer takes BENCH_GATEWAY_UPSTREAM_MS (50) ms, as a real provider's
   processing does; the same clients as phase 1, BENCH_GATEWAY_SLOW_PER_ROUND (600) calls per side and
   round, direct and gateway interleaved. Phase 1's ratio measures the gateway's CPU against a provider
   that answers from a dictionary in a fraction of a millisecond; this one, whether the gateway holds
   back consumers of a provider that works like a real one.

Target (issue 5): throughput ratio ≥ 0.6 and added p50 ≤ 3 ms.

Worker protocol: ``python -m benchmarks.bench_gateway client THREADS`` reads ``direct N``, ``gateway N``
or ``floor N`` on stdin, opens its clients, prints "ready", waits for "go", makes N calls shared by its
threads and prints one JSON line (support.command_all).

Run alone: ``make bench BENCH_ARGS=gateway`` (``python -m benchmarks gateway``); about 3 minutes.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlencode

import httpx

from benchmarks.support import (
    BASE_DIR,
    CpuMeter,
    bench_database_url,
    command_all,
    free_port,
    gunicorn,
    percentile,
    pids,
    platform_env,
    run_and_report,
    serving,
)

PER_ROUND = int(os.environ.get("BENCH_GATEWAY_PER_ROUND", "2000"))  # calls per side and round
# Phase 3: a provider whose answers take UPSTREAM_MS, as real ones' do (tens to hundreds of ms).
UPSTREAM_MS = int(os.environ.get("BENCH_GATEWAY_UPSTREAM_MS", "50"))
SLOW_PER_ROUND = int(os.environ.get("BENCH_GATEWAY_SLOW_PER_ROUND", "600"))
LATENCY_PER_ROUND = int(os.environ.get("BENCH_GATEWAY_LATENCY_PER_ROUND", "300"))
API = "caf-quotient-familial"
# Sandbox citizens the CAF provider has a record for (exchange/sandbox_providers/data.py).
PEOPLE = ("angela", "jean-pierre", "nadia", "tomasz", "aminata")
SIDES = {"direct": "direct to the provider", "gateway": "through the gateway", "floor": "Maillage's floor"}
SLOW_SIDES = {"direct-slow": "direct to the provider", "gateway-slow": "through the gateway"}
MAILLAGE, PROVIDERS, POSTGRES, REDIS, CLIENTS = (
    "Maillage (gunicorn)",
    "sandbox providers (gunicorn)",
    "PostgreSQL (this database's backends)",
    "Redis",
    "load generator (httpx)",
)


def settings_from_env() -> dict:
    return {
        "concurrency": int(os.environ.get("BENCH_GATEWAY_CONCURRENCY", "8")),
        "processes": int(os.environ.get("BENCH_GATEWAY_PROCESSES", "2")),
        "workers": int(os.environ.get("BENCH_GATEWAY_WORKERS", "2")),
        "threads": int(os.environ.get("BENCH_GATEWAY_THREADS", "16")),  # as make run (WEB_THREADS)
        "rounds": int(os.environ.get("BENCH_GATEWAY_ROUNDS", "5")),
    }


def pivot_queries() -> list[dict]:
    from exchange.sandbox_providers.data import RECORDS, find_person, pivot_key
    from identity.sandbox_idp.accounts import CITIZENS, find

    queries = []
    for login in PEOPLE:
        claims = find(CITIZENS, login).claims
        query = {
            "nomNaissance": claims["family_name"],
            "prenoms": claims["given_name"],
            "dateNaissance": claims["birthdate"],
            "sexe": {"female": "F", "male": "M"}[claims["gender"]],
            "codeLieuNaissance": claims["birthplace"],
            "codePaysNaissance": claims["birthcountry"],
        }
        if find_person(pivot_key(*query.values())) not in RECORDS["caf"]:
            raise RuntimeError(f"the CAF sandbox has no record of {login}")
        queries.append(query)
    return queries


# --- client processes ----------------------------------------------------------------------------------


def _client_worker(threads: int) -> None:
    """The same code for every side: only the URLs, the bearer token and the expected status differ."""
    target = json.loads(os.environ["BENCH_GATEWAY_TARGET"])
    sides = {
        side: ([f"{spec['url']}?{urlencode(query)}" for query in spec["queries"]],
               {"Authorization": f"Bearer {spec['token']}"}, spec.get("status", 200))
        for side, spec in target.items()
    }  # fmt: skip
    clients: list[httpx.Client] = []

    def loop(n: int, urls: list[str], headers: dict, expected: int, count: int, out: list) -> None:
        client = clients[n]
        for i in range(count):
            url = urls[(n + i) % len(urls)]
            begun = time.perf_counter()
            try:
                status = client.get(url, headers=headers).status_code
            except httpx.HTTPError as error:
                out.append((time.perf_counter() - begun, type(error).__name__))
                continue
            out.append((time.perf_counter() - begun, None if status == expected else str(status)))

    for line in sys.stdin:
        side, total, *token = line.split()
        urls, headers, expected = sides[side]
        if token:  # a new access token for this round
            headers = {"Authorization": f"Bearer {token[0]}"}
        total = int(total)
        per_thread = [total // threads + (n < total % threads) for n in range(threads)]
        # Fresh connections for each round: the servers close those left idle in between (keep-alive).
        for client in clients:
            client.close()
        clients[:] = [httpx.Client(timeout=30) for _ in range(threads)]
        outs: list[list] = [[] for _ in range(threads)]
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.monotonic()
        targets = [(loop, (n, urls, headers, expected, per_thread[n], outs[n])) for n in range(threads)]
        run_and_report(started, targets, outs)


# --- the parent ----------------------------------------------------------------------------------------

_PROCESSES: list[subprocess.Popen] = []


def _start(environment: dict, threads: int) -> subprocess.Popen:
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "benchmarks.bench_gateway", "client", str(threads)],
        cwd=BASE_DIR, env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    _PROCESSES.append(process)
    return process


def _access_token(maillage: str, credentials: dict) -> str:
    answer = httpx.post(
        f"{maillage}/api/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials["client_id"], credentials["client_secret"]),
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["access_token"]


def _round(clients: list[subprocess.Popen], side: str, count: int, meter: CpuMeter, token=None) -> dict:
    """One round of one side; the gateway's with a new access token (they live 60 s), as a consumer
    asks for one before the last one expires."""
    samples = []
    command = f"{side} {count // len(clients)}" + (f" {token()}" if side.startswith("gateway") else "")
    results = command_all(clients, command, lambda: samples.append(meter.sample()))
    samples.append(meter.sample())
    durations = [duration for result in results for duration, error in result["results"] if error is None]
    errors = Counter(error for result in results for _duration, error in result["results"] if error)
    elapsed = max(result["elapsed"] for result in results)
    return {"rate": len(durations) / elapsed, "durations": durations, "errors": errors,
            "calls": len(durations) + sum(errors.values()), "cpu": CpuMeter.used(*samples)[1]}  # fmt: skip


def _phase(clients, sides, warm_up: int, per_round: int, rounds: int, meter: CpuMeter, token) -> dict:
    """Interleaved rounds of ``sides`` ({side: [round, ...]}), then the clients are done."""
    if warm_up:
        for side in sides:
            _round(clients, side, warm_up, meter, token)
    figures = {side: [] for side in sides}
    for _ in range(rounds):
        for side in figures:
            figures[side].append(_round(clients, side, per_round, meter, token))
    for client in clients:
        client.stdin.close()
        client.wait(timeout=30)
    return figures


def run() -> None:
    config = settings_from_env()
    threads_per_process = max(1, config["concurrency"] // config["processes"])
    database_url = bench_database_url("gateway")
    database = unquote(database_url.rpartition("/")[2])
    maillage_port, providers_port, slow_port = free_port(), free_port(), free_port()
    maillage, providers = f"http://127.0.0.1:{maillage_port}", f"http://127.0.0.1:{providers_port}"
    var_dir = tempfile.TemporaryDirectory(prefix="bench-gateway-")
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
        RATE_LIMIT_GATEWAY_CLIENT="1000000/min",
        RATE_LIMIT_GATEWAY_IP="1000000/min",
    )
    environment.pop("SANDBOX_IDP_PUBLIC_URL", None)  # no identity provider in this benchmark
    environment.pop("SANDBOX_ACTIVITY", None)  # no demo activity competing with the measure
    # Migrations, static files, the sandbox, the APIs and the commune's credentials (as `make run`).
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
    # As `make run`: its gunicorn configuration, access log included (written to /dev/null here).
    maillage_command = ["--config", "python:platform_core.gunicorn_conf"]
    try:
        with (
            gunicorn("exchange.sandbox_providers.wsgi:application", providers_environment, "/healthz",
                     threads=8, port=providers_port),
            gunicorn("exchange.sandbox_providers.wsgi:application",
                     {**providers_environment, "SANDBOX_PROVIDERS_LATENCY_MS": str(UPSTREAM_MS)}, "/healthz",
                     threads=8, port=slow_port),
            gunicorn("platform_core.wsgi", environment, "/api/problems/", workers=config["workers"],
                     threads=config["threads"], port=maillage_port, options=maillage_command,
                     stdout=subprocess.DEVNULL),
        ):  # fmt: skip
            queries = pivot_queries()
            context = {"recipient": credentials["recipient"], "purpose": credentials["purpose"]}
            target = {
                "direct": {
                    "url": f"{providers}/caf/v1/quotient-familial",
                    "queries": queries,
                    "token": token_file.read_text(),
                },
                "gateway": {
                    "url": f"{maillage}/api/v1/gateway/{API}/v1/quotient-familial",
                    "queries": [{**query, **context} for query in queries],
                    "token": "",  # one per round
                },
                # Maillage's floor: a problem type's description, a small JSON answer from memory through
                # the same gunicorn, WSGI and middleware stack; no database, no cache, no upstream.
                "floor": {"url": f"{maillage}/api/problems/not-found", "queries": [{}], "token": "none"},
                # Phase 3: the same calls, the API's upstream being the provider that takes UPSTREAM_MS.
                "direct-slow": {
                    "url": f"http://127.0.0.1:{slow_port}/caf/v1/quotient-familial",
                    "queries": queries,
                    "token": token_file.read_text(),
                },
                "gateway-slow": {
                    "url": f"{maillage}/api/v1/gateway/{API}/v1/quotient-familial",
                    "queries": [{**query, **context} for query in queries],
                    "token": "",
                },
            }

            def token() -> str:
                return _access_token(maillage, credentials)

            client_environment = {**environment, "BENCH_GATEWAY_TARGET": json.dumps(target)}
            clients = [_start(client_environment, threads_per_process) for _ in range(config["processes"])]
            client_pids = [client.pid for client in clients]
            meter = CpuMeter({
                MAILLAGE: lambda: serving(maillage_port),
                PROVIDERS: lambda: serving(providers_port),
                # Only the backends of this database: the server may serve others (tests running).
                POSTGRES: lambda: pids(lambda name, cmdline: name in {"postgres", "postmaster"}
                                       and database in " ".join(cmdline)),  # fmt: skip
                REDIS: lambda: pids(lambda name, _: name.startswith("redis-server")),
                CLIENTS: lambda: client_pids,
            })  # fmt: skip
            # warm-up: connections, imports, caches
            loaded = _phase(clients, SIDES, 200, PER_ROUND, config["rounds"], meter, token)
            single = _start(client_environment, 1)
            client_pids.append(single.pid)
            unloaded = _phase([single], SIDES, 0, LATENCY_PER_ROUND, config["rounds"], meter, token)
            # Phase 3: the API moved to the provider that takes UPSTREAM_MS (as an agent would, through
            # the catalogue's service; the gateway's token cache sees the change on the next call).
            subprocess.run(  # noqa: S603
                [sys.executable, "manage.py", "shell", "--no-imports", "-c", _MOVE_API.format(
                    slug=API, url=f"http://127.0.0.1:{slow_port}/caf")],
                cwd=BASE_DIR, env=environment, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            clients = [_start(client_environment, threads_per_process) for _ in range(config["processes"])]
            client_pids[:] = [client.pid for client in clients]
            slow = _phase(clients, SLOW_SIDES, 80, SLOW_PER_ROUND, config["rounds"], meter, token)
    finally:
        for process in _PROCESSES:
            if process.poll() is None:
                process.kill()
            process.wait()
        var_dir.cleanup()
    _report(config, threads_per_process, loaded, unloaded, bool(environment.get("REDIS_URL")))
    _report_slow(threads_per_process * config["processes"], slow)


_MOVE_API = """
from django.db import transaction
from exchange.services import api_product_register
with transaction.atomic():
    api_product_register(slug={slug!r}, scopes={{}}, upstream_base_url={url!r})
"""


def _side_figures(rounds: list[dict]) -> dict:
    durations = [d for r in rounds for d in r["durations"]] or [float("nan")]
    calls = max(1, sum(r["calls"] for r in rounds))
    return {
        "per_round": ", ".join(f"{r['rate']:.0f}" for r in rounds),
        "rate": statistics.mean(r["rate"] for r in rounds),
        "p50": statistics.median(durations) * 1000,
        "p95": percentile(durations, 0.95) * 1000,
        "errors": sum((r["errors"] for r in rounds), Counter()),
        "cpu": {group: sum(r["cpu"][group] for r in rounds) / calls * 1000 for group in rounds[0]["cpu"]},
    }


OTHERS = "other processes"


def _report(config, threads_per_process, loaded, unloaded, redis) -> None:
    concurrency = threads_per_process * config["processes"]
    print(f"Maillage: gunicorn gthread {config['workers']} workers × {config['threads']} threads, DEBUG=0, "
          f"cache {'Redis' if redis else 'PostgreSQL (no REDIS_URL)'}; sandbox providers: gunicorn 1 × 8 "
          f"threads; {config['rounds']} interleaved rounds per phase\n")  # fmt: skip
    figures = {}
    for phase, rounds, calls in (
        (f"{concurrency} clients in {config['processes']} processes", loaded, PER_ROUND),
        ("1 client, sequential", unloaded, LATENCY_PER_ROUND),
    ):
        figures[phase] = {side: _side_figures(rounds[side]) for side in rounds}
        print(f"### {phase}, {calls} calls per side and round\n")
        print("| side | calls/s (per round) | calls/s | p50 (ms) | p95 (ms) | errors |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for side, name in SIDES.items():
            f = figures[phase][side]
            print(f"| {name} | {f['per_round']} | {f['rate']:.0f} | {f['p50']:.2f} | {f['p95']:.2f} | "
                  f"{sum(f['errors'].values())} |")  # fmt: skip
        direct, gateway, floor = (figures[phase][side] for side in SIDES)
        print(f"\nratio gateway/direct: {gateway['rate'] / direct['rate']:.2f}× the throughput; "
              f"added p50 {gateway['p50'] - direct['p50']:.2f} ms; floor/direct: "
              f"{floor['rate'] / direct['rate']:.2f}×\n")  # fmt: skip
        print("| CPU ms per call | " + " | ".join(direct["cpu"]) + " |")
        print("| --- |" + " ---: |" * len(direct["cpu"]))
        for side in SIDES:
            print(
                f"| {side} | " + " | ".join(f"{v:.2f}" for v in figures[phase][side]["cpu"].values()) + " |"
            )
        # What each call costs the processes that serve it, whatever else the machine runs.
        serving_cpu = {
            side: sum(v for k, v in figures[phase][side]["cpu"].items() if k != OTHERS) for side in SIDES
        }
        print(
            f"\nCPU per call of the processes serving it (all but {OTHERS!r}): "
            + ", ".join(f"{side} {cpu:.2f} ms" for side, cpu in serving_cpu.items())
            + f"; CPU-bound ratio gateway/direct {serving_cpu['direct'] / serving_cpu['gateway']:.2f}\n"
        )
        for side in SIDES:
            for key, count in figures[phase][side]["errors"].most_common():
                print(f"error: {side} {key} × {count}")
    loaded_phase, unloaded_phase = figures.values()
    ratio = loaded_phase["gateway"]["rate"] / loaded_phase["direct"]["rate"]
    added = unloaded_phase["gateway"]["p50"] - unloaded_phase["direct"]["p50"]
    print(f"target ratio ≥ 0.6 (under load): {ratio:.2f}, {'met' if ratio >= 0.6 else 'missed'}; "
          f"added p50 ≤ 3 ms (one client): {added:.2f} ms, {'met' if added <= 3 else 'missed'}")  # fmt: skip


def _report_slow(concurrency: int, slow: dict) -> None:
    figures = {side: _side_figures(rounds) for side, rounds in slow.items()}
    print(f"\n### {concurrency} clients, the provider taking {UPSTREAM_MS} ms per answer (as real ones do), "
          f"{SLOW_PER_ROUND} calls per side and round\n")  # fmt: skip
    print("| side | calls/s (per round) | calls/s | p50 (ms) | p95 (ms) | errors "
          "| Maillage's CPU per call (ms) |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for side, name in SLOW_SIDES.items():
        f = figures[side]
        print(f"| {name} | {f['per_round']} | {f['rate']:.0f} | {f['p50']:.2f} | {f['p95']:.2f} | "
              f"{sum(f['errors'].values())} | {f['cpu'][MAILLAGE]:.2f} |")  # fmt: skip
    direct, gateway = figures["direct-slow"], figures["gateway-slow"]
    ratio = gateway["rate"] / direct["rate"]
    print(f"\nratio gateway/direct with a {UPSTREAM_MS} ms provider: {ratio:.2f}× the throughput; "
          f"added p50 {gateway['p50'] - direct['p50']:.2f} ms")  # fmt: skip
    for side in SLOW_SIDES:
        for key, count in figures[side]["errors"].most_common():
            print(f"error: {side} {key} × {count}")


if __name__ == "__main__":
    _client_worker(int(sys.argv[2]))
