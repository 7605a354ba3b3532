"""Sign-in journeys through Maillage's OpenID provider; token and userinfo vs a bare view, same server.

Maillage runs under gunicorn (gthread: BENCH_IDENTITY_WORKERS processes of BENCH_IDENTITY_THREADS
threads, default 2 × 4, as `make run`) with DEBUG=0, on a database of its own (maillage_bench_identity),
the sandbox identity provider as its own gunicorn process (one worker, 8 threads: its state is in memory)
and, as under `make run`, the sandbox civil registry checking every citizen (CIVIL_REGISTRY_URL).
The cache is Redis when REDIS_URL is set (as in production), the database cache otherwise.

Server environment for the run; nothing else differs from the production settings: PUBLIC_URL is
the server's loopback address, SECURE_COOKIES=0 and SECURE_SSL_REDIRECT=0 (plain http on loopback, as
`make run`), BENCHMARK_VIEWS=1 (the bare view of benchmarks/urls.py), and the quotas the benchmark's
single address (127.0.0.1) and single client_id would exhaust are raised through their variables,
RATE_LIMIT_{SIGN_IN_IP,DEFAULT_IP,DEFAULT_CLIENT,OIDC_IP,OIDC_CLIENT}=1000000/min (support.platform_env;
the sign-in views' default 60/min per address would stop the run after 20 journeys). They are still
counted: one cache round trip per counter and limited request, as in production.

1. Journeys: BENCH_IDENTITY_CONCURRENCY (default 8) httpx clients, in BENCH_IDENTITY_PROCESSES (2)
   processes, each looping on full journeys, each journey a new person session (cookies cleared):
   GET /api/v2/authorize → FI choice page → POST /identite/fi/<slug>/ (CSRF token from the page) →
   the FI's account page → POST the account (``transaction`` + ``login``) → GET /identite/fi/callback
   (Maillage redeems the FI's code, checks its ID token, reads its userinfo, asks the registry, signs
   the person in) → the information page of a public service → POST decision=accept → the code at the
   service's redirect URI → POST /api/v2/token (client_secret_basic) → GET /api/v2/userinfo
   (application/jwt). Each client thread signs in as its own sandbox citizen (8 of them), so that two
   concurrent journeys do not wait on one person's row locks. After BENCH_IDENTITY_WARMUP seconds (5),
   journeys completed during BENCH_IDENTITY_SECONDS (40) are counted; p50/p95 of their duration;
   failed journeys are errors. CPU time of each process group over the window says where it went.
2. Token, userinfo and the bare view: ROUNDS rounds of PER_ROUND requests per side (token, userinfo,
   bare, in this order in each round), the same clients and concurrency. Codes are minted just before
   each token round (Grant + identity.models.Authorization rows, as the consent step writes them, for
   the citizens the journeys created; a code lives 30 s), userinfo uses the access tokens of the token
   round before it, the bare view is one SELECT and one INSERT (benchmarks/urls.py). Ratios of throughput,
   and the CPU each side costs the Maillage server and PostgreSQL per request (less sensitive to the
   rest of the machine than throughput). As in bench_gateway, PostgreSQL is this database's backends only
   (the server may run others' tests), and the "CPU-bound ratio" (the bare view's CPU per request / the
   side's, summed over every measured group: Maillage, PostgreSQL, Redis, the FI, the clients) is the
   throughput ratio the cores would give if they ran nothing else.

Worker protocol: ``python -m benchmarks.bench_identity client INDEX THREADS`` reads commands on stdin
(``journeys WARMUP SECONDS``, ``token N``, ``userinfo N``, ``bare N``), prepares, prints "ready",
waits for "go", works and prints one JSON line; ``seed`` creates the service and the FI.

Run alone: ``make bench BENCH_ARGS=identity`` (``python -m benchmarks identity``); about 2 minutes.
"""

import html
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from benchmarks.support import (
    BASE_DIR,
    CpuMeter,
    bench_database_url,
    command_all,
    free_port,
    gunicorn,
    manage,
    percentile,
    pids,
    platform_env,
    run_and_report,
    serving,
)

ROUNDS = int(os.environ.get("BENCH_IDENTITY_ROUNDS", "3"))
PER_ROUND = 600  # requests per side and round, shared by the clients (codes live 30 s: ≥ 20 tokens/s)
CLIENT_ID = "bench-mairie"
SECRET = "bench-secret-" + "x" * 32
REDIRECT = "https://mairie-bench.example.fr/callback"
FI_SLUG = "sandbox-usagers"
FI_CLIENT_ID, FI_SECRET = "maillage", "bench-fi-secret-" + "x" * 24
SCOPE = "openid profile birth"
MAILLAGE, POSTGRES = "Maillage (gunicorn)", "PostgreSQL (this database's backends)"
OTHERS = "other processes"
# The sandbox citizens the registry knows and the platform signs in (marcel is dead, inconnu unknown).
LOGINS = ("angela", "jean-pierre", "nadia", "tomasz", "aminata", "lea", "sophie", "eloise")

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# The FI's form of the choice page (the language switcher's form has a "next" field too).
_NEXT = re.compile(rf'action="/identite/fi/{FI_SLUG}/".*?name="next" value="([^"]*)"', re.S)
_TRANSACTION = re.compile(r'name="transaction" value="([^"]+)"')


def settings_from_env() -> dict:
    return {
        "concurrency": int(os.environ.get("BENCH_IDENTITY_CONCURRENCY", "8")),
        "processes": int(os.environ.get("BENCH_IDENTITY_PROCESSES", "2")),
        "workers": int(os.environ.get("BENCH_IDENTITY_WORKERS", "2")),
        "threads": int(os.environ.get("BENCH_IDENTITY_THREADS", "4")),
        "warmup": float(os.environ.get("BENCH_IDENTITY_WARMUP", "5")),
        "seconds": float(os.environ.get("BENCH_IDENTITY_SECONDS", "40")),
    }


# --- one journey, as a browser and a service provider would do it -------------------------------------


class JourneyError(Exception):
    def __init__(self, step: str, response: httpx.Response):
        super().__init__(f"{step}: {response.status_code} {response.text[:300]!r}")
        self.key = f"{step} {response.status_code}"


def _expect(step: str, response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        raise JourneyError(step, response)
    return response


def _search(pattern: re.Pattern, step: str, response: httpx.Response) -> str:
    found = pattern.search(response.text)
    if found is None:
        raise JourneyError(f"{step} (form field missing)", response)
    return html.unescape(found.group(1))


def journey(client: httpx.Client, maillage: str, login: str) -> str:
    """authorize → FI choice → FI → callback → information page → code → token → userinfo; the
    userinfo JWT. Raises JourneyError naming the step that failed."""
    client.cookies.clear()  # a new person session
    state = secrets.token_urlsafe(16)
    params = {"client_id": CLIENT_ID, "response_type": "code", "redirect_uri": REDIRECT, "scope": SCOPE,
              "state": state, "nonce": secrets.token_urlsafe(24), "acr_values": "eidas1"}  # fmt: skip
    location = _expect("authorize", client.get(f"{maillage}/api/v2/authorize", params=params), 302)
    choice = _expect("choice", client.get(maillage + location.headers["location"]), 200)
    form = {"csrfmiddlewaretoken": _search(_CSRF, "choice", choice), "next": _search(_NEXT, "choice", choice)}
    started = _expect("fi start", client.post(f"{maillage}/identite/fi/{FI_SLUG}/", data=form), 302)
    fi_url = started.headers["location"]
    page = _expect("fi account page", client.get(fi_url), 200)
    account = {"transaction": _search(_TRANSACTION, "fi account page", page), "login": login}
    back = _expect("fi account", client.post(fi_url.split("?")[0], data=account), 302)
    signed_in = _expect("callback", client.get(back.headers["location"]), 302)
    resume = maillage + signed_in.headers["location"]
    information = _expect("information page", client.get(resume), 200)
    decision = {"csrfmiddlewaretoken": _search(_CSRF, "information page", information), "decision": "accept"}
    answer = _expect("accept", client.post(resume, data=decision), 302)
    returned = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
    if returned.get("state") != state or "code" not in returned:
        raise JourneyError("accept (no code for this state)", answer)
    data = {"grant_type": "authorization_code", "code": returned["code"], "redirect_uri": REDIRECT}
    tokens = _expect(
        "token", client.post(f"{maillage}/api/v2/token", data=data, auth=(CLIENT_ID, SECRET)), 200
    )
    bearer = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    info = _expect("userinfo", client.get(f"{maillage}/api/v2/userinfo", headers=bearer), 200)
    if info.headers.get("content-type") != "application/jwt" or info.text.count(".") != 2:
        raise JourneyError("userinfo (not a JWT)", info)
    return info.text


# --- codes minted as the consent step writes them ---------------------------------------------------


def mint_codes(count: int, service, provider, users) -> list[str]:
    """``count`` authorization codes for ``service``, as _issue_code leaves them after a sign-in at
    ``provider``: django-oauth-toolkit's Grant and Maillage's Authorization (what the code was for)."""
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone
    from oauth2_provider.models import Grant

    from identity import op
    from identity.models import Authorization

    now = timezone.now()
    expires = now + timedelta(seconds=settings.OAUTH2_PROVIDER["AUTHORIZATION_CODE_EXPIRE_SECONDS"])
    codes = [secrets.token_urlsafe(24) for _ in range(count)]
    owners = [users[n % len(users)] for n in range(count)]
    with transaction.atomic():
        Grant.objects.bulk_create(
            Grant(application=service.application, user=user, code=code, expires=expires,
                  redirect_uri=REDIRECT, scope=SCOPE, nonce=secrets.token_urlsafe(24), claims="{}")
            for code, user in zip(codes, owners, strict=True)
        )  # fmt: skip
        Authorization.objects.bulk_create(
            Authorization(code_hash=op.code_hash(code), service_provider=service, user=user,
                          provider=provider, acr=provider.eidas_level, amr=["pwd"], auth_time=now)
            for code, user in zip(codes, owners, strict=True)
        )  # fmt: skip
    return codes


# --- worker processes ----------------------------------------------------------------------------------


def _seed() -> dict:
    import django

    django.setup()
    from stdnum import luhn
    from stdnum.fr import siret

    from identity import op_keys
    from identity.models import IdentityProvider
    from identity.services import service_provider_create
    from platform_core.services import organisation_create

    body = "21330063"
    base = body + luhn.calc_check_digit(body) + "0001"
    number = next(base + digit for digit in "0123456789" if siret.is_valid(base + digit))
    organisation = organisation_create(name="Mairie du banc d'essai", siret=number, kind="commune",
                                       commune_code="33063")  # fmt: skip
    service_provider_create(organisation=organisation, name="Mairie du banc d'essai",
                            redirect_uris=[REDIRECT], client_id=CLIENT_ID, secret=SECRET,
                            scopes=SCOPE)  # fmt: skip
    IdentityProvider.objects.create(
        issuer=f"{os.environ['BENCH_IDENTITY_IDP']}/usagers", slug=FI_SLUG, name="Démo usagers",
        client_id=FI_CLIENT_ID, client_secret=FI_SECRET, enabled=True,
    )  # fmt: skip
    op_keys.keyring()  # the signing keys, generated once before the workers race to do it
    return {"seeded": True}


class _Minter:
    """Django in a client process, set up on first use (journeys do not need it)."""

    def __init__(self):
        self.ready = False

    def codes(self, count: int) -> list[str]:
        if not self.ready:
            import django

            django.setup()
            self.ready = True
        from identity.models import IdentityProvider, ServiceProvider, User

        service = ServiceProvider.objects.select_related("application").get(application__client_id=CLIENT_ID)
        provider = IdentityProvider.objects.get(slug=FI_SLUG)
        users = list(User.objects.filter(kind="citizen", pivot_identity__isnull=False))
        if not users:
            raise RuntimeError("no citizen signed in during the journeys: no code can be minted")
        return mint_codes(count, service, provider, users)


def _timed(out: list, send) -> httpx.Response | None:
    """``send()``, its duration and outcome appended to ``out``: (seconds, None) or (seconds, error)."""
    begun = time.perf_counter()
    try:
        response = send()
    except httpx.HTTPError as error:
        out.append((time.perf_counter() - begun, type(error).__name__))
        return None
    out.append(
        (time.perf_counter() - begun, None if response.status_code == 200 else str(response.status_code))
    )
    return response


def _client_worker(index: int, threads: int) -> None:
    maillage = os.environ["PUBLIC_URL"]
    logins = [LOGINS[(index * threads + n) % len(LOGINS)] for n in range(threads)]
    minter = _Minter()
    tokens: list[list[str]] = [[] for _ in range(threads)]
    clients: list[httpx.Client] = []

    def journeys_loop(n: int, started: float, deadline: float, out: list) -> None:
        while time.monotonic() < deadline:
            begun = time.monotonic()
            try:
                journey(clients[n], maillage, logins[n])
                out.append((begun - started, time.monotonic() - started, None))
            except (JourneyError, httpx.HTTPError, ValueError, KeyError) as error:
                key = getattr(error, "key", type(error).__name__)
                out.append((begun - started, time.monotonic() - started, f"{key}|{str(error)[:300]}"))

    def token_loop(n: int, codes: list[str], out: list) -> None:
        tokens[n] = []
        for code in codes:
            data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
            url = f"{maillage}/api/v2/token"
            response = _timed(out, lambda: clients[n].post(url, data=data, auth=(CLIENT_ID, SECRET)))  # noqa: B023
            if response is not None and response.status_code == 200:
                tokens[n].append(response.json()["access_token"])

    def userinfo_loop(n: int, count: int, out: list) -> None:
        mine = tokens[n] or [token for own in tokens for token in own]
        if not mine:  # the token round failed: nothing to ask with
            out.extend((0.0, "no access token") for _ in range(count))
            return
        for i in range(count):
            bearer = {"Authorization": f"Bearer {mine[i % len(mine)]}"}
            _timed(out, lambda: clients[n].get(f"{maillage}/api/v2/userinfo", headers=bearer))  # noqa: B023

    def bare_loop(n: int, count: int, out: list) -> None:
        for _ in range(count):
            _timed(
                out, lambda: clients[n].post(f"{maillage}/bench/select-insert", data={"client_id": CLIENT_ID})
            )

    for line in sys.stdin:
        command, *args = line.split()
        outs: list[list] = [[] for _ in range(threads)]
        if command == "journeys":
            warmup, seconds = float(args[0]), float(args[1])
        else:
            total = int(args[0])
            per_thread = [total // threads + (n < total % threads) for n in range(threads)]
            if command == "token":
                codes = iter(minter.codes(total))
                batches = [[next(codes) for _ in range(count)] for count in per_thread]
        # Fresh connections for each command: the server closes those left idle in between (keep-alive).
        for client in clients:
            client.close()
        clients[:] = [httpx.Client(timeout=30) for _ in range(threads)]
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.monotonic()
        if command == "journeys":
            targets = [
                (journeys_loop, (n, started, started + warmup + seconds, outs[n])) for n in range(threads)
            ]
        elif command == "token":
            targets = [(token_loop, (n, batches[n], outs[n])) for n in range(threads)]
        else:
            loop = userinfo_loop if command == "userinfo" else bare_loop
            targets = [(loop, (n, per_thread[n], outs[n])) for n in range(threads)]
        run_and_report(started, targets, outs)


# --- the parent ----------------------------------------------------------------------------------------

_PROCESSES: list[subprocess.Popen] = []


def _start(environment: dict, *args: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_identity", *args],
        cwd=BASE_DIR, env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    _PROCESSES.append(process)
    return process


def run() -> None:
    config = settings_from_env()
    threads_per_process = max(1, config["concurrency"] // config["processes"])
    database_url = bench_database_url("identity")
    database = unquote(database_url.rpartition("/")[2])
    maillage_port, idp_port = free_port(), free_port()
    maillage, idp = f"http://127.0.0.1:{maillage_port}", f"http://127.0.0.1:{idp_port}"
    environment = platform_env(
        database_url,
        PUBLIC_URL=maillage,
        SECURE_COOKIES="0",
        BENCHMARK_VIEWS="1",
        CIVIL_REGISTRY_URL=f"{idp}/registre/verification",
        BENCH_IDENTITY_IDP=idp,
    )
    manage(environment, "migrate", "--noinput", "--verbosity", "0")
    manage(environment, "collectstatic", "--noinput", "--verbosity", "0")  # pages need the manifest
    if not environment.get("REDIS_URL"):
        manage(environment, "createcachetable", "--verbosity", "0")
    seed = _start(environment, "seed")
    if json.loads(seed.communicate(timeout=120)[0].strip().splitlines()[-1]) != {"seeded": True}:
        raise RuntimeError("the benchmark data could not be created")
    key_dir = tempfile.TemporaryDirectory(prefix="bench-idp-")
    idp_environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SANDBOX_IDP_PUBLIC_URL": idp,
        "SANDBOX_IDP_KEY_FILE": f"{key_dir.name}/key.json",
        "SANDBOX_IDP_CLIENTS": json.dumps(
            {
                FI_CLIENT_ID: {
                    "secret": FI_SECRET,
                    "redirect_uris": [f"{maillage}/identite/fi/callback"],
                }
            }
        ),  # fmt: skip
    }
    try:
        with (
            gunicorn("identity.sandbox_idp.wsgi:application", idp_environment, "/usagers/jwks",
                     threads=8, port=idp_port),
            gunicorn("platform_core.wsgi", environment, "/", workers=config["workers"],
                     threads=config["threads"], port=maillage_port),
        ):  # fmt: skip
            clients = [_start(environment, "client", str(n), str(threads_per_process))
                       for n in range(config["processes"])]  # fmt: skip
            client_pids = [client.pid for client in clients]
            meter = CpuMeter({
                MAILLAGE: lambda: serving(maillage_port),
                "sandbox FI (gunicorn)": lambda: serving(idp_port),
                # Only the backends of this database: the server may serve others (tests, other benchmarks).
                POSTGRES: lambda: pids(lambda name, cmdline: name in {"postgres", "postmaster"}
                                       and database in " ".join(cmdline)),  # fmt: skip
                "Redis": lambda: pids(lambda name, _: name.startswith("redis-server")),
                "load generator (httpx clients)": lambda: client_pids,
            })  # fmt: skip
            samples = []

            def sample_window():
                time.sleep(config["warmup"])
                samples.append(meter.sample())
                time.sleep(config["seconds"])
                samples.append(meter.sample())

            journeys = command_all(clients, f"journeys {config['warmup']} {config['seconds']}", sample_window)
            api: dict[str, list[dict]] = {"token": [], "userinfo": [], "bare": []}
            signed_in = any(error is None for result in journeys for *_times, error in result["results"])
            for _ in range(ROUNDS if signed_in else 0):  # codes are minted for the citizens journeys created
                for side in api:
                    api[side].append(_api_round(clients, side, meter))
            for client in clients:
                client.stdin.close()
                client.wait(timeout=30)
    finally:
        for process in _PROCESSES:
            if process.poll() is None:
                process.kill()
            process.wait()
        key_dir.cleanup()
    _report(config, threads_per_process, journeys, samples, api, bool(environment.get("REDIS_URL")))


def _api_round(clients: list[subprocess.Popen], side: str, meter: CpuMeter) -> dict:
    """One round of one side; CPU sampled once the clients are off (codes minted before) and at the end."""
    samples = []
    results = command_all(
        clients, f"{side} {PER_ROUND // len(clients)}", lambda: samples.append(meter.sample())
    )
    samples.append(meter.sample())
    return {**_summarise_round(results), "cpu": CpuMeter.used(*samples)[1]}


def _summarise_round(results: list[dict]) -> dict:
    durations = [duration for result in results for duration, error in result["results"] if error is None]
    errors = Counter(error for result in results for _duration, error in result["results"] if error)
    elapsed = max(result["elapsed"] for result in results)
    return {"rate": len(durations) / elapsed, "durations": durations, "errors": errors}


def _report(config, threads_per_process, journeys, samples, api, redis) -> None:
    warmup, seconds = config["warmup"], config["seconds"]
    records = [record for result in journeys for record in result["results"]]
    window = [(end - begun, error) for begun, end, error in records if warmup <= end < warmup + seconds]
    done = [duration for duration, error in window if error is None]
    failures = Counter(error.split("|")[0] for _duration, error in window if error is not None)
    samples_of_errors = [error.split("|", 1)[1] for _d, error in window if error is not None][:3]
    concurrency = threads_per_process * config["processes"]
    print(f"Maillage: gunicorn gthread {config['workers']} workers × {config['threads']} threads, DEBUG=0, "
          f"cache {'Redis' if redis else 'PostgreSQL (no REDIS_URL)'}; sandbox FI: gunicorn 1 × 8 threads; "
          f"{concurrency} clients (httpx) in {config['processes']} processes; {warmup:.0f} s warm-up, then "
          f"{seconds:.0f} s counted\n")  # fmt: skip
    print("| journeys | completed | journeys/s | p50 (ms) | p95 (ms) | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    if done:
        print(f"| authorize → FI → callback → consent → token → userinfo | {len(done)} | "
              f"{len(done) / seconds:.1f} | {statistics.median(done) * 1000:.0f} | "
              f"{percentile(done, 0.95) * 1000:.0f} | {sum(failures.values())} |")  # fmt: skip
    else:
        print(f"| (none completed) | 0 | 0 | — | — | {sum(failures.values())} |")
    print(f"\ntarget ≥ 100 journeys/s: {'met' if len(done) / seconds >= 100 else 'missed'}")
    for key, count in failures.most_common():
        print(f"error: {key} × {count}")
    for sample in samples_of_errors:
        print(f"  e.g. {sample}")
    if len(samples) == 2:
        wall, used = CpuMeter.used(*samples)
        cores = os.cpu_count()
        print(f"\nCPU over the counted window ({cores} cores: {cores * 100} % at most)\n")
        print("| process group | CPU % | CPU ms per journey |")
        print("| --- | ---: | ---: |")
        for name, seconds in used.items():
            per_journey = f"{seconds / len(done) * 1000:.1f}" if done else "—"
            print(f"| {name} | {seconds / wall * 100:.0f} | {per_journey} |")
    if not api["token"]:
        print("\nno journey completed: token and userinfo not measured")
        return
    print(
        f"\n{ROUNDS} rounds of {PER_ROUND} requests per side (token, userinfo, bare), {concurrency} clients\n"
    )
    print(
        "| side | req/s (per round) | req/s | p50 (ms) | p95 (ms) | errors | CPU ms/request (Maillage, PG) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    rates, serving_cpu, errors = {}, {}, Counter()
    for side, name in (("token", "POST /api/v2/token"), ("userinfo", "GET /api/v2/userinfo"),
                       ("bare", "bare view: 1 SELECT + 1 INSERT")):  # fmt: skip
        rounds = api[side]
        rates[side] = statistics.mean(r["rate"] for r in rounds)
        durations = [d for r in rounds for d in r["durations"]]
        failed = sum((r["errors"] for r in rounds), Counter())
        errors.update({f"{side} {key}": count for key, count in failed.items()})
        per_round = ", ".join(f"{r['rate']:.0f}" for r in rounds)
        requests = max(1, len(durations) + sum(failed.values()))
        durations = durations or [float("nan")]
        cpu = [sum(r["cpu"][group] for r in rounds) / requests * 1000 for group in (MAILLAGE, POSTGRES)]
        # What a request costs the processes serving it (clients included), whatever else the machine runs.
        serving_cpu[side] = sum(v for r in rounds for k, v in r["cpu"].items() if k != OTHERS) / requests
        print(f"| {name} | {per_round} | {rates[side]:.0f} | {statistics.median(durations) * 1000:.1f} | "
              f"{percentile(durations, 0.95) * 1000:.1f} | {sum(failed.values())} | "
              f"{cpu[0]:.1f}, {cpu[1]:.1f} |")  # fmt: skip
    print()
    for side in ("token", "userinfo"):
        ratio = rates[side] / rates["bare"]
        verdict = "met" if ratio >= 0.5 else "missed"
        print(f"ratio {side}/bare: {ratio:.2f}× the throughput (target ≥ 0.5: {verdict}); CPU-bound ratio "
              f"{serving_cpu['bare'] / serving_cpu[side]:.2f}× ({serving_cpu[side] * 1000:.1f} against "
              f"{serving_cpu['bare'] * 1000:.1f} ms of CPU per request, all but {OTHERS!r})")  # fmt: skip
    for key, count in errors.most_common():
        print(f"error: {key} × {count}")


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        print(json.dumps(_seed()), flush=True)
    else:
        _client_worker(int(sys.argv[2]), int(sys.argv[3]))
