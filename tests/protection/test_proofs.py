"""Inclusion proofs, checked by the offline verifier (protection/proof.py: no Django, runs anywhere)."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from protection import journal, proof, sealing
from protection.events import register
from protection.verification import EntryAltered, EntryNotSealed, inclusion_proof

register("tests.proved_event", "Évènement de test des preuves")

BASE_DIR = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def run_verifier(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "protection.proof", *args],
        cwd=BASE_DIR,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},  # no DJANGO_SETTINGS_MODULE, no database: offline
    )


@pytest.fixture
def entries():
    made = [
        journal.record(
            "tests.proved_event", actor=None, purpose=f"finalité « {i} »", data={"i": i, "t": "é\n"}
        )
        for i in range(11)
    ]
    sealing.seal_pending(batch_size=7)  # batches of 7 and 4 entries
    return made


def test_every_entry_of_every_batch_has_a_valid_proof(entries):
    for entry in entries:
        found = inclusion_proof(entry)

        proof.verify_proof(found)
        assert found["entry"]["public_id"] == str(entry.public_id)
        assert found["tree_size"] in (7, 4)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: p["entry"].update(purpose="autre"), "canonical n'est pas"),
        (lambda p: p.update(canonical=p["canonical"].replace("finalit", "Finalit")), "canonical n'est pas"),
        (lambda p: p["audit_path"].reverse(), "racine de Merkle"),
        (lambda p: p["audit_path"].pop(), "trop court"),
        (lambda p: p.update(leaf_index=p["leaf_index"] ^ 1), "racine de Merkle"),
        (lambda p: p["seal"].update(merkle_root="ab" * 32), "racine de Merkle"),
        (lambda p: p["seal"].update(sealed_at="2020-01-01T00:00:00.000000Z"), "seal_hash"),
        (lambda p: p["seal"].update(signature=p["seal"]["signature"][::-1]), "signature"),
    ],
)
def test_a_tampered_proof_fails_with_its_reason(entries, change, reason):
    tampered = copy.deepcopy(inclusion_proof(entries[2]))
    change(tampered)

    with pytest.raises(proof.ProofError, match=reason):
        proof.verify_proof(tampered)


def test_the_command_line_verifier_says_ok_or_why_not(entries, tmp_path):
    found = inclusion_proof(entries[9])
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(found, ensure_ascii=False), encoding="utf-8")

    ok = run_verifier(str(path))
    pinned = run_verifier(str(path), "--public-key", found["public_key"])
    wrong_key = run_verifier("-", "--public-key", "A" * 43 + "=", stdin=path.read_text(encoding="utf-8"))
    unreadable = run_verifier(str(tmp_path / "missing.json"))

    assert (ok.returncode, ok.stdout) == (0, "OK\n")
    assert pinned.returncode == 0
    assert wrong_key.returncode == 1 and "signature" in wrong_key.stderr
    assert unreadable.returncode == 2


def test_the_verifier_imports_no_django():
    result = subprocess.run(
        [sys.executable, "-c", "import sys, protection.proof; print('django' in sys.modules)"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.stdout == "False\n"


def test_an_unsealed_entry_has_no_proof_yet():
    entry = journal.record("tests.proved_event", actor=None)
    journal.flush()

    with pytest.raises(EntryNotSealed):
        inclusion_proof(entry)


def test_an_entry_changed_after_sealing_has_no_proof(entries):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # what a superuser could do
        cursor.execute("UPDATE protection_journalentry SET purpose = 'autre' WHERE id = %s", [entries[3].pk])

    with pytest.raises(EntryAltered):
        inclusion_proof(entries[3])
    proof.verify_proof(inclusion_proof(entries[4]))  # its neighbours still prove


def test_proofs_stand_without_the_kept_leaves(entries):
    """The kept leaf hashes are a shortcut: rewritten, the proof is rebuilt from the entries."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE protection_batchleaves SET hashes = %s", [b"\x00" * 32 * 7])

    found = inclusion_proof(entries[2])
    proof.verify_proof(found)
    assert found["leaf_index"] == 2 and found["tree_size"] == 7
