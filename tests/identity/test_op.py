"""Maillage as the OpenID provider of service providers (FranceConnect v2): Maillage's endpoints with
Django's client, the identity provider (the sandbox) over HTTP in its own process.

The negative tests follow the OpenID Foundation basic OP plan and OWASP ASVS V10 where they apply."""

import base64
import hashlib
import html
import json
import secrets
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone
from jwcrypto import jwk, jwt
from oauth2_provider.models import AccessToken, Grant

from identity import claims, federation, op, op_keys
from identity.models import Authorization, Consent, ServiceProvider
from identity.services import service_provider_create
from protection.models import JournalEntry
from tests.factories import OrganisationFactory
from tests.identity.test_sign_in import local, make_provider, pick_account

pytestmark = pytest.mark.django_db
REDIRECT = "https://mairie.example.fr/callback/"
LOGOUT = "https://mairie.example.fr/au-revoir"


@pytest.fixture(autouse=True)
def _fresh_caches():
    federation.clear_caches()


@pytest.fixture
def fi(idp):
    return make_provider(f"{idp}/usagers")


@pytest.fixture
def service():
    organisation = OrganisationFactory(name="Mairie de démonstration")
    service, secret = service_provider_create(
        organisation=organisation,
        name="Mairie de démonstration",
        redirect_uris=[REDIRECT],
        post_logout_redirect_uris=[LOGOUT],
        scopes="openid profile birth email identite_pivot given_name",
    )
    service.secret = secret
    return service


def authorize_params(service, **overrides):
    params = {
        "client_id": service.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid profile birth",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(24),
        "acr_values": "eidas1",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def sign_in_at_fi(client, fi, location: str, login: str) -> str:
    """From the FI choice page (or a direct FI redirect) to the resume URL after the FI."""
    if location.startswith("/identite/connexion/"):
        choice = client.get(location)
        assert choice.status_code == 200, choice.content
        next_url = choice.context["next"]
        started = client.post(f"/identite/fi/{fi.slug}/", {"next": next_url})
        location = started["Location"]
    back = pick_account(location, login)
    callback = client.get(local(back))
    assert callback.status_code == 302, callback.content.decode()[:2000]
    return callback["Location"]


def journey(client, service, fi, login="angela", decision="accept", **overrides) -> tuple[dict, dict]:
    """authorize → FI choice → FI → callback → consent/information → back at the FS. Returns the
    authorization request's parameters and the FS redirect's query."""
    params = authorize_params(service, **overrides)
    response = client.get("/api/v2/authorize", params)
    assert response.status_code == 302, response.content.decode()[:2000]
    location = response["Location"]
    if not location.startswith("/identite/autorisation/"):
        location = sign_in_at_fi(client, fi, location, login)
    page = client.get(location)
    assert page.status_code == 200, page.content.decode()[:3000]
    answer = client.post(location, {"decision": decision})
    assert answer.status_code == 302
    assert answer["Location"].startswith(REDIRECT)
    return params, query(answer["Location"])


def basic(service) -> dict:
    token = base64.b64encode(f"{service.client_id}:{service.secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def exchange(client, service, code, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    return client.post(
        "/api/v2/token", urlencode(data), "application/x-www-form-urlencoded", **basic(service)
    )


def verify(token: str) -> tuple[dict, dict]:
    keys = jwk.JWKSet()
    for key in op_keys.keyring().published():
        keys.add(jwk.JWK(**key))
    parsed = jwt.JWT(jwt=token, key=keys, algs=["ES256", "RS256"])
    return json.loads(parsed.header), json.loads(parsed.claims)


# --- the journey ------------------------------------------------------------------------------------


def test_a_public_service_signs_a_citizen_in_and_reads_the_claims_its_scopes_allow(client, service, fi):
    params, back = journey(client, service, fi)

    assert back["state"] == params["state"] and back["iss"].endswith("/api/v2")
    tokens = exchange(client, service, back["code"])
    assert tokens.status_code == 200, tokens.content
    body = tokens.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 60 and "refresh_token" not in body
    header, claims = verify(body["id_token"])
    assert header["alg"] == "ES256" and header["kid"] == op_keys.keyring().active("ES256").kid
    assert claims["aud"] == service.client_id and claims["nonce"] == params["nonce"]
    assert claims["acr"] == "eidas1" and claims["idp_id"] == fi.slug
    assert claims["exp"] - claims["iat"] == 60 and claims["auth_time"] <= claims["iat"]
    assert {"given_name", "birthdate"}.isdisjoint(claims)  # identity claims come from userinfo

    userinfo = client.get("/api/v2/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert userinfo.status_code == 200 and userinfo["Content-Type"] == "application/jwt"
    _header, info = verify(userinfo.content.decode())
    assert info["sub"] == claims["sub"]
    assert info["given_name"] == "Angela Claire Louise" and info["family_name"] == "DUBOIS"
    assert info["birthplace"] == "75107" and info["birthcountry"] == "99100"
    assert info["gender"] == "female" and info["birthdate"] == "1962-08-24"
    assert "email" not in info  # not asked for
    events = list(JournalEntry.objects.values_list("event_type", flat=True))
    for event in ("identity.authorize_received", "identity.fi_chosen", "identity.fi_verified",
                  "identity.fs_signed_in", "identity.token_issued", "identity.userinfo_served"):  # fmt: skip
        assert event in events, event
    for event in ("identity.fi_chosen", "identity.fi_verified", "identity.registry_checked"):
        assert JournalEntry.objects.get(event_type=event).data["fs"] == service.client_id, event
    sign_ins = client.get("/identite/mon-espace/").context["sign_ins"]
    assert [(row["service"], row["fi"], row["acr"]) for row in sign_ins] == [
        ("Mairie de démonstration", fi.name, "eidas1")
    ]
    served = JournalEntry.objects.get(event_type="identity.userinfo_served")
    assert served.data["fs"] == service.client_id and served.data["fi"] == fi.slug
    assert served.subject and "DUBOIS" not in json.dumps(served.data)


def test_the_subject_is_pairwise_per_sector_and_stable_per_person(client, service, fi):
    _p, back = journey(client, service, fi)
    first = verify(exchange(client, service, back["code"]).json()["id_token"])[1]["sub"]
    client.logout()
    _p, back = journey(client, service, fi)
    assert verify(exchange(client, service, back["code"]).json()["id_token"])[1]["sub"] == first

    # The subject derives from the identity hash (the same for every FI that vouches for the same
    # pivot identity: test_sign_in.test_the_same_person_through_two_providers_is_one_account).
    user = Authorization.objects.first().user
    assert first == claims.pairwise_subject(service.sector, user.pivot_identity.identity_hash)
    other, _secret = service_provider_create(
        organisation=service.organisation,
        name="Autre secteur",
        redirect_uris=["https://impots.example.fr/cb"],
    )
    same_sector, _secret = service_provider_create(
        organisation=service.organisation,
        name="Autre domaine, même secteur",
        redirect_uris=["https://demarches.example.org/cb"],
        sector_identifier_uri="https://mairie.example.fr/secteur.json",
    )
    assert op.subject_for(user, other) != first == op.subject_for(user, same_sector)


def test_a_private_service_asks_consent_once_and_it_can_be_revoked(client, service, fi):
    service.private = True
    service.save()

    journey(client, service, fi)
    consent = Consent.objects.get()
    assert set(consent.claims) >= {"given_name", "birthplace"} and consent.revoked_at is None
    assert JournalEntry.objects.filter(event_type="identity.consent_given").count() == 1

    # Same claims again: no second question; the code comes straight back.
    params = authorize_params(service)
    response = client.get("/api/v2/authorize", params)
    resumed = client.get(response["Location"])
    assert resumed.status_code == 302 and "code=" in resumed["Location"]

    # prompt=consent asks again.
    response = client.get("/api/v2/authorize", authorize_params(service, prompt="consent"))
    assert client.get(response["Location"]).status_code == 200

    space = client.get("/identite/mon-espace/")
    assert "Mairie de démonstration" in space.content.decode()
    revoked = client.post("/identite/mon-espace/consentements/", {"consent": consent.pk})
    assert revoked.status_code == 302
    consent.refresh_from_db()
    assert consent.revoked_at is not None
    assert JournalEntry.objects.filter(event_type="identity.consent_revoked").exists()


def test_refusing_consent_returns_access_denied_to_the_service(client, service, fi):
    service.private = True
    service.save()
    params, back = journey(client, service, fi, decision="refuse")
    assert back["error"] == "access_denied" and back["state"] == params["state"]
    assert not Consent.objects.exists()


def test_someone_else_cannot_revoke_my_consent(client, service, fi, django_user_model):
    service.private = True
    service.save()
    journey(client, service, fi)
    consent = Consent.objects.get()
    client.logout()
    other = django_user_model.objects.create_user("autre", password="x" * 20)
    client.force_login(other)
    assert client.post("/identite/mon-espace/consentements/", {"consent": consent.pk}).status_code == 404
    consent.refresh_from_db()
    assert consent.revoked_at is None


def test_idp_hint_skips_the_choice_and_the_level_filters_providers(client, service, fi, idp):
    response = client.get("/api/v2/authorize", authorize_params(service, idp_hint=fi.slug))
    assert response["Location"].startswith(f"{idp}/usagers/")

    strong = make_provider(f"{idp}/agents", slug="fi-eidas2", eidas_level="eidas2")
    strong.audience = "citizen"
    strong.save()
    service.eidas_levels = ["eidas1", "eidas2"]
    service.save()
    response = client.get("/api/v2/authorize", authorize_params(service, acr_values="eidas2 eidas3"))
    choice = client.get(response["Location"])
    slugs = [p.slug for p in choice.context["providers"]]
    assert slugs == ["fi-eidas2"]

    service.denied_providers.add(strong)
    response = client.get("/api/v2/authorize", authorize_params(service, acr_values="eidas2"))
    assert [p.slug for p in client.get(response["Location"]).context["providers"]] == []


def test_acr_values_pick_the_lowest_and_unknown_gives_the_default(service):
    service.eidas_levels = ["eidas2", "eidas3"]
    assert service.eidas_level_for("eidas3 eidas2") == "eidas2"
    assert service.eidas_level_for("eidas1") == "eidas2"
    assert service.eidas_level_for("niveau-inconnu") == "eidas2"
    assert service.eidas_level_for("eidas3") == "eidas3"


def test_an_existing_session_is_reused_unless_prompt_login(client, service, fi, idp):
    journey(client, service, fi)
    again = client.get("/api/v2/authorize", authorize_params(service))
    assert again["Location"].startswith("/identite/autorisation/")
    forced = client.get("/api/v2/authorize", authorize_params(service, prompt="login"))
    assert forced["Location"].startswith("/identite/connexion/")


def test_ui_locales_sets_the_language_of_the_sign_in_pages(client, service, fi):
    response = client.get("/api/v2/authorize", authorize_params(service, ui_locales="en-GB fr"))
    assert response.cookies["django_language"].value == "en"
    choice = client.get(response["Location"])
    assert "Sign in" in choice.content.decode()


def test_discovery_lists_what_is_supported(client):
    document = client.get("/api/v2/.well-known/openid-configuration").json()
    assert document["issuer"].endswith("/api/v2")
    assert document["response_types_supported"] == ["code"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    }
    assert document["acr_values_supported"] == ["eidas1", "eidas2", "eidas3"]
    assert document["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    assert document["subject_types_supported"] == ["pairwise"]
    assert "identite_pivot" in document["scopes_supported"]
    jwks = client.get("/api/v2/jwks").json()
    assert {key["alg"] for key in jwks["keys"]} == {"ES256", "RS256"}


def test_rs256_services_get_rs256_tokens(client, service, fi):
    service.signing_alg = "RS256"
    service.save()
    _p, back = journey(client, service, fi)
    header, _claims = verify(exchange(client, service, back["code"]).json()["id_token"])
    assert header["alg"] == "RS256"


def test_client_secret_post_works_too(client, service, fi):
    _p, back = journey(client, service, fi)
    data = {
        "grant_type": "authorization_code",
        "code": back["code"],
        "redirect_uri": REDIRECT,
        "client_id": service.client_id,
        "client_secret": service.secret,
    }
    assert client.post("/api/v2/token", data).status_code == 200


def test_private_key_jwt_authenticates_a_service_and_an_assertion_is_used_once(client, service, fi):
    key = jwk.JWK.generate(kty="EC", crv="P-256", kid="fs-key-1")
    service.auth_method = "private_key_jwt"
    service.jwks = {"keys": [json.loads(key.export_public())]}
    service.save()

    def assertion(**claims):
        now = int(time.time())
        body = {"iss": service.client_id, "sub": service.client_id, "aud": "http://testserver/api/v2/token",
                "iat": now, "exp": now + 60, "jti": secrets.token_hex(8), **claims}  # fmt: skip
        from django.conf import settings

        body["aud"] = f"{settings.PUBLIC_URL}/api/v2/token"
        token = jwt.JWT(header={"alg": "ES256", "kid": "fs-key-1"}, claims=body)
        token.make_signed_token(key)
        return token.serialize()

    def redeem(code, client_assertion):
        return client.post("/api/v2/token", {
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion,
        })  # fmt: skip

    _p, back = journey(client, service, fi)
    good = assertion()
    assert redeem(back["code"], good).status_code == 200
    _p, back = journey(client, service, fi)
    assert redeem(back["code"], good).status_code == 401  # the same jti again
    other_key = jwk.JWK.generate(kty="EC", crv="P-256", kid="fs-key-1")
    forged = jwt.JWT(header={"alg": "ES256", "kid": "fs-key-1"}, claims=json.loads(
        jwt.JWT(jwt=assertion(), key=key).claims))  # fmt: skip
    forged.make_signed_token(other_key)
    assert redeem(back["code"], forged.serialize()).status_code == 401
    # A secret no longer authenticates a private_key_jwt service.
    assert exchange(client, service, back["code"]).status_code == 401


def test_revocation_follows_rfc_7009(client, service, fi):
    _p, back = journey(client, service, fi)
    access = exchange(client, service, back["code"]).json()["access_token"]
    revoked = client.post(
        "/api/v2/token/revocation",
        urlencode({"token": access}),
        "application/x-www-form-urlencoded",
        **basic(service),
    )
    assert revoked.status_code == 200
    assert client.get("/api/v2/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 401
    # An unknown token is not an error (RFC 7009 §2.2).
    unknown = client.post(
        "/api/v2/token/revocation",
        urlencode({"token": "nothing"}),
        "application/x-www-form-urlencoded",
        **basic(service),
    )
    assert unknown.status_code == 200


def test_logout_ends_both_sessions_and_returns_to_the_service_with_its_state(client, service, fi, idp):
    _p, back = journey(client, service, fi)
    id_token = exchange(client, service, back["code"]).json()["id_token"]

    ended = client.get(
        "/api/v2/session/end",
        {"id_token_hint": id_token, "post_logout_redirect_uri": LOGOUT, "state": "etat-fs"},
    )
    assert ended.status_code == 302 and ended["Location"].startswith(f"{idp}/usagers/")
    assert "_auth_user_id" not in client.session
    fi_logout = query(ended["Location"])
    back_from_fi = client.get("/identite/fi/deconnexion", {"state": fi_logout["state"]})
    assert back_from_fi.status_code == 302
    assert back_from_fi["Location"] == f"{LOGOUT}?state=etat-fs"
    assert JournalEntry.objects.filter(event_type="identity.fs_signed_out").exists()


# --- bad input: authorization request ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"nonce": None}, "invalid_request"),
        ({"nonce": "trop-court"}, "invalid_request"),
        ({"state": None}, "invalid_request"),
        ({"acr_values": None}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"scope": "openid inconnu"}, "invalid_scope"),
        ({"scope": "openid phone"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"prompt": "none"}, "invalid_request"),
        ({"prompt": "select_account"}, "invalid_request"),
        ({"code_challenge": "a" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "a" * 43}, "invalid_request"),
        ({"claims": "{pas du json"}, "invalid_request"),
    ],
)
def test_a_bad_request_goes_back_to_the_service_with_an_oidc_error(client, service, overrides, error):
    params = authorize_params(service, **overrides)
    response = client.get("/api/v2/authorize", params)
    assert response.status_code == 302 and response["Location"].startswith(REDIRECT)
    answer = query(response["Location"])
    assert answer["error"] == error and answer["error_description"]
    assert answer.get("state") == params.get("state")
    assert JournalEntry.objects.filter(event_type="identity.authorize_refused").exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": "https://attacker.example/callback/"},
        {"redirect_uri": REDIRECT.rstrip("/")},  # trailing slash matters
        {"redirect_uri": REDIRECT + "?x=1"},
        {"redirect_uri": None},
        {"client_id": "inconnu"},
        {"client_id": "nul\x00"},
    ],
)
def test_an_unknown_client_or_redirect_uri_gets_a_page_never_a_redirect(client, service, overrides):
    response = client.get("/api/v2/authorize", authorize_params(service, **overrides))
    assert response.status_code == 400 and "text/html" in response["Content-Type"]
    assert "n'est pas reconnu" in html.unescape(response.content.decode())


def test_a_public_service_must_use_pkce_s256(client, fi, service):
    public, _secret = service_provider_create(
        organisation=service.organisation,
        name="Appli mobile",
        redirect_uris=[REDIRECT],
        public=True,
        scopes="openid profile birth",
    )
    response = client.get("/api/v2/authorize", authorize_params(public))
    assert query(response["Location"])["error"] == "invalid_request"

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    _p, back = journey(client, public, fi, code_challenge=challenge, code_challenge_method="S256")
    base = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
            "client_id": public.client_id}  # fmt: skip
    wrong = client.post("/api/v2/token", {**base, "code_verifier": secrets.token_urlsafe(48)})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    _p, back = journey(client, public, fi, code_challenge=challenge, code_challenge_method="S256")
    right = client.post("/api/v2/token", {**base, "code": back["code"], "code_verifier": verifier})
    assert right.status_code == 200, right.content


# --- bad input: token, userinfo, logout ----------------------------------------------------------


def test_a_replayed_code_is_refused_and_revokes_the_tokens_it_gave(client, service, fi):
    _p, back = journey(client, service, fi)
    first = exchange(client, service, back["code"]).json()
    again = exchange(client, service, back["code"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert (
        client.get("/api/v2/userinfo", HTTP_AUTHORIZATION=f"Bearer {first['access_token']}").status_code
        == 401
    )
    assert JournalEntry.objects.filter(event_type="identity.code_replayed").exists()


def test_an_expired_code_is_refused(client, service, fi):
    _p, back = journey(client, service, fi)
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert exchange(client, service, back["code"]).json()["error"] == "invalid_grant"


def test_a_wrong_secret_and_another_clients_code_are_refused(client, service, fi):
    _p, back = journey(client, service, fi)
    other, other_secret = service_provider_create(
        organisation=service.organisation, name="Autre", redirect_uris=[REDIRECT]
    )
    other.secret = other_secret
    assert exchange(client, other, back["code"]).json()["error"] == "invalid_grant"
    service_wrong = ServiceProvider.objects.get(pk=service.pk)
    service_wrong.secret = "mauvais-secret"
    assert exchange(client, service_wrong, back["code"]).status_code == 401
    moved = exchange(client, service, back["code"], redirect_uri=REDIRECT.rstrip("/"))
    assert moved.status_code == 400 and moved.json()["error"] == "invalid_request"  # oauthlib's mismatch


def test_userinfo_refuses_missing_and_unknown_tokens(client):
    assert client.get("/api/v2/userinfo").status_code == 401
    response = client.get("/api/v2/userinfo", HTTP_AUTHORIZATION="Bearer inconnu")
    assert response.status_code == 401 and 'error="invalid_token"' in response["WWW-Authenticate"]


def test_logout_refuses_a_missing_forged_or_old_hint_and_unregistered_uris(client, service, fi):
    _p, back = journey(client, service, fi)
    id_token = exchange(client, service, back["code"]).json()["id_token"]
    assert client.get("/api/v2/session/end").status_code == 400
    assert client.get("/api/v2/session/end", {"id_token_hint": id_token[:-4] + "AAAA"}).status_code == 400
    unregistered = client.get(
        "/api/v2/session/end",
        {"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example/"},
    )
    assert unregistered.status_code == 400 and "_auth_user_id" in client.session

    _header, claims = verify(id_token)
    claims["iat"] = claims["exp"] = int(time.time()) - 3600
    old = op.sign(claims, "ES256")
    assert client.get("/api/v2/session/end", {"id_token_hint": old}).status_code == 400


def test_a_service_for_agents_gets_proconnect_like_claims(client, service, idp):
    agents = make_provider(f"{idp}/agents", slug="demo-agents", audience="agent")
    dinum = OrganisationFactory(siret="13002526500013", name="DINUM")
    service.audience = "agent"
    service.scopes = "openid given_name usual_name email uid siret birthplace"
    service.save()

    params = authorize_params(service, scope="openid given_name usual_name email uid siret birthplace")
    response = client.get("/api/v2/authorize", params)
    choice = client.get(response["Location"])
    assert choice.context["providers"] == [] and choice.context["agent_providers"] == [agents]
    _p, back = journey(client, service, agents, login="camille.agent", **params)
    access = exchange(client, service, back["code"]).json()["access_token"]
    _header, info = verify(
        client.get("/api/v2/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").content.decode()
    )

    assert info["siret"] == dinum.siret and info["usual_name"] == "ROUSSEAU"
    assert info["email"] == "camille.rousseau@numerique.gouv.fr" and info["uid"] == info["sub"]
    assert "birthplace" not in info  # nothing is invented for a professional account


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": "https://mairie.example.fr/req.jwt"}, "request_uri_not_supported"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"max_age": "bientôt"}, "invalid_request"),
    ],
)
def test_unsupported_request_objects_and_bad_max_age_are_refused(client, service, overrides, error):
    response = client.get("/api/v2/authorize", authorize_params(service, **overrides))
    assert query(response["Location"])["error"] == error


def test_max_age_asks_the_fi_again_when_the_authentication_is_older(client, service, fi, idp):
    journey(client, service, fi)
    recent = client.get("/api/v2/authorize", authorize_params(service, max_age="600"))
    assert recent["Location"].startswith("/identite/autorisation/")
    session = client.session
    session["federation_signed_in_with"] = {**session["federation_signed_in_with"], "at": time.time() - 700}
    session.save()
    stale = client.get("/api/v2/authorize", authorize_params(service, max_age="600", idp_hint=fi.slug))
    assert stale["Location"].startswith(f"{idp}/usagers/") and query(stale["Location"])["prompt"] == "login"


def test_the_token_endpoint_is_rate_limited_per_client_with_an_oauth_error(client, service, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "oidc": {"client": "2/min", "ip": "1000/min"}}
    answers = [exchange(client, service, "code-inconnu") for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 429]
    assert answers[2].json()["error"] == "rate_limited" and int(answers[2]["Retry-After"]) > 0
    assert answers[0]["RateLimit-Limit"] == "2"


def test_expired_codes_tokens_and_old_authorizations_are_purged_and_journaled(client, service, fi):
    from oauth2_provider.models import AccessToken, IDToken

    from identity.tasks import purge_expired_tokens_task

    _p, back = journey(client, service, fi)
    exchange(client, service, back["code"])
    _p, unused = journey(client, service, fi)
    past = timezone.now() - timedelta(days=2)
    AccessToken.objects.update(expires=past)
    IDToken.objects.update(expires=past)
    Grant.objects.update(expires=past)
    Authorization.objects.update(created_at=past)

    counts = purge_expired_tokens_task()

    assert counts == {"codes": 1, "access": 1, "identity": 1, "records": 2}
    assert not (AccessToken.objects.exists() or IDToken.objects.exists() or Grant.objects.exists())
    assert not Authorization.objects.exists()
    assert JournalEntry.objects.get(event_type="identity.tokens_purged").data == counts


def test_userinfo_takes_the_token_from_the_header_only(client, service, fi):
    _p, back = journey(client, service, fi)
    access = exchange(client, service, back["code"]).json()["access_token"]
    assert client.get("/api/v2/userinfo", {"access_token": access}).status_code == 401
    assert client.post("/api/v2/userinfo", {"access_token": access}).status_code == 401
    assert client.get("/api/v2/userinfo", HTTP_AUTHORIZATION=f"Basic {access}").status_code == 401
    assert client.get("/api/v2/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/v2/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 401
