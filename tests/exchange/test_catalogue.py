"""The public catalogue: HTML pages, the read API and the OpenAPI documents; published APIs only, never
an upstream address or secret."""

import pytest

from exchange.models import ApiProduct, ApiScope, LegalFramework
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db
SECRET = "upstream-secret-never-shown"  # noqa: S105 - a test value
UPSTREAM = "http://10.0.0.7:8443/hidden-upstream"


@pytest.fixture
def apis():
    provider = OrganisationFactory(name="Fournisseur de démonstration")
    published = ApiProduct.objects.create(
        slug="quotient", name="Quotient familial", provider=provider, description="Le quotient du foyer",
        upstream_base_url=UPSTREAM, upstream_secret=SECRET, published=True,
        openapi={"openapi": "3.0.3", "servers": [{"url": UPSTREAM}], "paths": {}},
    )  # fmt: skip
    ApiScope.objects.create(
        api=published, code="qf_quotient", label="Quotient du mois", fields=["quotientFamilial"],
        sensitivity="personal",
    )  # fmt: skip
    published.legal_frameworks.add(LegalFramework.objects.create(name="Code de la sécurité sociale"))
    hidden = ApiProduct.objects.create(
        slug="cachee", name="API non publiée", provider=provider, description="Pas encore",
        upstream_base_url=UPSTREAM, upstream_secret=SECRET, published=False,
    )  # fmt: skip
    return {"published": published, "hidden": hidden}


def assert_no_secret(content: bytes):
    text = content.decode()
    assert SECRET not in text
    assert UPSTREAM not in text and "10.0.0.7" not in text


def test_the_catalogue_page_lists_published_apis_only(client, apis):
    response = client.get("/catalogue/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Quotient familial" in html and "Fournisseur de démonstration" in html
    assert "Quotient du mois" in html and "Donnée personnelle" in html and "Bêta" in html
    assert "API non publiée" not in html
    assert 'href="/catalogue/" aria-current="page"' in html
    assert_no_secret(response.content)


def test_the_catalogue_search(client, apis):
    assert "Quotient familial" in client.get("/catalogue/", {"q": "quotient"}).content.decode()
    html = client.get("/catalogue/", {"q": "introuvable"}).content.decode()
    assert "Quotient familial" not in html and "introuvable" in html


def test_the_detail_page(client, apis):
    response = client.get("/catalogue/quotient/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Code de la sécurité sociale" in html
    assert "quotientFamilial" in html and "qf_quotient" in html
    assert "99.50" in html or "99,50" in html
    assert "/catalogue/quotient/openapi.json" in html
    assert_no_secret(response.content)


def test_the_openapi_document_has_no_upstream_address(client, apis, settings):
    response = client.get("/catalogue/quotient/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.0.3"
    # Consumers call the gateway: its address, its OAuth flow and its context parameters.
    assert document["servers"] == [
        {"url": f"{settings.PUBLIC_URL}/api/v1/gateway/quotient", "description": "Passerelle Maillage"}
    ]
    flow = document["components"]["securitySchemes"]["maillage"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"].endswith("/api/v1/oauth/token") and "qf_quotient" in flow["scopes"]
    assert_no_secret(response.content)


@pytest.mark.parametrize("path", ["/catalogue/cachee/", "/catalogue/cachee/openapi.json", "/catalogue/nope/"])
def test_unpublished_or_unknown_apis_are_404(client, apis, path):
    assert client.get(path).status_code == 404


def test_the_pages_exist_in_english(client, apis):
    response = client.get("/catalogue/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200


def test_the_api_lists_published_apis_paginated_without_secrets(client, apis):
    response = client.get("/api/v1/catalogue/apis/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [api] = body["results"]
    assert api["slug"] == "quotient" and api["provider"]["name"] == "Fournisseur de démonstration"
    assert api["scopes"] == [
        {"code": "qf_quotient", "label": "Quotient du mois", "description": "", "sensitivity": "personal",
         "fields": ["quotientFamilial"]}
    ]  # fmt: skip
    assert "upstream_base_url" not in api and "upstream_secret" not in api
    assert_no_secret(response.content)


def test_the_api_filters(client, apis):
    assert client.get("/api/v1/catalogue/apis/", {"q": "quotient"}).json()["count"] == 1
    assert client.get("/api/v1/catalogue/apis/", {"q": "rien"}).json()["count"] == 0
    assert client.get("/api/v1/catalogue/apis/", {"status": "stable"}).json()["count"] == 0
    assert client.get("/api/v1/catalogue/apis/", {"status": "beta"}).json()["count"] == 1
    invalid = client.get("/api/v1/catalogue/apis/", {"status": "nope"})
    assert invalid.status_code == 400
    assert invalid["Content-Type"].startswith("application/problem+json")


def test_the_api_detail_and_404(client, apis):
    response = client.get("/api/v1/catalogue/apis/quotient")
    assert response.status_code == 200
    assert response.json()["legal_frameworks"][0]["name"] == "Code de la sécurité sociale"
    assert_no_secret(response.content)

    for slug in ("cachee", "nope"):
        missing = client.get(f"/api/v1/catalogue/apis/{slug}")
        assert missing.status_code == 404
        assert missing["Content-Type"].startswith("application/problem+json")
