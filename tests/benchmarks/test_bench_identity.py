"""benchmarks/bench_identity.py and its bare view (benchmarks/urls.py), without running the benchmark."""

import base64
import importlib
from urllib.parse import urlencode

import pytest
from django.urls import clear_url_caches
from oauth2_provider.models import IDToken

import platform_core.urls
from benchmarks import bench_identity
from identity.models import CitizenIdentity
from tests.factories import OrganisationFactory
from tests.identity.test_sign_in import make_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def benchmark_views(settings):
    settings.BENCHMARK_VIEWS = True
    importlib.reload(platform_core.urls)
    clear_url_caches()
    yield
    settings.BENCHMARK_VIEWS = False
    importlib.reload(platform_core.urls)
    clear_url_caches()


@pytest.fixture
def service():
    from identity.services import service_provider_create

    service, _secret = service_provider_create(
        organisation=OrganisationFactory(),
        name="Mairie du banc d'essai",
        redirect_uris=[bench_identity.REDIRECT],
        client_id=bench_identity.CLIENT_ID,
        secret=bench_identity.SECRET,
        scopes=bench_identity.SCOPE,
    )
    return service


def test_the_benchmark_module_imports_and_says_what_it_measures():
    assert callable(bench_identity.run)
    assert bench_identity.__doc__.strip().splitlines()[0]


def test_the_bare_view_selects_and_inserts_when_benchmark_views_is_on(client, service, benchmark_views):
    response = client.post("/bench/select-insert", {"client_id": bench_identity.CLIENT_ID})

    assert response.status_code == 200
    assert IDToken.objects.filter(jti=response.json()["jti"], application=service.application).exists()
    assert client.post("/bench/select-insert", {"client_id": "inconnu"}).status_code == 404


def test_there_is_no_bare_view_by_default(client, service):
    assert client.post("/bench/select-insert", {"client_id": bench_identity.CLIENT_ID}).status_code == 404
    assert not IDToken.objects.exists()


def test_minted_codes_redeem_like_those_of_a_sign_in(client, service, django_user_model):
    # given a citizen and codes minted for them as the consent step leaves them
    user = django_user_model.objects.create_citizen(username="usager-banc")
    CitizenIdentity.objects.create(
        user=user, identity_hash="h" * 64, given_name="Angela", family_name="DUBOIS", birthdate="1962-08-24",
        gender="female", birthplace="75107", birthcountry="99100",
    )  # fmt: skip
    provider = make_provider("http://127.0.0.1:9/usagers", slug=bench_identity.FI_SLUG)
    codes = bench_identity.mint_codes(2, service, provider, [user])

    # when the service redeems one, then reads userinfo
    basic = base64.b64encode(f"{bench_identity.CLIENT_ID}:{bench_identity.SECRET}".encode()).decode()
    data = {"grant_type": "authorization_code", "code": codes[0], "redirect_uri": bench_identity.REDIRECT}
    tokens = client.post(
        "/api/v2/token",
        urlencode(data),
        "application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert tokens.status_code == 200, tokens.content
    userinfo = client.get("/api/v2/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access_token']}")

    # then both answer as after a real sign-in
    assert userinfo.status_code == 200 and userinfo["Content-Type"] == "application/jwt"
