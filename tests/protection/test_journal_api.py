"""/api/v1/journal/: inclusion proofs (for who may see the entry) and the public signing keys."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from protection import journal, sealing
from protection.events import register
from protection.models import SigningKey
from tests.factories import UserFactory
from tests.problems import assert_problem

register("tests.api_event", "Évènement de test de l'API du journal")

BASE_DIR = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def proof_url(public_id) -> str:
    return f"/api/v1/journal/entries/{public_id}/proof"


@pytest.fixture
def agent():
    return UserFactory()


@pytest.fixture
def sealed_entry(agent):
    entry = journal.record("tests.api_event", actor=agent, purpose="contrôle", data={"champs": ["nom"]})
    sealing.seal_pending()
    return entry


def test_the_acting_user_gets_a_proof_the_offline_verifier_accepts(api_client, agent, sealed_entry, tmp_path):
    api_client.force_authenticate(agent)

    response = api_client.get(proof_url(sealed_entry.public_id))

    assert response.status_code == 200
    body = response.json()
    assert body["entry"]["public_id"] == str(sealed_entry.public_id)
    assert body["public_key"] == SigningKey.objects.get(key_id=body["key_id"]).public_key
    path = tmp_path / "proof.json"
    path.write_bytes(response.content)
    result = subprocess.run(
        [sys.executable, "-m", "protection.proof", str(path)],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode, result.stdout) == (0, "OK\n"), result.stderr


def test_an_entry_not_yet_sealed_is_a_409_with_retry_after(api_client, agent):
    entry = journal.record("tests.api_event", actor=agent)
    api_client.force_authenticate(agent)

    response = api_client.get(proof_url(entry.public_id))

    assert_problem(response, 409, "journal-entry-not-sealed")
    assert response["Retry-After"] == "5"


@pytest.mark.parametrize("public_id", [uuid.UUID(int=1), "pas-un-uuid"])
def test_an_unknown_or_malformed_id_is_a_404(api_client, agent, sealed_entry, public_id):
    api_client.force_authenticate(agent)

    assert_problem(api_client.get(proof_url(public_id)), 404, "not-found")


def test_an_entry_the_user_may_not_see_is_a_404(api_client, sealed_entry):
    api_client.force_authenticate(UserFactory())

    assert_problem(api_client.get(proof_url(sealed_entry.public_id)), 404, "not-found")


def test_proofs_need_authentication(api_client, sealed_entry):
    response = api_client.get(proof_url(sealed_entry.public_id))

    assert response.status_code in (401, 403)
    assert response["Content-Type"] == "application/problem+json"


def test_the_signing_keys_are_public_retired_ones_included(api_client, settings, sealed_entry):
    old = SigningKey.objects.get()
    settings.JOURNAL_SIGNING_KEYS = [*settings.JOURNAL_SIGNING_KEYS, ("j77", bytes(32))]
    journal.record("tests.api_event", actor=None)
    sealing.seal_pending()

    response = api_client.get("/api/v1/journal/keys")

    assert response.status_code == 200
    keys = {key["key_id"]: key for key in response.json()}
    assert set(keys) == {old.key_id, "j77"}
    assert keys[old.key_id]["retired_at"] is not None and keys["j77"]["retired_at"] is None
    assert keys["j77"]["algorithm"] == "Ed25519"
    assert set(keys["j77"]) == {"key_id", "algorithm", "public_key", "created_at", "retired_at"}
    assert "j77" in json.dumps(response.json())


def test_both_operations_are_documented(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    proof_operation = schema["paths"]["/api/v1/journal/entries/{public_id}/proof"]["get"]
    keys_operation = schema["paths"]["/api/v1/journal/keys"]["get"]
    assert set(proof_operation["responses"]) == {"200", "401", "403", "404", "409", "429", "500"}
    assert "Retry-After" in proof_operation["responses"]["409"]["headers"]
    assert proof_operation["summary"].startswith("Obtenir la preuve")
    assert set(keys_operation["responses"]) >= {"200", "500"}
