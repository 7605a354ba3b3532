"""The backend's prepared_reads(): several reads in one round trip (psycopg's pipeline mode), each with
its own rows, through Django's cursors (execute wrappers, error wrapping) like any statement."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from protection import journal
from protection.models import JournalEntry
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db


def test_each_read_gets_its_own_rows_in_order():
    first, second = OrganisationFactory(name="Alpha"), OrganisationFactory(name="Beta")
    by_id = "SELECT name FROM platform_core_organisation WHERE id = %s"
    rows = connection.prepared_reads(
        (by_id, [second.id]),
        (by_id, [first.id]),
        ("SELECT name FROM platform_core_organisation WHERE id = %s", [-1]),
        ("SELECT count(*) FROM platform_core_organisation WHERE id = ANY(%s)", [[first.id, second.id]]),
    )
    assert rows == [[("Beta",)], [("Alpha",)], [], [(2,)]]


def test_the_reads_go_through_djangos_execute_wrappers():
    with CaptureQueriesContext(connection) as captured:
        connection.prepared_reads(("SELECT 1", []), ("SELECT 2", []))
    assert [query["sql"] for query in captured.captured_queries] == ["SELECT 1", "SELECT 2"]


def test_a_failing_read_raises_djangos_error_and_the_connection_goes_on():
    with pytest.raises(DatabaseError), transaction.atomic():
        connection.prepared_reads(("SELECT 1", []), ("SELECT * FROM no_such_table", []))
    assert connection.prepared_reads(("SELECT 3", [])) == [[(3,)]]


def test_the_journals_buffered_entries_are_written_before_the_reads():
    # Inside an atomic block the journal keeps its entries until the next statement: reads included.
    with transaction.atomic():
        entry = journal.record("platform.organisation_created", actor=None, data={"n": 1})
        rows = connection.prepared_reads(
            ("SELECT count(*) FROM protection_journalentry WHERE public_id = %s", [entry.public_id])
        )
        assert rows == [[(1,)]]
    assert JournalEntry.objects.filter(public_id=entry.public_id).exists()
