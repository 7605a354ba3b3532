"""The code-for-token exchange's short path (identity/op_token.py) against oauthlib's: the same answer,
the same rows and journal entry, every refusal still oauthlib's, in a few statements.

Codes are minted as the consent step writes them (a Grant and its Authorization), so that these tests
need no identity provider; the whole journey is in test_op.py."""

import base64
import hashlib
import json
import secrets
import threading
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, IDToken

from identity import op, op_token
from identity.models import Authorization, CitizenIdentity, IdentityProvider, User
from identity.pivot import PIVOT_FIELDS, PivotIdentity, identity_hash
from identity.services import service_provider_create
from protection import journal
from protection.models import JournalEntry
from tests.factories import OrganisationFactory
from tests.identity.test_op import verify

pytestmark = pytest.mark.django_db
REDIRECT = "https://mairie.example.fr/callback/"


@pytest.fixture
def service():
    service, secret = service_provider_create(
        organisation=OrganisationFactory(name="Mairie"),
        name="Mairie",
        redirect_uris=[REDIRECT],
        scopes="openid profile birth",
    )
    service.secret = secret
    return service


@pytest.fixture
def citizen():
    identity = PivotIdentity(given_name="Angela", family_name="DUBOIS", birthdate="1962-08-24",
                             gender="female", birthplace="75107", birthcountry="99100")  # fmt: skip
    digest = identity_hash(identity)
    user = User.objects.create_citizen(username=f"usager-{digest[:20]}")
    pivot = CitizenIdentity(user=user, identity_hash=digest)
    for name in (*PIVOT_FIELDS, "preferred_username", "email"):
        setattr(pivot, name, getattr(identity, name))
    pivot.save()
    return user


@pytest.fixture
def fi():
    return IdentityProvider.objects.create(
        issuer="http://127.0.0.1:9/usagers", slug="demo", name="Démo", client_id="c", client_secret="s",
        enabled=True,
    )  # fmt: skip


def mint(service, citizen, fi, **grant_fields) -> str:
    code = secrets.token_urlsafe(24)
    fields = {"redirect_uri": REDIRECT, "scope": "openid profile birth", "nonce": secrets.token_urlsafe(24),
              "expires": timezone.now() + timedelta(seconds=30), **grant_fields}  # fmt: skip
    Grant.objects.create(application=service.application, user=citizen, code=code, claims="{}", **fields)
    Authorization.objects.create(
        code_hash=op.code_hash(code), service_provider=service, user=citizen, provider=fi, acr="eidas1",
        amr=["pwd"], auth_time=timezone.now(),
    )  # fmt: skip
    return code


def redeem(client, service, code, *, basic=True, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    headers = {}
    if basic:
        token = base64.b64encode(f"{service.client_id}:{service.secret}".encode()).decode()
        headers["HTTP_AUTHORIZATION"] = f"Basic {token}"
    return client.post("/api/v2/token", urlencode(data), "application/x-www-form-urlencoded", **headers)


def _issued(response) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    header, claims = verify(body["id_token"])
    access = AccessToken.objects.select_related("id_token").get(
        token_checksum=hashlib.sha256(body["access_token"].encode()).hexdigest()
    )
    authorization = Authorization.objects.get(access_token=access)
    entry = JournalEntry.objects.filter(event_type="identity.token_issued").order_by("-id").first()
    return {
        "body": sorted(body),
        "header": {**header, "kid": "-"},
        "claims": sorted(claims),
        "values": {k: claims[k] for k in ("iss", "aud", "sub", "acr", "amr", "idp_id")},
        "lifetimes": (claims["exp"] - claims["iat"], body["expires_in"], body["token_type"], body["scope"]),
        "headers": (response["Content-Type"], response["Cache-Control"], response["Pragma"]),
        "access": (access.token, access.scope, access.resource, access.user_id, access.application_id),
        "id_token": (str(access.id_token.jti) == claims["jti"], access.id_token.scope),
        "redeemed": authorization.redeemed_at is not None,
        "journal": (entry.actor_id, entry.organisation_id, entry.subject, entry.data),
        "at_hash": claims["at_hash"],
        "access_token": body["access_token"],
    }


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def test_the_short_path_answers_and_writes_as_oauthlib_does(client, service, citizen, fi, monkeypatch):
    fast = _issued(redeem(client, service, mint(service, citizen, fi)))
    monkeypatch.setattr(op_token, "redeem", lambda request: None)
    slow = _issued(redeem(client, service, mint(service, citizen, fi)))

    for result in (fast, slow):
        assert result.pop("at_hash") == _at_hash(result.pop("access_token"))
    assert fast == slow
    assert fast["access"][0] == "" and fast["id_token"] == (True, "openid profile birth")
    assert not Grant.objects.exists()


def test_a_code_is_redeemed_in_six_statements_and_userinfo_in_two(
    client, service, citizen, fi, django_assert_num_queries
):
    code = mint(service, citizen, fi)
    # SAVEPOINT, the code locked with its client, its authorization, one statement writing the ID and
    # access tokens, the redemption and deleting the code, the journal entry, RELEASE.
    with django_assert_num_queries(6):
        access = redeem(client, service, code).json()["access_token"]
    with django_assert_num_queries(2):  # the token with all userinfo reads, the journal entry
        assert client.get("/api/v2/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
        journal.flush()  # written at once outside a test's transaction


def test_client_secret_post_takes_the_short_path_too(client, service, citizen, fi, django_assert_num_queries):
    code = mint(service, citizen, fi)
    with django_assert_num_queries(6):
        response = redeem(client, service, code, basic=False, client_id=service.client_id,
                          client_secret=service.secret)  # fmt: skip
    assert response.status_code == 200


@pytest.mark.parametrize("short", [True, False], ids=["short path", "oauthlib"])
def test_refusals_are_oauthlib_s(client, service, citizen, fi, short, monkeypatch):
    if not short:
        monkeypatch.setattr(op_token, "redeem", lambda request: None)
    code = mint(service, citizen, fi)
    wrong = service.__class__.objects.get(pk=service.pk)
    wrong.secret = "mauvais"
    assert redeem(client, wrong, code).status_code == 401
    assert redeem(client, service, code, redirect_uri=REDIRECT + "x").json()["error"] == "invalid_request"
    # Both ways of authenticating at once, or a parameter the short path does not know: oauthlib decides.
    both = redeem(client, service, code, client_secret=service.secret)
    assert both.status_code in (200, 400, 401)
    if both.status_code != 200:
        assert redeem(client, service, code).status_code == 200
    replayed = redeem(client, service, code)
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists() and not IDToken.objects.exists()  # revoked by the replay
    assert JournalEntry.objects.filter(event_type="identity.code_replayed").count() == 1

    expired = mint(service, citizen, fi, expires=timezone.now() - timedelta(seconds=1))
    assert redeem(client, service, expired).json()["error"] == "invalid_grant"


def test_pkce_s256_is_checked_on_the_short_path(client, service, citizen, fi):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = mint(service, citizen, fi, code_challenge=challenge, code_challenge_method="S256")
    assert redeem(client, service, code).json()["error"] == "invalid_request"  # missing verifier
    wrong = redeem(client, service, code, code_verifier=secrets.token_urlsafe(48))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert redeem(client, service, code, code_verifier=verifier).status_code == 200


def test_another_client_cannot_redeem_the_code(client, service, citizen, fi):
    other, secret = service_provider_create(
        organisation=service.organisation, name="Autre", redirect_uris=[REDIRECT]
    )
    other.secret = secret
    code = mint(service, citizen, fi)
    assert redeem(client, other, code).json()["error"] == "invalid_grant"
    assert Grant.objects.filter(code=code).exists()
    assert redeem(client, service, code).status_code == 200


def test_the_nonce_is_in_the_id_token(client, service, citizen, fi):
    code = mint(service, citizen, fi, nonce="n" * 30)
    _header, claims = verify(redeem(client, service, code).json()["id_token"])
    assert claims["nonce"] == "n" * 30
    assert claims["sub"] == op.subject_for(citizen, service)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_redemptions_give_one_token_and_the_replay_revokes_it(service, citizen, fi):
    from django.test import Client

    code = mint(service, citizen, fi)
    barrier, answers = threading.Barrier(2), []

    def attempt():
        barrier.wait()
        try:
            answers.append(redeem(Client(), service, code))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answer.status_code for answer in answers) == [200, 400]
    assert json.loads(next(a for a in answers if a.status_code == 400).content)["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()  # the code was replayed: its token is revoked
    assert JournalEntry.objects.filter(event_type="identity.code_replayed").count() == 1
    assert JournalEntry.objects.filter(event_type="identity.token_issued").count() == 1


def test_an_id_tokens_exp_minus_iat_is_its_lifetime_to_the_second(service, citizen, fi):
    """Both claims come from the instant the expiry was counted from: a second ending between two
    readings of the clock used to make a 60 s token say 59 (seen once in CI)."""
    mint(service, citizen, fi)
    issued_at = timezone.now().replace(microsecond=999_999) - timedelta(seconds=5)
    token = op.id_token_for({"aud": service.client_id}, Authorization.objects.get(), citizen, nonce=None,
                            issued_at=issued_at, expires=issued_at + timedelta(seconds=60))  # fmt: skip
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["iat"] == int(issued_at.timestamp()) and claims["exp"] - claims["iat"] == 60
