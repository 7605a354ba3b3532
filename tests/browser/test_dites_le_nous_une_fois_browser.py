""" "Dites-le-nous une fois" in a real browser, over HTTP between live processes: the demo town hall (its
own gunicorn process) signs a citizen in through Maillage (live server) and the sandbox identity
provider (its own process); the consent page names the family quotient and the CAF; the town hall then
fetches it through Maillage's gateway with the citizen's access token from the sandbox CAF (its own
process) and shows it; the citizen finds the exchange in Mon espace."""

import secrets

import pytest

from identity import federation
from identity.models import IdentityProvider
from identity.services import service_provider_create
from protection.models import JournalEntry
from tests.browser.test_home_browser import CHROMIUM, SCREENSHOTS, in_browser
from tests.exchange.conftest import _own_rate_limits, world  # noqa: F401 - the organisations and their people
from tests.exchange.test_gateway import QF, contract  # noqa: F401 - the CAF-like API under contract
from tests.exchange.test_sandbox_providers import base  # noqa: F401 - the providers' process
from tests.identity.conftest import CLIENT_ID, SECRET, SandboxIdp
from tests.identity.test_sandbox_fs import serve, stop
from tests.servers import free_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium"),
]


def journey(page, fs_url: str, maillage_url: str) -> dict:
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    seen = {}
    page.goto(fs_url + "/")
    page.click("text=S'identifier avec Maillage")
    page.wait_for_url("**/identite/connexion/**")
    page.click("#fi-demo")
    page.wait_for_url("**/usagers/authorize**")
    page.click("button[value=angela]")
    page.wait_for_url("**/identite/autorisation/**")
    seen["consent"] = page.locator("#data-scopes").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "consentement-donnees.png"), full_page=True)
    page.click("#consent-accept")
    page.wait_for_url(fs_url + "/")
    seen["data"] = page.locator("#person-data").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "mairie-demo-quotient.png"), full_page=True)
    page.goto(maillage_url + "/identite/mon-espace/")
    seen["my_space"] = page.locator("main").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "mon-espace-echanges.png"), full_page=True)
    seen["problems"] = problems
    return seen


@pytest.mark.django_db(transaction=True)
def test_the_town_hall_gets_the_family_quotient_without_a_document(live_server, tmp_path, settings, contract):  # noqa: F811
    federation.clear_caches()
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
            organisation=contract["world"]["consumer"],  # holds the validated habilitation to the CAF API
            name="Mairie de démonstration",
            client_id="mairie-demo",
            secret=secret,
            redirect_uris=[f"{fs_url}/callback"],
            post_logout_redirect_uris=[f"{fs_url}/logged-out"],
            scopes="openid profile caf_qf",
        )
        fs = serve(
            "identity.sandbox_fs.wsgi:application",
            fs_port,
            {
                "DEMO_FS_ISSUER": f"{live_server.url}/api/v2",
                "DEMO_FS_PUBLIC_URL": fs_url,
                "DEMO_FS_CLIENT_ID": "mairie-demo",
                "DEMO_FS_CLIENT_SECRET_FILE": str(tmp_path / "fs_secret"),
                "DEMO_FS_SCOPES": "openid profile caf_qf",
                "DEMO_FS_DATA_URL": f"{live_server.url}{QF}",
                "DEMO_FS_DATA_LABEL": "Votre quotient familial (CAF)",
            },
            "/healthz",
        )
        seen = in_browser(lambda page, url: journey(page, url, live_server.url), fs_url)
    finally:
        if fs is not None:
            stop(fs)
        idp.stop()

    assert "QF" in seen["consent"] and "DGFiP" in seen["consent"]  # the data, and who holds it
    assert "quotientFamilial" in seen["data"] and "820" in seen["data"]
    assert "Échange de données par la passerelle" in seen["my_space"] and "Cantine" in seen["my_space"]
    assert seen["problems"] == []
    entry = JournalEntry.objects.get(event_type="exchange.gateway_call")
    assert entry.outcome == "success" and entry.data["via"] == "citizen_token"
