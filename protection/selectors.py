"""Who may see which journal entries, and what a person sees about themselves."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from platform_core.models import Membership
from protection import events
from protection.models import JournalEntry
from protection.pseudonyms import all_pseudonyms_for


def person_identifier(user) -> str:
    """The stable internal identifier a person is pseudonymised from."""
    return str(user.public_id)


def _disclosed(now: datetime) -> Q:
    return Q(deferred_disclosure_until__isnull=True) | Q(deferred_disclosure_until__lte=now)


def entry_visible_to(user, entry: JournalEntry, *, now: datetime | None = None) -> bool:
    """Auditors see everything; others see what they did, what their organisations did, and what
    concerns them as a person once any lawful deferral has passed."""
    if user is None or not user.is_authenticated:
        return False
    if user.has_perm("protection.view_journalentry"):
        return True
    if entry.actor_type == "user" and entry.actor_id == str(user.public_id):
        return True
    if entry.organisation_id and (
        Membership.objects.filter(user=user, organisation__public_id=entry.organisation_id).exists()
    ):
        return True
    if entry.subject and entry.subject in all_pseudonyms_for(person_identifier(user)):
        now = now or timezone.now()
        return entry.deferred_disclosure_until is None or entry.deferred_disclosure_until <= now
    return False


@dataclass(frozen=True)
class PersonJournal:
    entries: QuerySet  # visible to the person, newest first
    deferred_count: int  # entries that exist but are lawfully hidden for now: counted, not shown


def journal_for_person(stable_identifier: str, *, now: datetime | None = None) -> PersonJournal:
    """What the platform recorded about one person: time, who, what data, why, under which contract."""
    now = now or timezone.now()
    visible_types = [event_type.code for event_type in events.all_types() if event_type.citizen_visible]
    concerning = JournalEntry.objects.filter(
        subject__in=all_pseudonyms_for(stable_identifier), event_type__in=visible_types
    )
    return PersonJournal(
        entries=concerning.filter(_disclosed(now)).order_by("-id"),
        deferred_count=concerning.exclude(_disclosed(now)).count(),
    )
