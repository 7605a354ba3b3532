import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, stop_gunicorn

BASE_DIR = Path(__file__).resolve().parents[2]
CLIENT_ID, SECRET = "maillage", "sandbox-secret-" + "x" * 20
REDIRECT = "http://127.0.0.1:9/callback"
MAILLAGE_CALLBACK = "http://testserver/identite/fi/callback"  # Maillage's, as Django's test client sees it
MAILLAGE_SIGNED_OUT = "http://testserver/identite/fi/deconnexion"
POST_LOGOUT = "http://127.0.0.1:9/logged-out"


@dataclass
class SandboxIdp:
    """The sandbox identity provider running as its own gunicorn process on loopback."""

    port: int
    key_file: Path
    process: subprocess.Popen | None = None
    redirect_uris: tuple[str, ...] = ()  # beside the test client's
    post_logout_uris: tuple[str, ...] = ()
    application: str = "identity.sandbox_idp.wsgi:application"  # or a misbehaving variant of it
    extra_environment: tuple[tuple[str, str], ...] = ()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "SandboxIdp":
        environment = {
            "PATH": "/usr/bin:/bin",
            "SANDBOX_IDP_PUBLIC_URL": self.base,
            "SANDBOX_IDP_CLIENTS": json.dumps(
                {
                    CLIENT_ID: {
                        "secret": SECRET,
                        "redirect_uris": [REDIRECT, MAILLAGE_CALLBACK, *self.redirect_uris],
                        "post_logout_redirect_uris": [
                            POST_LOGOUT,
                            MAILLAGE_SIGNED_OUT,
                            *self.post_logout_uris,
                        ],
                    }
                }  # fmt: skip
            ),
            "SANDBOX_IDP_KEY_FILE": str(self.key_file),
            **dict(self.extra_environment),
        }
        self.process = subprocess.Popen(  # noqa: S603
            [str(Path(sys.executable).parent / "gunicorn"), self.application,
             "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "4",
             "--log-level", "warning"],
            cwd=BASE_DIR, env=environment,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{self.base}/usagers/jwks", timeout=1)
                return self
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the sandbox identity provider did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        stop_gunicorn(self.process)


@pytest.fixture(autouse=True)
def _own_rate_limits(settings):
    # Every test its own counters: sign-ins from 127.0.0.1 would add up across tests otherwise.
    settings.RATE_LIMIT_CACHE_PREFIX = f"test-ratelimit-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def sandbox_idp(tmp_path_factory):
    server = SandboxIdp(free_port(), tmp_path_factory.mktemp("idp") / "key.json").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def idp(sandbox_idp) -> str:
    return sandbox_idp.base
