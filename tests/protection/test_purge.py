import hashlib
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from protection import events
from protection.models import JournalEntry, PurgedBatch, Seal, SigningKey

pytestmark = pytest.mark.django_db

events.register("tests.short_lived", "Évènement conservé 12 mois (test)", retention_months=12)
events.register("tests.long_lived", "Évènement conservé 36 mois (test)")


def entries(event_type: str, age: timedelta, count: int) -> list[JournalEntry]:
    # Written directly to give them an old date: inserting is what the journal allows.
    return [
        JournalEntry.objects.create(
            event_type=event_type, actor_type="system", occurred_at=timezone.now() - age
        )
        for _ in range(count)
    ]


def seal(batch_number: int, batch: list[JournalEntry]) -> Seal:
    key, _ = SigningKey.objects.get_or_create(key_id="test", defaults={"public_key": "AAAA"})
    return Seal.objects.create(
        batch_number=batch_number,
        first_entry_id=batch[0].id,
        last_entry_id=batch[-1].id,
        entry_count=len(batch),
        merkle_root="0" * 64,
        seal_hash=hashlib.sha256(str(batch_number).encode()).hexdigest(),
        key=key,
        signature="x",
    )


@pytest.fixture
def journal_of_three_batches():
    expired = entries("tests.short_lived", timedelta(days=400), 3)
    mixed = entries("tests.short_lived", timedelta(days=400), 2) + entries(
        "tests.long_lived", timedelta(days=400), 1
    )
    recent = entries("tests.short_lived", timedelta(days=10), 2)
    return seal(1, expired), seal(2, mixed), seal(3, recent)


def test_the_purge_is_a_dry_run_by_default(journal_of_three_batches, capsys):
    call_command("purge_journal")

    assert JournalEntry.objects.count() == 8
    assert not PurgedBatch.objects.exists()
    assert "1 lot(s), 3 entrée(s) à supprimer" in capsys.readouterr().out


def test_wet_run_removes_only_whole_batches_past_retention_and_journals_it(journal_of_three_batches):
    first, mixed, recent = journal_of_three_batches

    call_command("purge_journal", "--wet-run")

    assert not JournalEntry.objects.filter(id__lte=first.last_entry_id).exists()
    assert (
        JournalEntry.objects.filter(id__gte=mixed.first_entry_id, id__lte=recent.last_entry_id).count() == 5
    )
    purged = PurgedBatch.objects.get()
    assert (purged.seal, purged.entry_count) == (first, 3)
    assert Seal.objects.count() == 3  # seals stay: the chain remains checkable
    record = JournalEntry.objects.get(event_type="journal.purged")
    assert record.data == {"batches": [1], "entries": 3}


def test_a_purged_batch_is_not_purged_again(journal_of_three_batches):
    call_command("purge_journal", "--wet-run")
    call_command("purge_journal", "--wet-run")

    assert PurgedBatch.objects.count() == 1
    assert JournalEntry.objects.filter(event_type="journal.purged").count() == 1


def test_beat_purges_every_night(journal_of_three_batches, settings):
    from protection.tasks import purge_journal_task

    schedule = settings.CELERY_BEAT_SCHEDULE["protection.purge_journal"]
    assert schedule["task"] == purge_journal_task.name
    assert (schedule["schedule"].hour, schedule["schedule"].minute) == ({3}, {30})

    assert purge_journal_task() == 3
    assert PurgedBatch.objects.get().seal == journal_of_three_batches[0]
