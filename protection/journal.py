"""The one recording API of the platform.

    from protection import journal
    journal.record("exchange.call", actor=application, subject=pseudonym_for(person_id),
                   purpose="…", contract=str(authorization.public_id), data={"fields": [...]})

``record`` writes one entry in the caller's transaction: call it inside the ``transaction.atomic``
block of the change it describes, so the entry exists if and only if that change committed.
"""

import json
import re
from datetime import datetime

from django.utils import timezone

from platform_core.logging import request_id_var
from protection import events
from protection.enums import Outcome
from protection.models import JournalEntry
from protection.pseudonyms import Pseudonym

MAX_DATA_BYTES = 4096
# The payload is public to auditors and citizens: these never belong in it.
_FORBIDDEN_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|private|credential|authorization", re.I)

# How actors are named in the journal, by model label; anything else is named by its label.
_ACTOR_TYPES = {
    "identity.user": "user",
    "platform_core.organisation": "organisation",
    "oauth2_provider.application": "client",
}
SYSTEM = "system"


class JournalPayloadError(ValueError):
    pass


def describe_actor(actor) -> tuple[str, str, str]:
    """(type, public identifier, label) of whoever acted: a model instance, a string, or None (system)."""
    if actor is None:
        return SYSTEM, "", ""
    if isinstance(actor, str):
        return SYSTEM, actor[:64], actor[:255]
    meta = getattr(actor, "_meta", None)
    if meta is None:
        raise TypeError(f"cannot journal an actor of type {type(actor).__name__}")
    actor_type = _ACTOR_TYPES.get(meta.label_lower, meta.label_lower)
    identifier = getattr(actor, "public_id", None) or getattr(actor, "client_id", None) or actor.pk
    # A person's name is personal data: people are named by their public id only.
    label = "" if actor_type == "user" else str(actor)[:255]
    return actor_type, str(identifier)[:64], label


def _check_payload(data: dict) -> dict:
    if not isinstance(data, dict):
        raise JournalPayloadError("the journal payload must be a JSON object")

    def walk(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise JournalPayloadError(f"payload keys must be strings ({path})")
                if _FORBIDDEN_KEY.search(key):
                    raise JournalPayloadError(f"{path}{key}: secrets and tokens never go into the journal")
                walk(item, f"{path}{key}.")
        elif isinstance(value, list):
            for item in value:
                walk(item, path)

    walk(data, "")
    try:
        size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    except (TypeError, ValueError) as error:
        raise JournalPayloadError(f"the payload must be JSON-serialisable: {error}") from None
    if size > MAX_DATA_BYTES:
        raise JournalPayloadError(f"the payload is {size} bytes, more than the {MAX_DATA_BYTES} allowed")
    return data


def record(
    event_type: str,
    *,
    actor,
    subject: Pseudonym | None = None,
    purpose: str | None = None,
    contract=None,
    data: dict | None = None,
    outcome: str = Outcome.SUCCESS,
    request_id: str | None = None,
    organisation=None,
    deferred_disclosure_until: datetime | None = None,
) -> JournalEntry:
    """Write one journal entry (in the current transaction, if any). Returns it."""
    events.get(event_type)  # unknown types are a programming error
    if subject is not None and not isinstance(subject, Pseudonym):
        raise TypeError(
            "subject must come from protection.pseudonyms.pseudonym_for(): never a plain identifier"
        )
    if outcome not in Outcome.values:
        raise ValueError(f"unknown outcome {outcome!r}")
    if deferred_disclosure_until is not None and timezone.is_naive(deferred_disclosure_until):
        raise ValueError("deferred_disclosure_until must be timezone-aware")
    actor_type, actor_id, actor_label = describe_actor(actor)
    if organisation is None and actor_type == "organisation":
        organisation = actor
    organisation_id = "" if organisation is None else str(getattr(organisation, "public_id", organisation))
    contract_ref = "" if contract is None else str(getattr(contract, "public_id", contract))
    request_id = request_id or request_id_var.get()
    return JournalEntry.objects.create(
        event_type=event_type,
        actor_type=actor_type,
        actor_id=actor_id,
        actor_label=actor_label,
        organisation_id=organisation_id[:64],
        subject=subject or "",
        purpose=(purpose or "")[:500],
        contract=contract_ref[:64],
        outcome=outcome,
        request_id="" if request_id == "-" else request_id[:128],
        data=_check_payload(data or {}),
        deferred_disclosure_until=deferred_disclosure_until,
    )
