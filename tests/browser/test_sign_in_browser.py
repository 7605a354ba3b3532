"""The citizen's journey in a real browser: Maillage (live server) and the sandbox identity provider
(its own process), over HTTP. What only a browser checks is checked here: CSP form-action on the
redirects to the provider, cookies across the round trips, the pages as people see them."""

import pytest

from identity import federation
from identity.models import IdentityProvider
from tests.browser.test_home_browser import CHROMIUM, SCREENSHOTS, in_browser
from tests.identity.conftest import CLIENT_ID, SECRET, SandboxIdp
from tests.servers import free_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium"),
]


def journey(page, base_url: str) -> dict:
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("response", lambda response: response.status >= 400 and problems.append(response.url))
    seen = {}
    page.goto(base_url + "/identite/mon-espace/")
    seen["asked_to_sign_in"] = page.url.startswith(base_url + "/identite/connexion/")
    page.click("#fi-demo")
    page.wait_for_url("**/usagers/authorize**")
    page.click("button[value=sophie]")
    page.wait_for_url(base_url + "/identite/mon-espace/")
    seen["sign_ins"] = page.locator("table").first.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "mon-espace.png"), full_page=True)
    page.click("text=Se déconnecter")
    page.wait_for_url(base_url + "/identite/fi/deconnexion**")
    seen["signed_out"] = page.locator("main").inner_text()
    page.goto(base_url + "/identite/mon-espace/")
    seen["signed_out_for_good"] = page.url.startswith(base_url + "/identite/connexion/")
    seen["problems"] = problems
    return seen


@pytest.mark.django_db(transaction=True)
def test_a_citizen_signs_in_sees_mon_espace_and_signs_out(live_server, tmp_path):
    federation.clear_caches()
    idp = SandboxIdp(
        free_port(),
        tmp_path / "key.json",
        redirect_uris=(f"{live_server.url}/identite/fi/callback",),
        post_logout_uris=(f"{live_server.url}/identite/fi/deconnexion",),
    ).start()
    try:
        IdentityProvider.objects.create(
            slug="demo", name="Identité de démonstration", issuer=f"{idp.base}/usagers",
            client_id=CLIENT_ID, client_secret=SECRET, enabled=True,
        )  # fmt: skip
        seen = in_browser(journey, live_server.url)
    finally:
        idp.stop()

    assert seen["asked_to_sign_in"]
    assert "Identité de démonstration" in seen["sign_ins"] and "eidas2" in seen["sign_ins"]
    assert (
        "Votre session Maillage et celle de votre fournisseur d'identité sont terminées" in seen["signed_out"]
    )
    assert seen["signed_out_for_good"]
    assert seen["problems"] == []
