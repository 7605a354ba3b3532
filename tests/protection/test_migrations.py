"""Migration 0004 (journal format 2) on a database that holds a format-1 journal."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from protection import journal, sealing
from protection.events import register
from protection.models import BatchLeaves, JournalEntry, Seal

register("tests.migrated_event", "Évènement de test des migrations")

FORMAT_1 = [("protection", "0003_verificationrun")]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_format_2_empties_a_pre_release_journal_and_seals_anew(capsys):
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("protection")
    migrate(FORMAT_1)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO protection_journalentry (public_id, occurred_at, event_type, actor_type,"
                " actor_id, actor_label, organisation_id, subject, purpose, contract, outcome, request_id,"
                " data) VALUES (gen_random_uuid(), now(), 'tests.migrated_event', 'system', '', '', '', '',"
                " '', '', 'success', '', '{\"a\": 1}'::jsonb)"
            )
    finally:
        migrate(latest)

    assert "the pre-release journal was emptied (1 in protection_journalentry" in capsys.readouterr().out
    assert not JournalEntry.objects.exists()
    journal.record("tests.migrated_event", actor=None, data={"b": 2})
    seals = sealing.seal_pending()
    assert len(seals) == 1 and BatchLeaves.objects.get(seal=seals[0]).leaf_list()
    assert Seal.objects.count() == 1
