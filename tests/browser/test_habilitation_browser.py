"""The habilitation journey in a real browser (live server): an agent of a commune requests access to
an API in the portal's DSFR forms and submits it; an instructor of the provider validates it; the
authorization in force then shows on the page. Each person's session is their own browser context."""

from importlib import import_module

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

from exchange.models import ApiProduct, ApiScope, Habilitation
from platform_core.enums import MembershipRole
from tests.browser.test_home_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS
from tests.factories import MembershipFactory, OrganisationFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium"),
]


def session_cookie(user) -> dict:
    """A signed-in session for ``user`` (as after their sign-in), as a browser cookie."""
    session = import_module(django_settings.SESSION_ENGINE).SessionStore()  # Redis or the database
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return {"name": django_settings.SESSION_COOKIE_NAME, "value": session.session_key, "domain": "localhost",
            "path": "/"}  # fmt: skip


def journey(base_url: str, applicant_cookie: dict, instructor_cookie: dict) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from playwright.sync_api import sync_playwright

    def run():
        seen, problems = {}, []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                applicant = browser.new_context(locale="fr-FR")
                applicant.add_cookies([applicant_cookie])
                page = applicant.new_page()
                page.on("console", lambda m: m.type == "error" and problems.append(m.text))
                page.goto(base_url + "/habilitations/nouvelle/")
                page.select_option("#id_api", "impots")
                page.locator("#id_organisation").select_option(index=1)
                page.click("text=Continuer")
                page.fill("#id_title", "Tarification de la cantine")
                page.fill("#id_purpose", "Calculer le tarif selon le revenu fiscal de référence.")
                page.select_option("#id_legal_basis_nature", "deliberation")
                page.fill("#id_legal_basis_url", "https://mairie.example.fr/deliberation.pdf")
                page.check("input[name=scopes][value=dgfip_rfr]", force=True)
                page.fill("#id_retention_months", "12")
                for role in ("business", "technical", "dpo", "controller"):
                    page.fill(f"#id_contact_{role}_name", f"Contact {role}")
                    page.fill(f"#id_contact_{role}_email", f"{role}@mairie.example.fr")
                page.click("text=Enregistrer le brouillon")
                page.wait_for_url("**/habilitations/*/")
                detail = page.url
                page.click("text=Soumettre la demande")
                page.wait_for_load_state()
                seen["submitted"] = page.locator("main").inner_text()
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "habilitation-soumise.png"), full_page=True)

                instructor = browser.new_context(locale="fr-FR")
                instructor.add_cookies([instructor_cookie])
                page = instructor.new_page()
                page.on("console", lambda m: m.type == "error" and problems.append(m.text))
                page.goto(detail)
                page.click("button:has-text('Valider')")
                page.wait_for_load_state()
                seen["validated"] = page.locator("main").inner_text()
                page.screenshot(path=str(SCREENSHOTS / "habilitation-validee.png"), full_page=True)
            finally:
                browser.close()
        seen["problems"] = problems
        return seen

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=120)


@pytest.mark.django_db(transaction=True)
def test_an_agent_requests_a_habilitation_and_an_instructor_validates_it(live_server):
    provider, commune = OrganisationFactory(name="DGFiP"), OrganisationFactory(name="Mairie de démonstration")
    api = ApiProduct.objects.create(
        slug="impots", name="Impôt particulier", provider=provider, description="Revenu fiscal de référence",
        upstream_base_url="http://127.0.0.1:9/dgfip", published=True,
    )  # fmt: skip
    ApiScope.objects.create(api=api, code="dgfip_rfr", label="Revenu fiscal de référence", fields=["rfr"])
    agent, instructor = UserFactory(), UserFactory()
    MembershipFactory(user=agent, organisation=commune, role=MembershipRole.AGENT)
    MembershipFactory(user=instructor, organisation=provider, role=MembershipRole.INSTRUCTOR)

    seen = journey(live_server.url, session_cookie(agent), session_cookie(instructor))

    habilitation = Habilitation.objects.get()
    assert habilitation.state == "validated" and habilitation.consumer == commune
    assert habilitation.active_authorization.scopes == ["dgfip_rfr"]
    assert "Soumise" in seen["submitted"]
    assert "Autorisation en vigueur" in seen["validated"] and "dgfip_rfr" in seen["validated"]
    assert seen["problems"] == []
