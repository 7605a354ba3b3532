"""`make run`: prepare everything, then run web server, Celery worker and beat until Ctrl-C.

Idempotent: a second run reuses the virtualenv, the embedded database, the secrets
in var/ and the sandbox data, and starts in seconds.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from platform_core import embedded_db
from platform_core.env import generated_secret

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def step(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", flush=True)


def manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, check=True)  # noqa: S603


def sandbox_idp_clients(sandbox_dir: Path, public_url: str) -> str:
    """SANDBOX_IDP_CLIENTS for the sandbox provider: Maillage itself, with a secret kept in var/."""
    secret = generated_secret(sandbox_dir / "idp_client_secret")
    public_url = public_url.rstrip("/")
    return json.dumps(
        {
            "maillage": {
                "secret": secret,
                "redirect_uris": [f"{public_url}/identite/fi/callback"],
                "post_logout_redirect_uris": [f"{public_url}/identite/fi/deconnexion"],
            }
        }
    )


def main() -> int:
    # The platform as its users get it (DSFR error pages, collected static files, gunicorn), served
    # over plain http on loopback: no HTTPS redirect and no HTTPS-only cookies unless PUBLIC_URL is https.
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("LOG_FORMAT", "text")
    port = os.environ.get("PORT", "8000")
    os.environ.setdefault("PUBLIC_URL", f"http://127.0.0.1:{port}")
    if os.environ["PUBLIC_URL"].startswith("http://"):
        os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
        os.environ.setdefault("SECURE_COOKIES", "0")
    os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
    # A live journal in the admin: demo consultations every 10 s (platform_core/sandbox/activity.py).
    os.environ.setdefault("SANDBOX_ACTIVITY", "1")
    started_database = False
    if not os.environ.get("DATABASE_URL"):
        step("Embedded PostgreSQL (DATABASE_URL is unset)")
        started_database = embedded_db.status() != "running"
        os.environ["DATABASE_URL"] = embedded_db.start()
    if not os.environ.get("REDIS_URL"):
        step("REDIS_URL is unset: Celery uses a filesystem broker in var/celery, the cache is in PostgreSQL")

    # The sandbox identity provider (identity/sandbox_idp): the upstream FI of the sign-in journey.
    idp_port = os.environ.get("SANDBOX_IDP_PORT", "8001")
    sandbox_dir = embedded_db.var_dir() / "sandbox"
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SANDBOX_IDP_PUBLIC_URL", f"http://127.0.0.1:{idp_port}")
    os.environ.setdefault("SANDBOX_IDP_KEY_FILE", str(sandbox_dir / "idp_key.json"))
    os.environ.setdefault("SANDBOX_IDP_CLIENTS", sandbox_idp_clients(sandbox_dir, os.environ["PUBLIC_URL"]))
    # Its civil registry verifies the citizens' identities at sign-in (identity/registry.py).
    os.environ.setdefault(
        "CIVIL_REGISTRY_URL", f"{os.environ['SANDBOX_IDP_PUBLIC_URL']}/registre/verification"
    )
    # The demo service provider (identity/sandbox_fs), a relying party of Maillage's own provider;
    # load_sandbox_providers registers it as a client from these two variables.
    fs_port = os.environ.get("SANDBOX_FS_PORT", "8002")
    os.environ.setdefault("SANDBOX_FS_PUBLIC_URL", f"http://127.0.0.1:{fs_port}")
    os.environ.setdefault("SANDBOX_FS_CLIENT_SECRET_FILE", str(sandbox_dir / "demo_fs_client_secret"))
    generated_secret(Path(os.environ["SANDBOX_FS_CLIENT_SECRET_FILE"]))
    demo_fs_environment = {  # its own variables (identity/sandbox_fs/app.py), unless they are set
        "DEMO_FS_ISSUER": f"{os.environ['PUBLIC_URL'].rstrip('/')}/api/v2",
        "DEMO_FS_PUBLIC_URL": os.environ["SANDBOX_FS_PUBLIC_URL"],
        "DEMO_FS_CLIENT_SECRET_FILE": os.environ["SANDBOX_FS_CLIENT_SECRET_FILE"],
        # "Dites-le-nous une fois": the family quotient, from the sandbox CAF through the gateway.
        "DEMO_FS_SCOPES": "openid profile birth email caf_quotient_familial",
        "DEMO_FS_DATA_URL": f"{os.environ['PUBLIC_URL'].rstrip('/')}"
        "/api/v1/gateway/caf-quotient-familial/v1/quotient-familial",
        "DEMO_FS_DATA_LABEL": "Votre quotient familial (CAF)",
        **os.environ,
    }
    # The sandbox data providers (exchange/sandbox_providers): CAF-, DGFiP- and CNOUS-like upstream APIs
    # for the exchange gateway; every platform process gets these two variables, from which
    # load_sandbox_exchange registers the APIs in the catalogue.
    providers_port = os.environ.get("SANDBOX_PROVIDERS_PORT", "8003")
    os.environ.setdefault("SANDBOX_PROVIDERS_URL", f"http://127.0.0.1:{providers_port}")
    os.environ.setdefault("SANDBOX_PROVIDERS_TOKEN_FILE", str(sandbox_dir / "providers_token"))
    generated_secret(Path(os.environ["SANDBOX_PROVIDERS_TOKEN_FILE"]))

    step("Migrations, static files, sandbox data")
    manage("prepare_platform")

    run_dir = embedded_db.var_dir() / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    commands = {
        "web": [str(BIN / "gunicorn"), "--config", "python:platform_core.gunicorn_conf", "platform_core.wsgi",
                "--bind", f"127.0.0.1:{port}",
                "--workers", os.environ.get("WEB_CONCURRENCY", "2"),  # threads: WEB_THREADS, in gunicorn_conf
                "--graceful-timeout", "5"],
        "worker": [str(BIN / "celery"), "-A", "platform_core", "worker", "--loglevel", "INFO",
                   "--concurrency", os.environ.get("CELERY_CONCURRENCY", "2"), "--hostname", "worker@%h",
                   "--queues", "celery,batches"],
        "beat": [str(BIN / "celery"), "-A", "platform_core", "beat", "--loglevel", "INFO",
                 "--pidfile", str(run_dir / "celerybeat.pid")],
        # One process: the sandbox provider keeps its codes and tokens in memory. No control socket for the
        # sandbox servers: gunicorn's default one, in $HOME, is shared by every gunicorn of the machine
        # (the web server's configuration turns it off likewise).
        "sandbox-idp": [str(BIN / "gunicorn"), "identity.sandbox_idp.wsgi:application",
                        "--bind", f"127.0.0.1:{idp_port}", "--workers", "1", "--threads", "8",
                        "--graceful-timeout", "5", "--no-control-socket"],
        # Likewise: its sessions are in memory.
        "demo-fs": [str(BIN / "gunicorn"), "identity.sandbox_fs.wsgi:application",
                    "--bind", f"127.0.0.1:{fs_port}", "--workers", "1", "--threads", "8",
                    "--graceful-timeout", "5", "--no-control-socket"],
        # Likewise (the flaky fault's counters); threads, as the gateway's benchmark calls it hard.
        "sandbox-providers": [str(BIN / "gunicorn"), "exchange.sandbox_providers.wsgi:application",
                              "--bind", f"127.0.0.1:{providers_port}", "--workers", "1",
                              "--worker-class", "gthread", "--threads", "8", "--graceful-timeout", "5",
                              "--no-control-socket"],
    }  # fmt: skip
    environments = {"demo-fs": demo_fs_environment}
    (run_dir / "celerybeat.pid").unlink(missing_ok=True)  # a stale pid file would stop beat
    processes = {
        name: subprocess.Popen(command, cwd=BASE_DIR, env=environments.get(name))  # noqa: S603
        for name, command in commands.items()
    }
    step(
        f"Maillage is running on http://127.0.0.1:{port}/ (sandbox identity provider: "
        f"{os.environ['SANDBOX_IDP_PUBLIC_URL']}/usagers, demo service provider: "
        f"{os.environ['SANDBOX_FS_PUBLIC_URL']}/, sandbox data providers: "
        f"{os.environ['SANDBOX_PROVIDERS_URL']}/) — Ctrl-C to stop"
    )

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(
                    f"{name} exited with status {process.returncode}; stopping the others.", file=sys.stderr
                )
                exit_code = 1
                stopping = True
        time.sleep(0.5)

    step("Stopping web server, worker and beat")
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    if started_database:
        step("Stopping the embedded PostgreSQL")
        embedded_db.stop()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
