"""journal.record() buffers entries inside atomic blocks: the buffer must be invisible to everyone.

An entry exists if and only if the caller's transaction commits, disappears with an inner atomic
block that is rolled back, and is seen by every query that runs after record(), in the transaction
(the caller's own queries) and after the commit (on_commit callbacks, other connections).
"""

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.utils import DataError, InternalError
from django.test.utils import CaptureQueriesContext

from protection import journal
from protection.events import register
from protection.models import JournalEntry, SigningKey

register("tests.buffered_event", "Évènement de test du tampon du journal")

INSERT = "INSERT INTO protection_journalentry"


def record(n: int) -> JournalEntry:
    return journal.record("tests.buffered_event", actor=None, data={"n": n})


def stored() -> list[int]:
    """The ``n`` of the stored entries, in id order."""
    return [data["n"] for data in JournalEntry.objects.order_by("id").values_list("data", flat=True)]


def committed() -> list[int]:
    """The same, read by another connection: only what is committed."""
    params = {
        k: v for k, v in connection.get_connection_params().items() if k not in {"cursor_factory", "context"}
    }
    with psycopg.connect(**params, autocommit=True) as other:
        rows = other.execute("SELECT data FROM protection_journalentry ORDER BY id").fetchall()
    return [data["n"] for (data,) in rows]


def journal_inserts(queries: CaptureQueriesContext) -> int:
    return sum(INSERT in query["sql"] for query in queries.captured_queries)


@pytest.mark.django_db
def test_an_entry_is_seen_by_the_next_query_of_the_transaction():
    with transaction.atomic():
        entry = record(1)
        assert entry.pk is None  # not written yet

        found = JournalEntry.objects.get(public_id=entry.public_id)

        assert entry.pk == found.pk
        assert not entry._state.adding


@pytest.mark.django_db
def test_the_returned_instance_holds_what_is_stored():
    with transaction.atomic():
        entry = journal.record(
            "tests.buffered_event",
            actor="batch-job",
            purpose="contrôle",
            contract="c-1",
            organisation="o-1",
            request_id="r-1",
            data={"b": [1, 2.5, None], "a": "é"},
        )
        journal.flush()

    found = JournalEntry.objects.get(pk=entry.pk)
    for field in JournalEntry._meta.concrete_fields:
        assert getattr(entry, field.attname) == getattr(found, field.attname), field.name


@pytest.mark.django_db
def test_flush_gives_the_ids():
    with transaction.atomic():
        entries = [record(n) for n in range(3)]
        journal.flush()

        assert all(entry.pk is not None for entry in entries)
        assert [entry.pk for entry in entries] == sorted(entry.pk for entry in entries)


@pytest.mark.django_db
def test_a_batch_of_records_is_one_statement():
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        entries = [record(n) for n in range(journal.FLUSH_AT + 5)]

        # A full buffer is written without waiting for a statement.
        assert journal_inserts(queries) == 1
        assert entries[journal.FLUSH_AT - 1].pk is not None and entries[-1].pk is None
        assert JournalEntry.objects.count() == journal.FLUSH_AT + 5
        assert journal_inserts(queries) == 2


@pytest.mark.django_db
def test_the_insert_is_prepared_once_it_repeats():
    for n in range(6):  # psycopg prepares a statement on its fifth run
        with transaction.atomic():
            record(n)

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{INSERT}%"])
        assert cursor.fetchone()[0] >= 1


@pytest.mark.django_db
def test_a_rolled_back_inner_block_drops_exactly_its_entries():
    with transaction.atomic():
        record(1)
        with pytest.raises(RuntimeError), transaction.atomic():
            record(2)
            assert JournalEntry.objects.exists()  # entries 1 and 2 written, under the savepoint for 2
            record(3)  # still buffered when the block rolls back
            raise RuntimeError("the inner change failed")
        record(4)
        with transaction.atomic():
            record(5)
        with pytest.raises(RuntimeError), transaction.atomic():
            record(6)
            raise RuntimeError("only buffered entries here")

    assert stored() == [1, 4, 5]


@pytest.mark.django_db
def test_a_failed_statement_caught_by_an_inner_block_leaves_the_outer_entries():
    SigningKey.objects.create(key_id="k1", public_key="x")
    with transaction.atomic():
        record(1)
        with pytest.raises(IntegrityError), transaction.atomic():
            record(2)
            SigningKey.objects.create(key_id="k1", public_key="y")
        record(3)
        with pytest.raises(DataError), transaction.atomic():
            with connection.cursor() as cursor:
                try:
                    cursor.execute("SELECT 1/0")
                except DataError:
                    record(4)  # buffered in the aborted block, dropped with it
                    raise
        record(5)

    assert stored() == [1, 3, 5]


@pytest.mark.django_db
def test_in_an_aborted_transaction_a_statement_fails_with_its_own_error():
    with pytest.raises(DatabaseError), transaction.atomic():
        with connection.cursor() as cursor:
            try:
                cursor.execute("SELECT 1/0")
            except DataError:
                pass  # swallowed: PostgreSQL now refuses every command until a rollback
        record(1)

        with CaptureQueriesContext(connection) as queries, pytest.raises(InternalError, match="aborted"):
            SigningKey.objects.count()

        assert journal_inserts(queries) == 0  # the buffer was left alone: the error is the caller's
        # Leaving the block, RELEASE SAVEPOINT fails the same way and the block is rolled back.

    assert stored() == []


@pytest.mark.django_db
def test_recording_in_a_transaction_marked_for_rollback_is_refused():
    with transaction.atomic():
        transaction.set_rollback(True)

        with pytest.raises(transaction.TransactionManagementError):
            record(1)

    assert stored() == []


@pytest.mark.django_db(transaction=True)
def test_entries_commit_with_the_transaction_in_record_order():
    with transaction.atomic():
        entries = [record(1), record(2)]
        assert committed() == []
        SigningKey.objects.exists()  # flushes 1 and 2
        entries += [record(3), record(4)]
        assert committed() == []

    assert committed() == [1, 2, 3, 4]
    ids = [entry.pk for entry in entries]
    assert None not in ids and ids == sorted(ids)


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_writes_nothing():
    with CaptureQueriesContext(connection) as queries:
        with pytest.raises(RuntimeError), transaction.atomic():
            record(1)
            raise RuntimeError("the change failed")

    assert journal_inserts(queries) == 0
    assert committed() == []
    with transaction.atomic():  # nothing left over for the next transaction
        record(2)
    assert committed() == [2]


@pytest.mark.django_db(transaction=True)
def test_on_commit_callbacks_see_the_entries():
    seen = []
    with transaction.atomic():
        entry = record(1)
        transaction.on_commit(lambda: seen.append((entry.pk, committed())))

    assert seen == [(entry.pk, [1])] and entry.pk is not None


@pytest.mark.django_db(transaction=True)
def test_outside_an_atomic_block_an_entry_is_written_at_once():
    entry = record(1)

    assert entry.pk is not None and not entry._state.adding
    assert committed() == [1]


@pytest.mark.django_db(transaction=True)
def test_committing_a_transaction_postgresql_aborted_raises_rather_than_losing_entries_silently():
    with pytest.raises(InternalError, match="aborted"), transaction.atomic():
        with connection.cursor() as cursor:
            try:
                cursor.execute("SELECT 1/0")
            except DataError:
                pass  # swallowed: the COMMIT would silently be a ROLLBACK
        record(1)

    assert committed() == []
    with transaction.atomic():  # the connection is usable again
        record(2)
    assert committed() == [2]


@pytest.mark.django_db(transaction=True)
def test_closing_the_connection_in_a_transaction_drops_the_buffer():
    with transaction.atomic():
        record(1)
        connection.close()

    with transaction.atomic():
        record(2)
    assert committed() == [2]


@pytest.mark.django_db
def test_a_field_holding_the_separator_is_refused_at_once():
    with pytest.raises(journal.JournalPayloadError, match="U\\+001F"):
        journal.record("tests.buffered_event", actor=None, purpose="a\x1fb")
    assert not JournalEntry.objects.filter(purpose="a\x1fb").exists()
