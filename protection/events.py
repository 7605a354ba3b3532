"""The registry of journal event types. Each app registers its own in its AppConfig.ready():

    from protection.events import register
    register("identity.login", _("Connexion d'un usager"))

A type carries a label (shown to auditors and citizens) and a retention period after which whole
sealed batches whose entries are all past retention may be purged.
"""

import re
from dataclasses import dataclass

DEFAULT_RETENTION_MONTHS = 36  # traceability events
_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True)
class EventType:
    code: str
    label: str
    retention_months: int = DEFAULT_RETENTION_MONTHS
    # Shown in the citizen's "who used my data" view when the entry has a subject.
    citizen_visible: bool = True


class UnknownEventType(LookupError):
    pass


_registry: dict[str, EventType] = {}


def register(
    code: str, label: str, *, retention_months: int = DEFAULT_RETENTION_MONTHS, citizen_visible: bool = True
) -> EventType:
    if not _CODE.match(code) or len(code) > 64:
        raise ValueError(f"event type codes look like 'app.verb_object', 64 characters at most: {code!r}")
    if retention_months < 1:
        raise ValueError("retention must be at least one month")
    event_type = EventType(code, label, retention_months, citizen_visible)
    existing = _registry.get(code)
    if existing is not None and existing != event_type:
        raise ValueError(f"event type {code!r} is already registered differently")
    _registry[code] = event_type
    return event_type


def get(code: str) -> EventType:
    try:
        return _registry[code]
    except KeyError:
        raise UnknownEventType(f"unknown journal event type {code!r}: register it first") from None


def all_types() -> list[EventType]:
    return sorted(_registry.values(), key=lambda event_type: event_type.code)
