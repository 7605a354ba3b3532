"""The broker side of the federation, attacked: an identity provider (a misbehaving sandbox process,
tests/identity/sandbox_jwt_op.py) answers with ID tokens that must not be trusted. Each is refused at
Maillage's callback with a readable page, journaled, and nobody is signed in."""

import httpx
import pytest

from identity import federation
from protection.models import JournalEntry
from tests.identity.conftest import SandboxIdp
from tests.identity.test_sign_in import go_to_fi, local, make_provider, pick_account
from tests.servers import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def misbehaving_idp(tmp_path_factory):
    server = SandboxIdp(
        free_port(),
        tmp_path_factory.mktemp("bad-idp") / "key.json",
        application="tests.identity.sandbox_jwt_op:application",
        extra_environment=(("SANDBOX_IDP_ALG", "RS256"),),
    ).start()
    yield server
    server.stop()


@pytest.fixture
def bad_fi(misbehaving_idp):
    federation.clear_caches()
    yield make_provider(f"{misbehaving_idp.base}/usagers", slug="fi-douteux")
    httpx.post(f"{misbehaving_idp.base}/_mode", content="json")


def callback(client, fi, mode: str, base: str):
    httpx.post(f"{base}/_mode", content=mode).raise_for_status()
    return client.get(local(pick_account(go_to_fi(client, fi), "angela")))


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("id-token-issuer", "wrong_issuer"),
        ("id-token-audience", "wrong_audience"),
        ("id-token-nonce", "wrong_nonce"),
        ("id-token-foreign-key", "bad_signature"),
        ("id-token-unknown-kid", "unknown_kid"),
        ("id-token-expired", "expired"),
        ("id-token-hs256", "bad_algorithm"),
        ("id-token-unsigned", "bad_algorithm"),
    ],
)
def test_an_untrustworthy_id_token_is_refused_with_a_page_and_journaled(
    client, bad_fi, misbehaving_idp, mode, reason
):
    response = callback(client, bad_fi, mode, misbehaving_idp.base)

    assert response.status_code == 502
    assert "text/html" in response["Content-Type"]
    assert "Aucune information vous concernant" in response.content.decode()
    assert "_auth_user_id" not in client.session
    refused = JournalEntry.objects.get(event_type="identity.fi_refused")
    assert refused.data["fi"] == bad_fi.slug and refused.outcome == "failure"
    assert refused.data["reason"] == reason
    assert not JournalEntry.objects.filter(event_type="identity.fi_verified").exists()


def test_the_same_provider_behaving_is_accepted(client, bad_fi, misbehaving_idp):
    response = callback(client, bad_fi, "json", misbehaving_idp.base)
    assert response.status_code == 302 and "_auth_user_id" in client.session
