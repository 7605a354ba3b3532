"""Maillage as a client of identity providers, against the sandbox provider running on loopback."""

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.db import connection
from jwcrypto import jwk, jwt

from identity import federation
from identity.models import IdentityProvider
from protection.models import JournalEntry
from tests.factories import UserFactory
from tests.identity.conftest import CLIENT_ID, REDIRECT, SECRET, SandboxIdp
from tests.servers import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_caches():
    federation.clear_caches()
    yield
    federation.clear_caches()


def make_provider(issuer: str, **fields) -> IdentityProvider:
    defaults = {"slug": "sandbox-usagers", "name": "Sandbox", "client_id": CLIENT_ID, "client_secret": SECRET,
                "enabled": True}  # fmt: skip
    return IdentityProvider.objects.create(issuer=issuer, **(defaults | fields))


@pytest.fixture
def provider(idp):
    return make_provider(f"{idp}/usagers")


def sign_in(provider, login: str, nonce: str = "n" * 24) -> tuple[dict, str]:
    """Drive the FI's pages as a browser would; returns (callback parameters, code_verifier)."""
    meta = federation.metadata(provider)
    verifier, challenge = federation.new_pkce()
    url = federation.authorization_url(provider, meta, redirect_uri=REDIRECT, state="st", nonce=nonce,
                                       code_challenge=challenge)  # fmt: skip
    page = httpx.get(url)
    transaction = re.search(r'name="transaction" value="([^"]+)"', page.text).group(1)
    answer = httpx.post(meta.authorization_endpoint, data={"transaction": transaction, "login": login})
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}, verifier


def test_a_whole_sign_in_with_the_sandbox_provider(provider):
    meta = federation.metadata(provider)
    answer, verifier = sign_in(provider, "nadia", nonce="nonce-of-this-sign-in-42")
    assert answer["state"] == "st" and answer["iss"] == provider.issuer

    tokens = federation.exchange_code(provider, meta, code=answer["code"], redirect_uri=REDIRECT,
                                      code_verifier=verifier)  # fmt: skip
    claims = federation.validate_id_token(
        provider, meta, tokens["id_token"], nonce="nonce-of-this-sign-in-42"
    )
    info = federation.fetch_userinfo(provider, meta, tokens["access_token"], subject=claims["sub"])

    assert claims["acr"] == "eidas1"
    assert (info["family_name"], info["preferred_username"]) == ("BENALI", "LEFEBVRE")
    with pytest.raises(federation.FederationError) as error:  # the code was burnt
        federation.exchange_code(provider, meta, code=answer["code"], redirect_uri=REDIRECT,
                                 code_verifier=verifier)  # fmt: skip
    assert error.value.code == "token_failed"


def test_discovery_must_name_exactly_the_configured_issuer(idp):
    provider = make_provider(f"{idp}/usagers/")  # a trailing slash is another issuer

    with pytest.raises(federation.FederationError) as error:
        federation.metadata(provider)
    assert error.value.code == "issuer_mismatch"


def test_endpoints_must_be_https_off_loopback():
    provider = make_provider("http://fi.example.org")

    with pytest.raises(federation.FederationError) as error:
        federation.metadata(provider)
    assert error.value.code == "discovery_invalid"


# --- ID tokens: each defect is refused with its own code ---------------------------------------------


@pytest.fixture
def forge(provider, sandbox_idp):
    """Sign ID tokens with the sandbox provider's own key (it is in its key file), or another key."""
    key = jwk.JWK.from_json(sandbox_idp.key_file.read_text())
    meta = federation.metadata(provider)

    def make(claims_override=None, *, key=key, header=None) -> str:
        now = int(time.time())
        claims = {"iss": provider.issuer, "aud": CLIENT_ID, "sub": "s1", "nonce": "n" * 24, "iat": now,
                  "exp": now + 60} | (claims_override or {})  # fmt: skip
        token = jwt.JWT(header=header or {"alg": "RS256", "kid": key["kid"]}, claims=claims)
        token.make_signed_token(key)
        return token.serialize()

    return meta, make


def refused(provider, meta, token: str, nonce: str = "n" * 24) -> str:
    with pytest.raises(federation.FederationError) as error:
        federation.validate_id_token(provider, meta, token, nonce=nonce)
    return error.value.code


def test_a_well_formed_token_passes(provider, forge):
    meta, make = forge
    assert federation.validate_id_token(provider, meta, make(), nonce="n" * 24)["sub"] == "s1"


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"iss": "http://127.0.0.1:9/other"}, "wrong_issuer"),
        ({"aud": "someone-else"}, "wrong_audience"),
        ({"aud": [CLIENT_ID, "someone-else"]}, "wrong_audience"),  # several audiences, no azp
        ({"nonce": "another-sign-in-nonce-xx"}, "wrong_nonce"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iat": int(time.time()) + 3600}, "bad_iat"),
        ({"sub": ""}, "malformed_token"),
    ],
)
def test_defective_claims_are_refused(provider, forge, claims, code):
    meta, make = forge
    assert refused(provider, meta, make(claims)) == code


def test_a_signature_by_another_key_is_refused(provider, forge):
    meta, make = forge
    impostor = jwk.JWK.generate(kty="RSA", size=2048)
    kid = json.loads(httpx.get(meta.jwks_uri).text)["keys"][0]["kid"]

    assert refused(provider, meta, make(key=impostor, header={"alg": "RS256", "kid": kid})) == "bad_signature"
    assert (
        refused(provider, meta, make(key=impostor, header={"alg": "RS256", "kid": "other"})) == "unknown_kid"
    )


def test_symmetric_and_unsigned_tokens_are_refused(provider, forge):
    meta, make = forge
    secret = jwk.JWK(kty="oct", k="c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA")
    unsigned = "eyJhbGciOiJub25lIn0." + "eyJzdWIiOiJzMSJ9" + "."

    assert refused(provider, meta, make(key=secret, header={"alg": "HS256"})) == "bad_algorithm"
    assert refused(provider, meta, unsigned) == "bad_algorithm"
    assert refused(provider, meta, "not-a-jwt") == "malformed_token"


def test_a_rotated_key_is_fetched_on_its_first_unknown_kid(tmp_path, monkeypatch):
    server = SandboxIdp(free_port(), tmp_path / "key.json").start()
    try:
        provider = make_provider(f"{server.base}/usagers")
        meta = federation.metadata(provider)
        old_key = jwk.JWK.from_json(server.key_file.read_text())
        federation.signing_key(meta, old_key["kid"])  # the JWKS is now cached
        server.stop()
        server.key_file.unlink()
        server.start()  # a new key, published under a new kid
        new_key = jwk.JWK.from_json(server.key_file.read_text())
        token = jwt.JWT(header={"alg": "RS256", "kid": new_key["kid"]},
                        claims={"iss": provider.issuer, "aud": CLIENT_ID, "sub": "s1", "nonce": "n" * 24,
                                "iat": int(time.time()), "exp": int(time.time()) + 60})  # fmt: skip
        token.make_signed_token(new_key)

        # Fetched again at most every JWKS_MIN_REFRESH seconds: within it, the new kid is unknown.
        assert refused(provider, meta, token.serialize()) == "unknown_kid"
        monkeypatch.setattr(federation, "JWKS_MIN_REFRESH", 0)
        assert federation.validate_id_token(provider, meta, token.serialize(), nonce="n" * 24)["sub"] == "s1"
    finally:
        server.stop()


# --- the admin ------------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(staff=True, is_superuser=True))
    return client


def form_data(issuer: str, **overrides) -> dict:
    return {"name": "Sandbox usagers", "slug": "sandbox-usagers", "audience": "citizen", "issuer": issuer,
            "discovery_url": "", "client_id": CLIENT_ID, "client_secret": SECRET, "scopes": "openid profile",
            "eidas_level": "eidas1", "display_order": "10", "enabled": "on"} | overrides  # fmt: skip


def test_an_fi_is_added_in_the_admin_by_its_issuer_alone(staff_client, idp):
    url = "/admin/identity/identityprovider/add/"
    wrong = staff_client.post(url, form_data(f"{idp}/usagers/"))
    assert wrong.status_code == 200 and "Document de découverte inutilisable" in wrong.content.decode()
    assert not IdentityProvider.objects.exists()

    response = staff_client.post(url, form_data(f"{idp}/usagers"))

    assert response.status_code == 302
    provider = IdentityProvider.objects.get()
    assert provider.client_secret == SECRET
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM identity_identityprovider")
        assert cursor.fetchone()[0].startswith("enc:v1:")  # encrypted at rest
    entry = JournalEntry.objects.get(event_type="identity.provider_created")
    assert entry.data["issuer"] == provider.issuer and SECRET not in json.dumps(entry.data)
    change_page = staff_client.get(f"/admin/identity/identityprovider/{provider.pk}/change/").content.decode()
    assert SECRET not in change_page

    kept = staff_client.post(
        f"/admin/identity/identityprovider/{provider.pk}/change/",
        form_data(provider.issuer, client_secret=""),
    )
    assert kept.status_code == 302
    provider.refresh_from_db()
    assert provider.client_secret == SECRET  # an empty field keeps the stored secret
