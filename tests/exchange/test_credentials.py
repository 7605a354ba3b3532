"""Credentials: issued on validation and bound to the authorization (client credentials grant at
/api/v1/oauth/token, scopes = granted scopes), renewed by an amendment, rotated with an overlap,
revoked at once, restricted by address, and their expiry announced to the technical contact."""

import base64
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.utils import timezone
from oauth2_provider.models import AccessToken

from exchange.models import Credential
from exchange.services import (
    Forbidden,
    credential_new_secret,
    credential_revoke,
    credential_set_ip_allowlist,
    habilitation_transition,
    habilitation_update,
    warn_expiring_credentials,
)
from platform_core.exceptions import InvalidInput
from protection.models import JournalEntry
from tests.exchange.conftest import draft

pytestmark = pytest.mark.django_db


@pytest.fixture
def validated(world):
    habilitation = draft(world)
    habilitation_transition(habilitation, "submit", user=world["applicant"])
    habilitation_transition(habilitation, "validate", user=world["instructor"])
    return habilitation


def token(client, credential, secret, scope=None, address="127.0.0.1"):
    basic = base64.b64encode(f"{credential.client_id}:{secret}".encode()).decode()
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return client.post(
        "/api/v1/oauth/token",
        urlencode(data),
        "application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {basic}",
        REMOTE_ADDR=address,
    )


def test_validation_issues_a_credential_whose_secret_the_consumer_generates_once(client, world, validated):
    credential = Credential.objects.get()
    assert credential.authorization == validated.active_authorization
    assert credential.expires_at == credential.authorization.valid_until
    assert token(client, credential, "n'importe quoi").status_code == 401  # no secret yet

    secret = credential_new_secret(credential, user=world["applicant"])
    answer = token(client, credential, secret)
    assert answer.status_code == 200, answer.content
    assert answer.json()["scope"] == "dgfip_rfr"
    assert secret not in str(list(JournalEntry.objects.values_list("data", flat=True)))
    assert JournalEntry.objects.filter(event_type="exchange.credential_access_granted").exists()
    assert token(client, credential, secret, scope="dgfip_parts").json()["error"] == "invalid_scope"


def test_only_the_consumer_generates_secrets(world, validated):
    credential = Credential.objects.get()
    for user in (world["instructor"], world["reporter"], world["stranger"]):
        with pytest.raises(Forbidden):
            credential_new_secret(credential, user=user)


def test_a_rotation_keeps_the_old_secret_valid_during_the_grace_period(client, world, validated):
    credential = Credential.objects.get()
    old = credential_new_secret(credential, user=world["applicant"])
    new = credential_new_secret(credential, user=world["applicant"], grace=timedelta(hours=1))
    assert token(client, credential, old).status_code == 200
    assert token(client, credential, new).status_code == 200
    credential.secrets.exclude(expires_at__isnull=True).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert token(client, credential, old).status_code == 401
    assert token(client, credential, new).status_code == 200


def test_revocation_is_immediate(client, world, validated):
    credential = Credential.objects.get()
    secret = credential_new_secret(credential, user=world["applicant"])
    assert token(client, credential, secret).status_code == 200
    credential_revoke(credential, user=world["instructor"])
    assert not AccessToken.objects.filter(application=credential.application).exists()
    assert token(client, credential, secret).status_code == 401
    assert JournalEntry.objects.filter(event_type="exchange.credential_revoked").exists()


def test_revoking_the_habilitation_stops_the_credential(client, world, validated):
    credential = Credential.objects.get()
    secret = credential_new_secret(credential, user=world["applicant"])
    habilitation_transition(validated, "revoke", user=world["instructor"], message="Fin.")
    assert token(client, credential, secret).status_code == 401


def test_an_amendment_renews_the_same_credential_with_the_new_scopes(client, world, validated):
    credential = Credential.objects.get()
    secret = credential_new_secret(credential, user=world["applicant"])
    habilitation_transition(validated, "reopen", user=world["applicant"])
    habilitation_update(validated, user=world["applicant"], scopes=[world["income"], world["parts"]])
    habilitation_transition(validated, "submit", user=world["applicant"])
    assert token(client, credential, secret).json()["scope"] == "dgfip_rfr"  # the active one meanwhile
    habilitation_transition(validated, "validate", user=world["instructor"])

    assert Credential.objects.count() == 1
    scopes = token(client, credential, secret).json()["scope"].split()
    assert sorted(scopes) == ["dgfip_parts", "dgfip_rfr"]


def test_the_ip_allowlist_is_enforced(client, world, validated):
    credential = Credential.objects.get()
    secret = credential_new_secret(credential, user=world["applicant"])
    credential_set_ip_allowlist(credential, user=world["applicant"], networks=["192.0.2.0/24"])
    credential.refresh_from_db()
    assert token(client, credential, secret, address="192.0.2.10").status_code == 200
    assert token(client, credential, secret, address="198.51.100.1").status_code == 401
    with pytest.raises(InvalidInput):
        credential_set_ip_allowlist(credential, user=world["applicant"], networks=["pas une adresse"])


def test_an_expired_credential_is_refused(client, world, validated):
    credential = Credential.objects.get()
    secret = credential_new_secret(credential, user=world["applicant"])
    Credential.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert token(client, credential, secret).status_code == 401


def test_the_technical_contact_is_warned_30_7_and_1_days_before_expiry_once_each(
    world, validated, django_capture_on_commit_callbacks
):
    Credential.objects.update(expires_at=timezone.now() + timedelta(days=20))
    with django_capture_on_commit_callbacks(execute=True):
        assert warn_expiring_credentials() == 1
        assert warn_expiring_credentials() == 0
    assert [m.to for m in mail.outbox if "expire" in m.subject] == [["technical@mairie.example.fr"]]
    Credential.objects.update(expires_at=timezone.now() + timedelta(hours=20))
    with django_capture_on_commit_callbacks(execute=True):
        assert warn_expiring_credentials() == 2  # the 7-day and the 1-day warnings
    assert Credential.objects.get().warned_days == [1, 7, 30]
