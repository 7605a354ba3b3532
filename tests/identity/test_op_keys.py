"""The keys of Maillage's own ID tokens: generated once, published at /api/v2/jwks, rotated softly."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from jwcrypto import jwk, jwt

from identity import op_keys
from protection.models import JournalEntry


@pytest.fixture(autouse=True)
def keys_file(settings, tmp_path):
    settings.OIDC_SIGNING_KEYS_FILE = str(tmp_path / "oidc_signing_keys.json")
    return tmp_path / "oidc_signing_keys.json"


def published_kids(client) -> dict[str, str]:
    response = client.get("/api/v2/jwks")
    assert response.status_code == 200 and response["Cache-Control"] == "public, max-age=300"
    return {key["kid"]: key["alg"] for key in response.json()["keys"]}


def test_keys_are_generated_once_privately_and_only_public_halves_are_served(client, keys_file):
    kids = published_kids(client)

    assert sorted(kids.values()) == ["ES256", "RS256"]
    assert keys_file.stat().st_mode & 0o777 == 0o600
    assert published_kids(client) == kids  # not regenerated
    for key in client.get("/api/v2/jwks").json()["keys"]:
        assert "d" not in key and "p" not in key  # no private parts
        assert key["use"] == "sig"


def test_a_token_signed_with_the_active_key_verifies_with_the_published_set(client):
    active = op_keys.keyring().active("ES256")
    token = jwt.JWT(header={"alg": "ES256", "kid": active.kid}, claims={"sub": "x"})
    token.make_signed_token(active.key)

    published = jwk.JWKSet.from_json(json.dumps(client.get("/api/v2/jwks").json()))
    assert json.loads(jwt.JWT(jwt=token.serialize(), key=published).claims) == {"sub": "x"}


@pytest.mark.django_db
def test_rotation_keeps_the_old_keys_published_for_a_while(client, settings):
    before = published_kids(client)

    call_command("rotate_oidc_keys")

    after = published_kids(client)
    assert set(before) < set(after) and len(after) == 4
    assert op_keys.keyring().active("ES256").kid not in before
    assert JournalEntry.objects.get(event_type="identity.op_keys_rotated").data["new_kids"]

    later = datetime.now(UTC) + timedelta(days=settings.OIDC_RETIRED_KEY_DAYS + 1)
    assert {key["kid"] for key in op_keys.keyring().published(now=later)}.isdisjoint(before)
    op_keys.rotate(now=later)  # long-retired keys leave the file
    assert len(op_keys.keyring().keys) == 4


def test_only_get_as_problem_json(client):
    from tests.problems import assert_problem

    assert_problem(client.post("/api/v2/jwks"), 405, "method-not-allowed")
