"""Verify the sealed journal: seals, chain, signatures, and the entries every seal covers.

Exit status 0 when everything verifies, 1 (CommandError) at the first failing batch, which is named
with, where the evidence designates one, the entry. Read-only, so it can run at any time; with
--since/--until only the batches sealed in that window are checked (their link to the batch just
before the window included). Every run is recorded (a VerificationRun and a "journal.verified" entry).
"""

import os
from datetime import datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from protection.verification import Report, record_run, verify_journal


def _date(value: str) -> datetime:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()  # noqa: DTZ007 - a date, made aware below
    except ValueError:
        raise CommandError(f"date invalide : {value!r} (attendu : AAAA-MM-JJ)") from None
    return timezone.make_aware(datetime.combine(day, time.min))


def _number(value: float) -> str:
    return f"{value:_.0f}".replace("_", "\u202f")  # French thousands separator


class Command(BaseCommand):
    help = (
        "Vérifie le journal scellé : empreintes et signatures des sceaux, chaînage, racines de Merkle "
        "recalculées sur les entrées. Code de sortie non nul au premier lot en échec."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", type=_date, help="lots scellés à partir de cette date (AAAA-MM-JJ)")
        parser.add_argument(
            "--until", type=_date, help="lots scellés jusqu'à cette date incluse (AAAA-MM-JJ)"
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=min(4, os.cpu_count() or 1),
            help="processus de vérification en parallèle (par défaut : min(4, nombre de cœurs))",
        )
        parser.add_argument("--progress-every", type=int, default=100, help="une ligne tous les N lots (100)")

    def handle(self, *, since, until, workers: int, progress_every: int, **options):
        if workers < 1 or progress_every < 1:
            raise CommandError("--workers et --progress-every doivent valoir au moins 1")
        if until is not None:
            until += timedelta(days=1)

        def progress(report: Report, total: int) -> None:
            self.stdout.write(
                f"  {report.batches}/{total} lots, {_number(report.entries)} entrées, "
                f"{_number(report.entries_per_second)} entrées/s"
            )

        started_at = timezone.now()
        report = verify_journal(
            since=since, until=until, workers=workers, progress=progress, progress_every=progress_every
        )
        record_run(report, started_at)
        summary = (
            f"{report.batches} lot(s) ({report.purged_batches} purgé(s)), {_number(report.entries)} entrées "
            f"en {report.seconds:.1f} s ({_number(report.entries_per_second)} entrées/s)"
        )
        if report.failure:
            raise CommandError(f"Journal NON conforme — {report.failure}. Vérifié avant l'échec : {summary}.")
        self.stdout.write(self.style.SUCCESS(f"Journal conforme : {summary}."))
