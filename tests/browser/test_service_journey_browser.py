"""The whole FranceConnect-like journey in a real browser, over HTTP between live processes: the demo
service provider "Mairie de démonstration" (its own gunicorn process) signs a citizen in through
Maillage (live server), which delegates to the sandbox identity provider (its own process); consent;
back at the service with the claims; logout through every session back to the service."""

import secrets

import pytest

from identity import federation
from identity.models import IdentityProvider
from identity.services import service_provider_create
from protection.models import JournalEntry
from tests.browser.test_home_browser import CHROMIUM, SCREENSHOTS, in_browser
from tests.factories import OrganisationFactory
from tests.identity.conftest import CLIENT_ID, SECRET, SandboxIdp
from tests.identity.test_sandbox_fs import serve, stop
from tests.servers import free_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium"),
]


def journey(page, fs_url: str) -> dict:
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("response", lambda response: response.status >= 400 and problems.append(response.url))
    seen = {}
    page.goto(fs_url + "/")
    page.click("text=S'identifier avec Maillage")
    page.wait_for_url("**/identite/connexion/**")
    seen["choice"] = page.locator("main").inner_text()
    page.click("#fi-demo")
    page.wait_for_url("**/usagers/authorize**")
    page.click("button[value=angela]")
    page.wait_for_url("**/identite/autorisation/**")
    seen["consent"] = page.locator("main").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "consentement.png"), full_page=True)
    page.click("#consent-accept")
    page.wait_for_url(fs_url + "/")
    seen["claims"] = page.locator("body").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "mairie-demo.png"), full_page=True)
    page.click("text=Se déconnecter")
    page.wait_for_url(fs_url + "/logged-out**")
    seen["logged_out"] = page.locator("body").inner_text()
    seen["problems"] = problems
    return seen


@pytest.mark.django_db(transaction=True)
def test_a_citizen_signs_in_to_the_demo_town_hall_and_signs_out(live_server, tmp_path, settings):
    federation.clear_caches()
    # Maillage's issuer is the live server's address, as the service provider sees it.
    settings.PUBLIC_URL = live_server.url
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": f"{live_server.url}/api/v2"}
    fs_port = free_port()
    fs_url = f"http://127.0.0.1:{fs_port}"
    idp = SandboxIdp(
        free_port(),
        tmp_path / "key.json",
        redirect_uris=(f"{live_server.url}/identite/fi/callback",),
        post_logout_uris=(f"{live_server.url}/identite/fi/deconnexion",),
    ).start()
    secret = secrets.token_urlsafe(32)
    (tmp_path / "fs_secret").write_text(secret)
    fs = None
    try:
        IdentityProvider.objects.create(
            slug="demo", name="Identité de démonstration", issuer=f"{idp.base}/usagers",
            client_id=CLIENT_ID, client_secret=SECRET, enabled=True,
        )  # fmt: skip
        service_provider_create(
            organisation=OrganisationFactory(name="Ville de démonstration"),
            name="Mairie de démonstration",
            client_id="mairie-demo",
            secret=secret,
            redirect_uris=[f"{fs_url}/callback"],
            post_logout_redirect_uris=[f"{fs_url}/logged-out"],
            scopes="openid profile birth email",
            private=True,
        )
        fs = serve(
            "identity.sandbox_fs.wsgi:application",
            fs_port,
            {
                "DEMO_FS_ISSUER": f"{live_server.url}/api/v2",
                "DEMO_FS_PUBLIC_URL": fs_url,
                "DEMO_FS_CLIENT_ID": "mairie-demo",
                "DEMO_FS_CLIENT_SECRET_FILE": str(tmp_path / "fs_secret"),
            },
            "/healthz",
        )
        seen = in_browser(journey, fs_url)
    finally:
        if fs is not None:
            stop(fs)
        idp.stop()

    assert "Identité de démonstration" in seen["choice"]
    assert "Mairie de démonstration" in seen["consent"] and "birthplace" in seen["consent"]
    assert "Angela Claire Louise" in seen["claims"] and "75107" in seen["claims"]
    assert "eidas1" in seen["claims"]
    assert "Vous êtes déconnecté" in seen["logged_out"]
    assert seen["problems"] == []
    events = set(JournalEntry.objects.values_list("event_type", flat=True))
    assert {"identity.consent_given", "identity.token_issued", "identity.userinfo_served",
            "identity.fs_signed_out"} <= events  # fmt: skip
