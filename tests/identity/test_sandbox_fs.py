"""The demo service provider ("Mairie de démonstration"), run as its own gunicorn process.

Its relying-party logic is driven end to end against the sandbox identity provider (userinfo as JSON)
and a variant of it that answers userinfo as a signed JWT like FranceConnect v2, and can misbehave on
demand (tests/identity/sandbox_jwt_op.py).
"""

import html
import json
import os
import re
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from identity.sandbox_idp.accounts import CITIZENS
from platform_core.env import generated_secret
from tests.identity.conftest import CLIENT_ID, POST_LOGOUT, REDIRECT, SECRET, SandboxIdp
from tests.servers import free_port, stop_gunicorn

BASE_DIR = Path(__file__).resolve().parents[2]


def serve(application: str, port: int, environment: dict[str, str], ready_path: str) -> subprocess.Popen:
    """``application`` under gunicorn on 127.0.0.1:``port``, once ``ready_path`` answers."""
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), application, "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "4", "--log-level", "warning"],
        cwd=BASE_DIR, env={"PATH": "/usr/bin:/bin", **environment},
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1)
            return process
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"{application} did not start") from None
            time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    stop_gunicorn(process)


@dataclass
class DemoFs:
    base: str
    issuer: str
    process: subprocess.Popen


@pytest.fixture(scope="module")
def start_fs(tmp_path_factory):
    """Starts the demo service provider for an issuer; every one started is stopped with the module."""
    started = []

    def start(issuer: str, *, port: int | None = None, client_id: str = CLIENT_ID) -> DemoFs:
        port = port or free_port()
        secret_file = tmp_path_factory.mktemp("fs") / "client_secret"
        secret_file.write_text(SECRET)
        environment = {
            "DEMO_FS_ISSUER": issuer,
            "DEMO_FS_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "DEMO_FS_CLIENT_ID": client_id,
            "DEMO_FS_CLIENT_SECRET_FILE": str(secret_file),
        }
        process = serve("identity.sandbox_fs.wsgi:application", port, environment, "/healthz")
        started.append(process)
        return DemoFs(f"http://127.0.0.1:{port}", issuer, process)

    yield start
    for process in started:
        stop(process)


@pytest.fixture(scope="module")
def offline_fs(start_fs) -> DemoFs:
    """Configured with an issuer nobody listens to."""
    return start_fs(f"http://127.0.0.1:{free_port()}/api/v2", client_id="mairie-demo")


@pytest.fixture(scope="module")
def fs_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def json_idp(tmp_path_factory, fs_port):
    """The sandbox identity provider, with the demo service provider's URIs registered."""
    server = SandboxIdp(
        free_port(),
        tmp_path_factory.mktemp("idp") / "key.json",
        redirect_uris=(f"http://127.0.0.1:{fs_port}/callback",),
        post_logout_uris=(f"http://127.0.0.1:{fs_port}/logged-out",),
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fs(start_fs, json_idp, fs_port) -> DemoFs:
    return start_fs(f"{json_idp.base}/{CITIZENS}", port=fs_port)


@pytest.fixture(scope="module")
def jwt_idp(tmp_path_factory):
    """The sandbox identity provider answering userinfo as an ES256 JWT; its redirect URIs are filled in
    once the demo service provider's port is known."""
    port, fs_port = free_port(), free_port()
    clients = {
        CLIENT_ID: {
            "secret": SECRET,
            "redirect_uris": [REDIRECT, f"http://127.0.0.1:{fs_port}/callback"],
            "post_logout_redirect_uris": [POST_LOGOUT, f"http://127.0.0.1:{fs_port}/logged-out"],
        }
    }
    environment = {
        "SANDBOX_IDP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SANDBOX_IDP_CLIENTS": json.dumps(clients),
        "SANDBOX_IDP_KEY_FILE": str(tmp_path_factory.mktemp("jwt-idp") / "key.json"),
        "SANDBOX_IDP_ALG": "ES256",
    }
    process = serve("tests.identity.sandbox_jwt_op:application", port, environment, f"/{CITIZENS}/jwks")
    yield f"http://127.0.0.1:{port}", fs_port
    stop(process)


@pytest.fixture(scope="module")
def jwt_fs(start_fs, jwt_idp) -> DemoFs:
    base, fs_port = jwt_idp
    return start_fs(f"{base}/{CITIZENS}", port=fs_port)


@pytest.fixture
def misbehave(jwt_idp):
    def switch(mode: str) -> None:
        assert httpx.post(f"{jwt_idp[0]}/_mode", content=mode).status_code == 204

    yield switch
    switch("signed")


def browser() -> httpx.Client:
    return httpx.Client(follow_redirects=False, timeout=10)


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def sign_in(client: httpx.Client, fs: DemoFs, login: str = "angela", **login_params) -> httpx.Response:
    """Home → /login → the provider's account page → its redirect → /callback; the callback's response."""
    to_provider = client.get(f"{fs.base}/login", params=login_params)
    assert to_provider.status_code == 302, to_provider.text
    page = client.get(to_provider.headers["location"])
    assert page.status_code == 200, page.text
    transaction = re.search(r'name="transaction" value="([^"]+)"', page.text).group(1)
    authorize = to_provider.headers["location"].split("?")[0]
    back = client.post(authorize, data={"transaction": transaction, "login": login})
    assert back.status_code == 302, back.text
    assert back.headers["location"].startswith(f"{fs.base}/callback?")
    return client.get(back.headers["location"])


def assert_readable_page(response: httpx.Response, status: int, *texts: str) -> None:
    """An HTML page in French with ``texts`` in it (as the browser shows them)."""
    assert response.status_code == status
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="fr">' in response.text
    assert "Traceback" not in response.text
    shown = html.unescape(response.text)
    for text in texts:
        assert text in shown, text


# --- pages that need no provider -------------------------------------------------------------------


def test_the_home_page_is_in_french_with_the_sign_in_button(offline_fs):
    response = httpx.get(f"{offline_fs.base}/")

    assert_readable_page(
        response, 200, "Mairie de démonstration", "bac à sable", "S'identifier avec Maillage"
    )
    assert 'href="/login"' in response.text
    assert "mairie-demo" in response.text  # its configuration is shown to integrators
    # Self-contained and CSP-clean: one stylesheet of its own, no inline style or script.
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert "<style" not in response.text and "<script" not in response.text and "style=" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    stylesheet = httpx.get(f"{offline_fs.base}/static/style.css")
    assert stylesheet.status_code == 200
    assert stylesheet.headers["content-type"].startswith("text/css")


def test_healthz(offline_fs):
    response = httpx.get(f"{offline_fs.base}/healthz")

    assert response.status_code == 200
    assert response.text == "ok"


def test_an_unknown_path_gives_a_readable_404_page(offline_fs):
    assert_readable_page(httpx.get(f"{offline_fs.base}/nulle-part"), 404, "Page introuvable")


def test_logout_is_a_post(offline_fs):
    response = httpx.get(f"{offline_fs.base}/logout")

    assert_readable_page(response, 405)
    assert response.headers["allow"] == "POST"


def test_a_callback_with_an_unknown_state_gives_a_readable_400_page(offline_fs):
    response = httpx.get(f"{offline_fs.base}/callback", params={"code": "abc", "state": "inconnu"})

    assert_readable_page(response, 400, "Demande de connexion inconnue ou expirée", 'href="/login"')


def test_login_when_the_issuer_is_unreachable_gives_a_readable_502_page(offline_fs):
    response = httpx.get(f"{offline_fs.base}/login")

    assert_readable_page(response, 502, "Le service d'identité ne répond pas correctement", "injoignable")
    assert "set-cookie" not in response.headers


# --- the relying party, against the sandbox identity provider (userinfo as JSON) -------------------


def test_login_redirects_with_a_pkce_authorization_request(fs):
    with browser() as client:
        response = client.get(f"{fs.base}/login", params={"prompt": "login", "idp_hint": "demo-usagers"})

    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"{fs.issuer}/authorize?")
    params = query_of(location)
    assert params["client_id"] == CLIENT_ID and params["response_type"] == "code"
    assert params["redirect_uri"] == f"{fs.base}/callback"
    assert params["scope"] == "openid profile birth email" and params["acr_values"] == "eidas1"
    assert len(params["state"]) == 43 and len(params["nonce"]) >= 22
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["prompt"] == "login" and params["idp_hint"] == "demo-usagers"
    cookie = response.headers["set-cookie"]
    assert "mairie_demo_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_full_sign_in_shows_the_claims_and_sign_out_ends_both_sessions(fs):
    with browser() as client:
        # when the citizen signs in
        callback = sign_in(client, fs, "eloise")

        # then they are back home with a new session id, and their claims are shown
        assert callback.status_code == 302 and callback.headers["location"] == "/"
        home = client.get(f"{fs.base}/")
        assert_readable_page(home, 200, "Données reçues", "Éloïse Anaïs", "D'ALEMBERT-GRÉGOIRE", "1995-12-31")
        assert "<code>acr</code>" in home.text and "eidas1" in home.text
        assert "<code>auth_time</code>" in home.text and "UTC" in home.text
        assert "<code>idp_id</code>" in home.text  # the sandbox provider sends none: shown as —
        assert "Se déconnecter" in home.text

        # and the provider's answer cannot be replayed
        replay = client.get(callback.request.url)
        assert_readable_page(replay, 400, "Demande de connexion inconnue ou expirée")

        # when they sign out
        csrf = re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)
        to_provider = client.post(f"{fs.base}/logout", data={"csrf": csrf})

        # then the provider's end_session endpoint is asked to end its session and to come back
        assert to_provider.status_code == 303
        location = to_provider.headers["location"]
        assert location.startswith(f"{fs.issuer}/session/end?")
        params = query_of(location)
        assert params["post_logout_redirect_uri"] == f"{fs.base}/logged-out"
        assert params["id_token_hint"].count(".") == 2 and params["state"]
        back = client.get(location)
        assert back.status_code == 302 and back.headers["location"].startswith(f"{fs.base}/logged-out?")
        done = client.get(back.headers["location"])
        assert_readable_page(done, 200, "Vous êtes déconnecté")
        assert "S'identifier avec Maillage" in client.get(f"{fs.base}/").text


def test_the_session_id_changes_at_sign_in(fs):
    with browser() as client:
        client.get(f"{fs.base}/login")
        before = client.cookies["mairie_demo_session"]

        sign_in(client, fs)

        assert client.cookies["mairie_demo_session"] != before


def test_an_error_from_the_provider_gives_a_readable_page(fs):
    with browser() as client:
        state = query_of(client.get(f"{fs.base}/login").headers["location"])["state"]

        response = client.get(
            f"{fs.base}/callback",
            params={"error": "access_denied", "error_description": "user <cancelled>", "state": state},
        )

        assert_readable_page(response, 400, "Identification interrompue", "annulée", "user <cancelled>")
        assert "user &lt;cancelled&gt;" in response.text
        # the state was used up by the error
        again = client.get(f"{fs.base}/callback", params={"code": "x", "state": state})
        assert_readable_page(again, 400, "Demande de connexion inconnue ou expirée")


def test_an_answer_naming_another_issuer_is_refused(fs):
    with browser() as client:
        state = query_of(client.get(f"{fs.base}/login").headers["location"])["state"]

        response = client.get(
            f"{fs.base}/callback", params={"code": "x", "state": state, "iss": "https://ailleurs.example"}
        )

        assert_readable_page(response, 400, "Réponse d'un autre fournisseur")


def test_a_sign_out_without_the_form_token_is_refused(fs):
    with browser() as client:
        sign_in(client, fs)

        response = client.post(f"{fs.base}/logout", data={"csrf": "forged"})

        assert_readable_page(response, 400, "Formulaire expiré")
        assert "Se déconnecter" in client.get(f"{fs.base}/").text  # still signed in


def test_logged_out_without_the_sign_out_state_is_refused(fs):
    with browser() as client:
        response = client.get(f"{fs.base}/logged-out", params={"state": "forged"})

    assert_readable_page(response, 400, "Déconnexion inconnue ou expirée")


def test_an_invalid_prompt_is_refused(fs):
    assert_readable_page(httpx.get(f"{fs.base}/login", params={"prompt": "toujours"}), 400, "prompt")


# --- userinfo as a signed JWT (FranceConnect v2), and a provider that cannot be trusted -----------


def test_a_signed_userinfo_jwt_is_verified_and_shown(jwt_fs, misbehave):
    misbehave("signed")
    with browser() as client:
        callback = sign_in(client, jwt_fs, "tomasz")

        assert callback.status_code == 302
        home = client.get(f"{jwt_fs.base}/")
        assert_readable_page(home, 200, "KOWALSKI", "99122", "Se déconnecter")


@pytest.mark.parametrize(
    ("mode", "text"),
    [
        ("wrong-sub", "La réponse userinfo est invalide"),
        ("foreign-key", "La réponse userinfo est invalide"),
        ("text", "type inattendu"),
        ("id-token-hs256", "algorithme refusé"),
        ("id-token-audience", "Le jeton d'identité est invalide"),
    ],
)
def test_an_untrustworthy_answer_gives_a_readable_502_page_and_no_session(jwt_fs, misbehave, mode, text):
    misbehave(mode)
    with browser() as client:
        callback = sign_in(client, jwt_fs)

        assert_readable_page(callback, 502, "Le service d'identité ne répond pas correctement", text)
        assert "S'identifier avec Maillage" in client.get(f"{jwt_fs.base}/").text


# --- make run and the documentation ---------------------------------------------------------------


def test_the_runner_creates_the_client_secret_once_and_private(tmp_path):
    path = tmp_path / "sandbox" / "demo_fs_client_secret"

    generated_secret(path)
    first = path.read_text()
    generated_secret(path)

    assert len(first) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", first)
    assert path.read_text() == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_its_variables_are_documented():
    readme = (BASE_DIR / "README.md").read_text(encoding="utf-8")
    compose_comments = "\n".join(
        line.split("#", 1)[1]
        for line in (BASE_DIR / "docker-compose.yml").read_text(encoding="utf-8").splitlines()
        if "#" in line
    )
    for variable in ("SANDBOX_FS_PORT", "SANDBOX_FS_PUBLIC_URL", "SANDBOX_FS_CLIENT_SECRET_FILE"):
        assert f"| `{variable}`" in readme, variable
        assert re.search(rf"\b{variable}\b", compose_comments), variable
