"""The portal pages: DSFR layout, home page, language switch and error pages."""

import json
import re

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.test import override_settings
from django.urls import include, path

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("the database is on fire")


def _forbidden(request):
    raise PermissionDenied


def _suspicious(request):
    raise SuspiciousOperation("tampered")


# A URLconf of this module, for the error pages that no real view raises on purpose.
urlpatterns = [
    path("boom/", _boom),
    path("api/boom/", _boom),
    path("forbidden/", _forbidden),
    path("api/forbidden/", _forbidden),
    path("suspicious/", _suspicious),
    path("i18n/", include("django.conf.urls.i18n")),
]
handler400 = "platform_core.views.errors.bad_request"
handler403 = "platform_core.views.errors.permission_denied"
handler404 = "platform_core.views.errors.page_not_found"
handler500 = "platform_core.views.errors.server_error"

errors_urls = override_settings(ROOT_URLCONF=__name__)

AUDIENCES = ["usagers", "agents", "developpeurs", "grand-public"]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>")


def assert_dsfr_layout(html: str) -> None:
    assert 'class="fr-header"' in html
    assert "République<br>Française" in html
    assert 'class="fr-header__service-title"' in html
    assert 'class="fr-skiplinks"' in html
    assert 'href="#content"' in html
    assert 'id="content"' in html
    assert 'class="fr-footer"' in html
    assert "/static/dsfr/dist/dsfr/dsfr.min.css" in html
    assert "/static/dsfr/dist/dsfr/dsfr.module.min.js" in html
    # Ready for a strict Content-Security-Policy: no inline script or style of our own.
    assert not INLINE_SCRIPT.search(html)
    assert 'style="' not in html


def test_home_page_in_french_speaks_to_the_four_audiences(client):
    response = client.get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == "fr"
    assert '<html lang="fr"' in html
    assert "<title>Accueil — Maillage</title>" in html
    assert_dsfr_layout(html)
    assert "Rationaliser les flux de données des administrations" in html
    for audience in AUDIENCES:
        assert f'id="{audience}"' in html
    for link in ['href="/statistiques"', 'href="/api/docs/"', 'href="/admin/"']:
        assert link in html
    assert '<a class="fr-nav__link" href="/" aria-current="page">Accueil</a>' in html
    assert "Accessibilité : non conforme" in html
    assert "data.gouv.fr" in html
    assert 'action="/i18n/setlang/"' in html


def test_home_page_headings_go_down_one_level_at_a_time(client):
    html = client.get("/").content.decode()

    levels = [int(level) for level in re.findall(r"<h([1-6])[\s>]", html)]
    assert levels.count(1) == 1
    assert levels[0] == 1
    assert all(after - before <= 1 for before, after in zip(levels, levels[1:], strict=False))


def test_language_switcher_shows_the_home_page_in_english(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    html = client.get("/").content.decode()
    assert '<html lang="en"' in html
    assert "Streamlining data flows between public administrations" in html
    assert "Public data that flows better" in html
    assert "Accessibility: not compliant" in html
    for audience in AUDIENCES:
        assert f'id="{audience}"' in html

    client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    assert '<html lang="fr"' in client.get("/").content.decode()


def test_about_page_holds_the_footer_mentions(client):
    response = client.get("/a-propos/")

    html = response.content.decode()
    assert response.status_code == 200
    assert_dsfr_layout(html)
    for anchor in ["accessibilite", "donnees-personnelles", "code-source", "contact"]:
        assert f'id="{anchor}"' in html


def test_unknown_page_is_a_dsfr_404_page(client):
    response = client.get("/nope")

    html = response.content.decode()
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert_dsfr_layout(html)
    assert "<h1>Page non trouvée</h1>" in html
    assert "Erreur 404" in html
    assert '<a class="fr-btn" href="/">' in html


def test_unknown_api_path_is_problem_json_not_html(client):
    response = client.get("/api/nope")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")
    assert json.loads(response.content)["status"] == 404


@errors_urls
def test_server_error_is_a_dsfr_500_page_rendered_without_the_database(client, django_assert_num_queries):
    client.raise_request_exception = False

    with django_assert_num_queries(0):
        response = client.get("/boom/")

    html = response.content.decode()
    assert response.status_code == 500
    assert_dsfr_layout(html)
    assert "Erreur 500" in html
    assert "the database is on fire" not in html


@errors_urls
def test_server_error_under_api_is_problem_json(client):
    client.raise_request_exception = False

    response = client.get("/api/boom/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/problem+json")
    assert json.loads(response.content)["status"] == 500


@errors_urls
def test_permission_denied_is_a_dsfr_403_page_or_problem_json_under_api(client):
    page = client.get("/forbidden/")
    api = client.get("/api/forbidden/")

    assert page.status_code == 403
    assert "Erreur 403" in page.content.decode()
    assert api.status_code == 403
    assert api["Content-Type"].startswith("application/problem+json")


@errors_urls
def test_bad_request_is_a_dsfr_400_page(client):
    response = client.get("/suspicious/")

    assert response.status_code == 400
    assert "Erreur 400" in response.content.decode()


def test_csrf_failure_is_a_dsfr_403_page(client):
    client.handler.enforce_csrf_checks = True

    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    assert response.status_code == 403
    assert "Session expirée" in response.content.decode()


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_page_is_served_in_the_language_asked_by_the_browser(client, language):
    response = client.get("/", headers={"accept-language": language})

    assert f'<html lang="{language}"' in response.content.decode()
