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


def pivot_identifier(identity_hash: str) -> str:
    """The stable identifier of a person Maillage knows only by their pivot identity's hash (the exchange
    hub's calls about someone who has not signed in yet, exchange/gateway.py)."""
    return f"pivot:{identity_hash}"


def person_identifiers(user) -> list[str]:
    """Every identifier what concerns the person may be journaled under: their account's, and for a
    citizen, their verified pivot identity's (the exchanges about them from before their first
    sign-in: they are the same person, as the civil registry checked at sign-in)."""
    identifiers = [person_identifier(user)]
    pivot = getattr(user, "pivot_identity", None)  # identity.CitizenIdentity, citizens only
    if pivot is not None:
        identifiers.append(pivot_identifier(pivot.identity_hash))
    return identifiers


def _pseudonyms_of(identifiers) -> list:
    return [pseudonym for identifier in identifiers for pseudonym in all_pseudonyms_for(identifier)]


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
    if entry.subject and entry.subject in _pseudonyms_of(person_identifiers(user)):
        now = now or timezone.now()
        return entry.deferred_disclosure_until is None or entry.deferred_disclosure_until <= now
    return False


@dataclass(frozen=True)
class PersonJournal:
    entries: QuerySet  # visible to the person, newest first
    deferred_count: int  # entries that exist but are lawfully hidden for now: counted, not shown


def journal_for_person(*stable_identifiers: str, now: datetime | None = None) -> PersonJournal:
    """What the platform recorded about one person (under any of their identifiers, see
    ``person_identifiers``): time, who, what data, why, under which contract."""
    now = now or timezone.now()
    visible_types = [event_type.code for event_type in events.all_types() if event_type.citizen_visible]
    concerning = JournalEntry.objects.filter(
        subject__in=_pseudonyms_of(stable_identifiers), event_type__in=visible_types
    )
    return PersonJournal(
        entries=concerning.filter(_disclosed(now)).order_by("-id"),
        deferred_count=concerning.exclude(_disclosed(now)).count(),
    )
