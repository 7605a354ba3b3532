"""verify_journal catches what a database superuser could do to the journal, and names the batch.

To tamper, each test does what a superuser could: ``SET LOCAL session_replication_role = replica``
switches the append-only triggers (and foreign keys) off for the test's transaction.
"""

import base64
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from protection import canonical, journal, sealing
from protection.events import register
from protection.models import JournalEntry, PurgedBatch, Seal
from protection.verification import verify_journal

register("tests.verified_event", "Évènement de test de la vérification")

pytestmark = pytest.mark.django_db


def as_superuser(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


@pytest.fixture
def sealed():
    """Three sealed batches of four entries (batch 2 has a hole left by a rollback), then two pending."""
    entries = [journal.record("tests.verified_event", actor=None, data={"n": i}) for i in range(6)]
    with pytest.raises(RuntimeError), transaction.atomic():
        journal.record("tests.verified_event", actor=None)
        journal.flush()  # allocates the id: a rolled-back entry that was never written leaves no hole
        raise RuntimeError("rolled back: leaves a hole in batch 2")
    entries += [journal.record("tests.verified_event", actor=None, data={"n": i}) for i in range(6, 12)]
    seals = sealing.seal_pending(batch_size=4)
    assert [seal.entry_count for seal in seals] == [4, 4, 4]
    journal.record("tests.verified_event", actor=None, data={"pending": True})
    return entries, seals


def failure():
    report = verify_journal()
    assert not report.ok
    return report.failure


def test_an_intact_journal_verifies(sealed):
    report = verify_journal()

    assert report.ok
    assert (report.batches, report.entries) == (3, 12)


def test_an_edited_column_is_caught(sealed):
    entries, _seals = sealed
    as_superuser("UPDATE protection_journalentry SET purpose = 'autre' WHERE id = %s", [entries[5].pk])

    found = failure()
    assert found.batch_number == 2 and "racine de Merkle" in found.reason
    # The leaves kept at sealing give back the signed root, so they tell which entry changed.
    assert found.entry_id == entries[5].pk and f"entrée {entries[5].pk} a été modifié" in found.reason


def test_an_edit_is_still_caught_when_the_kept_leaves_were_rewritten_too(sealed):
    entries, seals = sealed
    as_superuser("UPDATE protection_journalentry SET purpose = 'autre' WHERE id = %s", [entries[5].pk])
    as_superuser(
        "UPDATE protection_batchleaves SET hashes = %s WHERE seal_id = %s", [b"\x00" * 32 * 4, seals[1].pk]
    )

    found = failure()
    assert (found.batch_number, found.entry_id) == (2, None)
    assert "au moins une entrée" in found.reason


def test_edited_data_is_caught(sealed):
    entries, _seals = sealed
    # Same JSON value, other text: what is sealed is the canonical text itself.
    as_superuser("""UPDATE protection_journalentry SET data = '{"n": 9}' WHERE id = %s""", [entries[9].pk])

    assert (failure().batch_number, failure().entry_id) == (3, entries[9].pk)


def test_a_field_moved_across_the_separator_is_caught(sealed):
    entries, _seals = sealed
    # Without the separator check, purpose "a" + contract "b\x1fc" and purpose "a\x1fb" + contract "c"
    # would join into the same canonical text. The CHECK constraint refuses it; a superuser drops it.
    as_superuser("ALTER TABLE protection_journalentry DROP CONSTRAINT journal_no_separator")
    as_superuser(
        "UPDATE protection_journalentry SET purpose = purpose || chr(31) WHERE id = %s", [entries[2].pk]
    )

    found = failure()
    assert (found.batch_number, found.entry_id) == (1, entries[2].pk)
    assert "U+001F" in found.reason


def test_the_table_refuses_the_separator():
    with pytest.raises(IntegrityError, match="journal_no_separator"), transaction.atomic():
        JournalEntry.objects.create(event_type="tests.verified_event", actor_type="system", purpose="a\x1fb")


def test_a_deleted_row_is_caught(sealed):
    entries, _seals = sealed
    as_superuser("DELETE FROM protection_journalentry WHERE id = %s", [entries[5].pk])

    found = failure()
    assert found.batch_number == 2 and "3 entrées au lieu de 4" in found.reason
    # The first leaf that differs from the kept ones is the entry that followed the deleted one.
    assert found.entry_id == entries[6].pk


def test_a_deleted_first_entry_is_named(sealed):
    entries, seals = sealed
    as_superuser("DELETE FROM protection_journalentry WHERE id = %s", [seals[1].first_entry_id])

    assert (failure().batch_number, failure().entry_id) == (2, seals[1].first_entry_id)


def test_a_row_inserted_inside_a_sealed_range_is_caught(sealed):
    _entries, seals = sealed
    hole = next(
        i
        for i in range(seals[1].first_entry_id, seals[1].last_entry_id)
        if not JournalEntry.objects.filter(pk=i).exists()
    )
    as_superuser(
        "INSERT INTO protection_journalentry (id, public_id, occurred_at, event_type, actor_type, actor_id,"
        " actor_label, organisation_id, subject, purpose, contract, outcome, request_id, data)"
        " VALUES (%s, gen_random_uuid(), now(), 'tests.verified_event', 'system', '', '', '', '', '', '',"
        " 'success', '', '{}')",
        [hole],
    )

    assert (failure().batch_number, failure().entry_id) == (2, hole)
    assert "5 entrées au lieu de 4" in failure().reason


def test_a_row_inserted_outside_every_sealed_range_is_named(sealed):
    as_superuser(
        "INSERT INTO protection_journalentry (id, public_id, occurred_at, event_type, actor_type, actor_id,"
        " actor_label, organisation_id, subject, purpose, contract, outcome, request_id, data)"
        " VALUES (%s, gen_random_uuid(), now(), 'tests.verified_event', 'system', '', '', '', '', '', '',"
        " 'success', '', '{}')",
        [0],
    )

    assert (failure().batch_number, failure().entry_id) == (1, 0)
    assert "hors de toute plage" in failure().reason


def test_two_swapped_rows_are_caught(sealed):
    entries, _seals = sealed
    a, b = entries[8].pk, entries[10].pk
    as_superuser(
        "UPDATE protection_journalentry e SET data = o.data, occurred_at = o.occurred_at"
        " FROM protection_journalentry o WHERE (e.id, o.id) IN ((%s, %s), (%s, %s))",
        [a, b, b, a],
    )

    assert (failure().batch_number, failure().entry_id) == (3, a)


def test_a_replaced_seal_with_a_recomputed_hash_is_caught_by_its_signature(sealed):
    _entries, seals = sealed
    seal = seals[1]
    forged_root = "0" * 64
    body = canonical.seal_body_of(seal, merkle_root=forged_root)
    as_superuser(
        "UPDATE protection_seal SET merkle_root = %s, seal_hash = %s WHERE batch_number = 2",
        [forged_root, canonical.seal_hash(body)],
    )

    assert failure().batch_number == 2
    assert "signature" in failure().reason


def forge(seal: Seal, key_id: str, private_key: Ed25519PrivateKey) -> None:
    body = canonical.seal_body_of(seal, key_id=key_id)
    signature = base64.b64encode(private_key.sign(body)).decode()
    as_superuser(
        "UPDATE protection_seal SET key_id = %s, seal_hash = %s, signature = %s WHERE batch_number = %s",
        [key_id, canonical.seal_hash(body), signature, seal.batch_number],
    )


def test_a_seal_signed_with_an_unknown_key_is_caught(sealed):
    _entries, seals = sealed
    forge(seals[2], "x1", Ed25519PrivateKey.generate())

    assert failure().batch_number == 3
    assert "clé inconnue (x1)" in failure().reason


def test_a_seal_signed_by_another_key_under_a_published_id_is_caught(sealed):
    _entries, seals = sealed
    forge(seals[0], seals[0].key_id, Ed25519PrivateKey.generate())

    assert failure().batch_number == 1
    assert "signature" in failure().reason


def test_a_broken_chain_is_caught(sealed):
    _entries, seals = sealed
    as_superuser(
        "DELETE FROM protection_batchleaves"
        " WHERE seal_id = (SELECT id FROM protection_seal WHERE batch_number = 2);"
        " DELETE FROM protection_seal WHERE batch_number = 2"
    )

    assert failure().batch_number == 3


def test_the_first_failing_batch_is_reported(sealed):
    entries, seals = sealed
    forge(seals[2], "x1", Ed25519PrivateKey.generate())
    as_superuser("UPDATE protection_journalentry SET purpose = 'autre' WHERE id = %s", [entries[0].pk])

    assert failure().batch_number == 1


# --- the command ----------------------------------------------------------------------------------------


def test_the_command_reports_success_with_progress(sealed, capsys):
    call_command("verify_journal", "--progress-every", "1")

    output = capsys.readouterr().out
    assert "Journal conforme : 3 lot(s) (0 purgé(s)), 12 entrées" in output
    assert output.count("entrées/s") == 4  # three progress lines and the summary


def test_the_command_fails_naming_the_batch(sealed):
    entries, _seals = sealed
    as_superuser("UPDATE protection_journalentry SET actor_label = 'x' WHERE id = %s", [entries[6].pk])

    with pytest.raises(CommandError, match=f"Journal NON conforme — lot 2, entrée {entries[6].pk} : "):
        call_command("verify_journal")


def test_the_command_checks_a_window_of_batches(sealed, capsys):
    entries, seals = sealed
    as_superuser("UPDATE protection_journalentry SET purpose = 'autre' WHERE id = %s", [entries[0].pk])
    as_superuser(
        "UPDATE protection_seal SET sealed_at = sealed_at - interval '3 days' WHERE batch_number = 1"
    )
    # the seal of batch 1 is now wrong too (its date is in its hash): outside the window, not checked
    today = timezone.localdate().isoformat()

    call_command("verify_journal", "--since", today, "--until", today)

    assert "2 lot(s)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="lot 1"):
        call_command("verify_journal", "--until", (timezone.localdate() - timedelta(days=1)).isoformat())


def test_the_command_refuses_a_malformed_date():
    with pytest.raises(CommandError, match="date invalide"):
        call_command("verify_journal", "--since", "28/11/2026")


# --- purge ----------------------------------------------------------------------------------------------


def test_purged_batches_keep_the_chain_verifiable(sealed):
    _entries, seals = sealed
    from protection.purge import purge_expired

    report = purge_expired(now=timezone.now() + timedelta(days=365 * 40), wet_run=True)

    assert report.entries == 12
    assert PurgedBatch.objects.count() == 3
    result = verify_journal()
    assert result.ok, result.failure
    assert (result.batches, result.purged_batches, result.entries) == (3, 3, 0)


def test_an_entry_reinserted_into_a_purged_batch_is_caught(sealed):
    entries, seals = sealed
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maillage.journal_purge = 'on'")
        cursor.execute(
            "DELETE FROM protection_journalentry WHERE id BETWEEN %s AND %s",
            [seals[0].first_entry_id, seals[0].last_entry_id],
        )
    PurgedBatch.objects.create(seal=seals[0], entry_count=4)
    assert verify_journal().ok
    as_superuser(
        "INSERT INTO protection_journalentry (id, public_id, occurred_at, event_type, actor_type, actor_id,"
        " actor_label, organisation_id, subject, purpose, contract, outcome, request_id, data)"
        " VALUES (%s, gen_random_uuid(), now(), 'tests.verified_event', 'system', '', '', '', '', '', '',"
        " 'success', '', '{}')",
        [entries[1].pk],
    )

    assert (failure().batch_number, failure().entry_id) == (1, entries[1].pk)


# --- several processes ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_worker_processes_verify_and_find_the_first_failure():
    for _ in range(30):
        journal.record("tests.verified_event", actor=None, data={"x": "y"})
    sealing.seal_pending(batch_size=2)

    report = verify_journal(workers=2)
    assert report.ok and (report.batches, report.entries) == (15, 30)

    with transaction.atomic():
        as_superuser(
            "UPDATE protection_journalentry SET purpose = 'autre'"
            " WHERE id = (SELECT max(id) - 5 FROM protection_journalentry)"
        )
    report = verify_journal(workers=2)
    assert not report.ok and report.failure.batch_number == 13
