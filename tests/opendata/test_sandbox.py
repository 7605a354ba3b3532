"""`make run`'s synthetic history: through the journal (sealable like any entry), over many départements,
aggregated, idempotent; and the journal's occurred_at for imports of history."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from opendata import selectors
from opendata.management.commands.load_sandbox_activity import MARKER
from opendata.models import AggregationState
from protection import journal, sealing, verification
from protection.models import JournalEntry

pytestmark = pytest.mark.django_db


def test_months_of_activity_over_many_departements_then_nothing_more_on_a_second_run():
    call_command("load_sandbox_activity", "--days", "60", stdout=StringIO())
    entries = JournalEntry.objects.filter(request_id=MARKER)
    count = entries.count()
    oldest = entries.order_by("occurred_at").first().occurred_at

    assert count > 3000
    assert timezone.now() - oldest > timedelta(days=55)
    assert AggregationState.objects.get().last_entry_id >= entries.order_by("-id").first().id
    result = selectors.run(selectors.parse_query({"group_by": "departement", "from": str(oldest.date())}))
    assert len(result.rows) > 60 and result.total == count
    assert len({row["departement"][:2] for row in result.rows if not row["suppressed"]}) > 40
    # The communes' citizen spaces are registered services: the rankings name them.
    services = selectors.run(
        selectors.parse_query({"group_by": "service", "metric": "sign_ins", "from": str(oldest.date())})
    )
    labels = {row["service"]: row["service_label"] for row in services.rows}
    assert labels["espace-citoyen-75056"] == "Espace citoyen – Paris"
    assert labels["espace-citoyen-13055"] == "Espace citoyen – Marseille"

    output = StringIO()
    call_command("load_sandbox_activity", "--days", "60", stdout=output)
    assert entries.count() == count
    assert "déjà présente" in output.getvalue()


def test_the_history_is_sealed_and_verified_like_any_entry():
    call_command("load_sandbox_activity", "--days", "3", stdout=StringIO())
    while sealing.seal_pending():
        pass

    assert verification.verify_journal().ok


def test_occurred_at_must_be_aware_and_past():
    with pytest.raises(ValueError, match="occurred_at"):
        journal.record(
            "platform.organisation_changed", actor=None, occurred_at=timezone.now() + timedelta(hours=1)
        )
    with pytest.raises(ValueError, match="occurred_at"):
        journal.record(
            "platform.organisation_changed", actor=None, occurred_at=timezone.now().replace(tzinfo=None)
        )
    when = timezone.now() - timedelta(days=40)
    entry = journal.record("platform.organisation_changed", actor=None, occurred_at=when)
    journal.flush()
    assert JournalEntry.objects.get(pk=entry.pk).occurred_at == when
