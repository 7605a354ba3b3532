"""Auditors search the journal by exact identifiers, through the indexes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from protection import journal
from protection.events import register
from protection.pseudonyms import pseudonym_for
from tests.factories import UserFactory

register("tests.searched_event", "Évènement de test de la recherche")
pytestmark = pytest.mark.django_db
JOURNAL = "/admin/protection/journalentry/"


@pytest.fixture
def auditor_client(client):
    client.force_login(UserFactory(staff=True, is_superuser=True))
    return client


def test_exact_identifiers_find_their_entries_and_nothing_else(auditor_client):
    person = pseudonym_for("person-1")
    found = journal.record("tests.searched_event", actor="CAF", contract="contrat-42", subject=person)
    journal.record("tests.searched_event", actor="CAF", contract="contrat-420")
    journal.flush()

    for term in ("contrat-42", person, str(found.public_id)):
        with CaptureQueriesContext(connection) as queries:
            page = auditor_client.get(JOURNAL, {"q": term})
        results = list(page.context["cl"].result_list)
        assert [entry.pk for entry in results] == [found.pk], term
        assert not any("UPPER(" in query["sql"] for query in queries.captured_queries)
    assert list(auditor_client.get(JOURNAL, {"q": "contrat-4"}).context["cl"].result_list) == []
