"""Browser security: a strict Content-Security-Policy every page lives with, HSTS and Secure cookies."""

import json
import re

import pytest
from django.conf import settings as django_settings

from tests.browser.test_home_browser import CHROMIUM, in_browser
from tests.factories import AGENT_PASSWORD, UserFactory
from tests.platform_core.test_configuration import start_django

EXPECTED_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self' 'nonce-*'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/a-propos/", "/admin/login/", "/api/docs/", "/api/v1/organisations/"])
def test_every_response_has_the_strict_policy_with_a_fresh_nonce(client, url):
    first, second = client.get(url), client.get(url)

    found = directives(first)
    nonces = [
        re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]) for response in (first, second)
    ]
    assert first.status_code == 200
    assert "unsafe-inline" not in first["Content-Security-Policy"]
    assert "unsafe-eval" not in first["Content-Security-Policy"]
    assert {name: re.sub(r"'nonce-[^']+'", "'nonce-*'", value) for name, value in found.items()} == (
        EXPECTED_DIRECTIVES
    )
    assert all(nonces) and nonces[0].group(1) != nonces[1].group(1)


@pytest.mark.django_db
def test_the_page_scripts_carry_the_nonce_of_their_response(client):
    response = client.get("/")

    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    html = response.content.decode()
    inline_scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert f'nonce="{nonce}"' in html
    assert all(f'nonce="{nonce}"' in tag for tag in inline_scripts)


# --- In a real browser --------------------------------------------------------------------------

COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${where}`);
});
"""


def visit_every_page(page, base_url: str) -> dict:
    console, failed = [], []
    page.add_init_script(COLLECT_VIOLATIONS)
    page.on("console", lambda message: message.type in {"error", "warning"} and console.append(message.text))
    page.on("pageerror", lambda error: console.append(str(error)))
    page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
    seen = {}

    def visit(name: str, url: str) -> None:
        page.goto(base_url + url, wait_until="networkidle")
        seen[name] = {
            "violations": page.evaluate("() => window.__cspViolations"),
            "title": page.title(),
        }

    visit("home", "/")
    seen["home"]["dsfr_js_started"] = page.evaluate(
        "() => document.documentElement.hasAttribute('data-fr-js')"
    )
    visit("about", "/a-propos/")
    visit("api_docs", "/api/docs/")
    page.locator(".swagger-ui .information-container").wait_for(timeout=15_000)
    page.wait_for_timeout(500)  # Swagger UI renders the operations after the schema arrives
    seen["api_docs"]["operations"] = page.locator(".swagger-ui .opblock").count()
    seen["api_docs"]["violations"] = page.evaluate("() => window.__cspViolations")
    visit("admin_login", "/admin/login/")
    page.fill("#id_username", "administratrice")
    page.fill("#id_password", AGENT_PASSWORD)
    with page.expect_navigation():
        page.click("#login-form input[type=submit]")
    page.wait_for_load_state("networkidle")
    seen["admin_index"] = {
        "violations": page.evaluate("() => window.__cspViolations"),
        "title": page.title(),
    }
    visit("admin_changelist", "/admin/platform_core/organisation/")
    seen["admin_changelist"]["rows"] = page.locator("#result_list tbody tr").count()
    # The admin's scripts run: the sidebar filter hides the models that do not match.
    page.fill("#nav-filter", "Organisations")
    seen["admin_changelist"]["groups_hidden"] = page.locator("#nav-sidebar a", has_text="Groupes").is_hidden()
    seen["admin_changelist"]["violations"] = page.evaluate("() => window.__cspViolations")
    seen["console"] = console
    seen["failed"] = failed
    return seen


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium")
@pytest.mark.django_db(transaction=True)
def test_every_page_works_under_the_policy_in_a_real_browser(live_server):
    from tests.factories import OrganisationFactory

    UserFactory(username="administratrice", staff=True, is_superuser=True)
    OrganisationFactory(name="Ville de Lyon", commune=True)

    seen = in_browser(visit_every_page, live_server.url)

    for name in ["home", "about", "api_docs", "admin_index", "admin_changelist"]:
        assert seen[name]["violations"] == [], (name, seen[name]["violations"])
    assert seen["home"]["dsfr_js_started"] is True
    assert seen["api_docs"]["operations"] >= 3
    assert "Tableau de bord" in seen["admin_index"]["title"]
    assert seen["admin_changelist"]["rows"] == 1
    assert seen["admin_changelist"]["groups_hidden"] is True
    assert [line for line in seen["console"] if "Content Security Policy" in line] == []
    assert seen["failed"] == []


# --- Production posture (DEBUG=0) ---------------------------------------------------------------

PRODUCTION_REQUEST = """
import json
from django.test import Client, override_settings

# Only the static files storage changes: the hashed manifest needs a collectstatic this test skips.
plain_static = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
with override_settings(STORAGES=plain_static):
    client = Client(HTTP_HOST="localhost")
    login = client.get("/admin/login/", secure=True)
    language = client.post("/i18n/setlang/", {"language": "en", "next": "/"}, secure=True)
    plain_http = client.get("/a-propos/")
print(json.dumps({
    "status": login.status_code,
    "hsts": login.get("Strict-Transport-Security"),
    "csp": login.get("Content-Security-Policy"),
    "cookies": {
        name: bool(morsel["secure"])
        for response in (login, language)
        for name, morsel in response.cookies.items()
    },
    "plain_http": [plain_http.status_code, plain_http.get("Location")],
}))
"""


def test_in_production_responses_carry_hsts_and_cookies_are_secure(tmp_path):
    database = django_settings.DATABASES["default"]
    result = start_django(
        tmp_path,
        ["shell", "--no-imports", "-c", PRODUCTION_REQUEST],
        DEBUG="0",
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
    )

    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["status"] == 200
    assert seen["hsts"] == "max-age=63072000; includeSubDomains; preload"
    assert "'nonce-" in seen["csp"]
    assert seen["cookies"] == {"csrftoken": True, "django_language": True}
    assert seen["plain_http"] == [301, "https://localhost/a-propos/"]
