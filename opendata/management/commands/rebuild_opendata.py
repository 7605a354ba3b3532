"""Recompute the daily statistics of a period from the journal (the numbers the incremental runs gave)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from opendata import aggregation


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"expected a date YYYY-MM-DD, got {value!r}") from None


class Command(BaseCommand):
    help = "Recompute the open-data daily statistics of the days --from..--to from the journal."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", required=True, type=_day, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="last", required=True, type=_day, help="last day, YYYY-MM-DD")

    def handle(self, *args, first: date, last: date, **options):
        if first > last:
            raise CommandError("--from is after --to")
        # One transaction: readers see the old numbers until the new ones are complete.
        entries = aggregation.rebuild(first, last)
        self.stdout.write(f"{first}..{last}: {entries} journal entries counted")
