"""Every verification is kept: a VerificationRun (insert-only) and a "journal.verified" entry; the periodic
task verifies incrementally; the admin's seal list shows each seal's verification status.

Tampering is done as in test_verification.py: ``SET LOCAL session_replication_role = replica`` switches
the append-only triggers off for the test's transaction, as a database superuser could.
"""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from protection import journal, sealing
from protection.events import register
from protection.models import JournalEntry, VerificationRun
from protection.tasks import verify_journal_task
from tests.factories import UserFactory

register("tests.verification_run_event", "Évènement de test des vérifications")

pytestmark = pytest.mark.django_db

SEALS = "/admin/protection/seal/"


def seal_batches(batches: int, size: int = 3) -> list:
    for index in range(batches * size):
        journal.record("tests.verification_run_event", actor=None, data={"n": index})
    return sealing.seal_pending(batch_size=size)


def tamper(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


def verified_entries() -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(event_type="journal.verified").order_by("id"))


def test_a_successful_command_run_is_recorded_and_journaled():
    seals = seal_batches(3)

    call_command("verify_journal", workers=1, stdout=StringIO())

    run = VerificationRun.objects.get()
    assert run.ok and run.message == ""
    assert (run.first_batch, run.last_batch) == (1, 3)
    assert run.entries_checked == 9
    assert run.failing_batch is None and run.failing_entry is None
    assert run.started_at <= run.finished_at
    [entry] = verified_entries()
    assert entry.outcome == "success" and entry.actor_type == "system" and entry.subject == ""
    assert entry.data["first_batch"] == 1 and entry.data["last_batch"] == seals[-1].batch_number
    assert entry.data["failing_batch"] is None


def test_a_failing_command_run_is_recorded_and_journaled():
    seal_batches(3)
    tamper("UPDATE protection_journalentry SET purpose = 'autre' WHERE id = (SELECT first_entry_id + 1 "
           "FROM protection_seal WHERE batch_number = 2)")  # fmt: skip

    with pytest.raises(CommandError, match="lot 2"):
        call_command("verify_journal", workers=1, stdout=StringIO())

    run = VerificationRun.objects.get()
    assert not run.ok
    assert (run.first_batch, run.last_batch, run.failing_batch) == (1, 3, 2)
    assert "racine de Merkle" in run.message
    [entry] = verified_entries()
    assert entry.outcome == "failure"
    assert entry.data["failing_batch"] == 2 and entry.data["last_batch"] == 3


def test_a_failing_entry_is_named_in_the_run():
    seal_batches(2)
    tamper("DELETE FROM protection_journalentry WHERE id = (SELECT last_entry_id FROM protection_seal "
           "WHERE batch_number = 2)")  # fmt: skip

    with pytest.raises(CommandError):
        call_command("verify_journal", workers=1, stdout=StringIO())

    run = VerificationRun.objects.get()
    assert run.failing_batch == 2
    assert run.failing_entry is not None


def test_the_task_verifies_incrementally_from_the_last_successful_run():
    seal_batches(2)

    verify_journal_task()
    first = VerificationRun.objects.get()
    assert first.ok and (first.first_batch, first.last_batch) == (1, 2)

    # New batches, including the one holding the first "journal.verified" entry.
    last = seal_batches(2)[-1]
    verify_journal_task()
    second = VerificationRun.objects.latest("id")
    assert second.ok and (second.first_batch, second.last_batch) == (3, last.batch_number)
    assert second.entries_checked < JournalEntry.objects.count()

    # An old batch tampered with is the full run's business; the next increment still fails on a new one.
    journal.record("tests.verification_run_event", actor=None)
    new = sealing.seal_pending(batch_size=1000)[-1]
    tamper("UPDATE protection_journalentry SET purpose = 'autre' WHERE id = %s", [new.last_entry_id])
    verify_journal_task()
    third = VerificationRun.objects.latest("id")
    assert not third.ok and third.failing_batch == new.batch_number
    assert third.first_batch == last.batch_number + 1


def test_the_task_records_nothing_when_nothing_was_sealed_since():
    assert verify_journal_task() is None
    assert not VerificationRun.objects.exists()


def test_verification_runs_cannot_be_changed_or_deleted():
    seal_batches(1)
    call_command("verify_journal", workers=1, stdout=StringIO())
    run = VerificationRun.objects.get()

    for statement in (
        "UPDATE protection_verificationrun SET ok = false",
        "DELETE FROM protection_verificationrun",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)
    assert VerificationRun.objects.get().ok
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        run.delete()


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(staff=True, is_superuser=True))
    return client


def seal_rows(html: str) -> dict[int, str]:
    """{batch number: verification cell} from the changelist."""
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S):
        number = re.search(r"field-batch_number[^>]*>(?:<a[^>]*>)?(\d+)", row)
        status = re.search(r'class="field-verification">(.*?)</td>', row, re.S)
        if number and status:
            rows[int(number.group(1))] = status.group(1).strip()
    return rows


def test_the_seal_list_shows_each_seals_verification_status(superuser_client, django_assert_max_num_queries):
    seal_batches(3)
    verify_journal_task()  # batches 1-3 verified
    failed = seal_batches(2)  # the "journal.verified" entry and six more: batches 4, 5 and 6
    tamper("UPDATE protection_journalentry SET purpose = 'autre' WHERE id = (SELECT first_entry_id "
           "FROM protection_seal WHERE batch_number = 5)")  # fmt: skip
    verify_journal_task()  # batches 4-6 fail at 5
    journal.record("tests.verification_run_event", actor=None)
    [never] = sealing.seal_pending(batch_size=1000)  # never verified

    with django_assert_max_num_queries(20):
        response = superuser_client.get(SEALS)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<span>Vérification</span>" in html or ">Vérification<" in html
    rows = seal_rows(html)
    assert all(rows[batch].startswith("Vérifié le ") for batch in (1, 2, 3))
    assert {rows[seal.batch_number] for seal in failed} == {"Échec (lot 5)"}
    assert rows[never.batch_number] == "Non encore vérifié"


def test_the_seal_list_needs_no_query_per_seal(superuser_client):
    def queries_for_the_page() -> int:
        with CaptureQueriesContext(connection) as context:
            assert superuser_client.get(SEALS).status_code == 200
        return len(context.captured_queries)

    seal_batches(2)
    verify_journal_task()
    few = queries_for_the_page()
    seal_batches(10, size=1)
    verify_journal_task()
    assert queries_for_the_page() == few


def test_the_verification_runs_admin_is_read_only(superuser_client):
    seal_batches(1)
    call_command("verify_journal", workers=1, stdout=StringIO())
    run = VerificationRun.objects.get()

    assert superuser_client.get("/admin/protection/verificationrun/").status_code == 200
    assert superuser_client.get(f"/admin/protection/verificationrun/{run.pk}/change/").status_code == 200
    assert superuser_client.get("/admin/protection/verificationrun/add/").status_code == 403
    assert superuser_client.get(f"/admin/protection/verificationrun/{run.pk}/delete/").status_code == 403
