"""Retention: remove whole sealed batches whose every entry is past its event type's retention.

The seal of a purged batch stays, with a PurgedBatch record, so the chain of seals remains
verifiable after the entries are gone. Deleting is possible only here: the journal's triggers let a
DELETE through only in a transaction that set ``maillage.journal_purge`` (migration 0002).
"""

from dataclasses import dataclass, field
from datetime import datetime

from dateutil.relativedelta import relativedelta
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from protection import events, journal
from protection.models import JournalEntry, PurgedBatch, Seal


@dataclass
class PurgeReport:
    wet_run: bool
    batches: list[tuple[int, int]] = field(default_factory=list)  # (batch number, entries)

    @property
    def entries(self) -> int:
        return sum(count for _, count in self.batches)


def _expired(seal: Seal, now: datetime) -> bool:
    newest_by_type = (
        JournalEntry.objects.filter(id__gte=seal.first_entry_id, id__lte=seal.last_entry_id)
        .values("event_type")
        .annotate(newest=Max("occurred_at"))
    )
    for row in newest_by_type:
        try:
            months = events.get(row["event_type"]).retention_months
        except events.UnknownEventType:
            return False  # never purge what we cannot account for
        if row["newest"] + relativedelta(months=months) > now:
            return False
    return True


def purge_expired(*, now: datetime | None = None, wet_run: bool = False, progress=None) -> PurgeReport:
    now = now or timezone.now()
    report = PurgeReport(wet_run=wet_run)
    candidates = Seal.objects.filter(purge__isnull=True).order_by("batch_number")
    with transaction.atomic():
        for seal in candidates.iterator():
            if not _expired(seal, now):
                continue
            count = JournalEntry.objects.filter(
                id__gte=seal.first_entry_id, id__lte=seal.last_entry_id
            ).count()
            if wet_run:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL maillage.journal_purge = 'on'")
                    cursor.execute(
                        "DELETE FROM protection_journalentry WHERE id BETWEEN %s AND %s",
                        [seal.first_entry_id, seal.last_entry_id],
                    )
                    cursor.execute("SET LOCAL maillage.journal_purge = 'off'")
                PurgedBatch.objects.create(seal=seal, purged_at=now, entry_count=count)
            report.batches.append((seal.batch_number, count))
            if progress:
                progress(seal.batch_number, count)
        if wet_run and report.batches:
            journal.record(
                "journal.purged",
                actor=None,
                data={"batches": [number for number, _ in report.batches], "entries": report.entries},
            )
    return report
