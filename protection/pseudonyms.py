"""Keyed pseudonyms: people appear in the journal only as HMAC-SHA256 of a stable internal identifier.

A pseudonym reads ``p1:<64 hex>`` where ``p1`` names the key. Rotation: add a new key to
JOURNAL_PSEUDONYM_KEYS (the last one is current); new entries use it, and the citizen's view looks up
the pseudonyms of a person under every key, so older entries stay findable. A removed key makes the
entries written under it unlinkable to anyone — which is the way to anonymise them for good.
"""

import hashlib
import hmac

from django.conf import settings


class Pseudonym(str):
    """A value that has been through ``pseudonym_for``: the only kind of subject the journal accepts."""

    __slots__ = ()


def _keys() -> list[tuple[str, bytes]]:
    return settings.JOURNAL_PSEUDONYM_KEYS


def pseudonym_for(stable_identifier: str, *, key_id: str | None = None) -> Pseudonym:
    if not stable_identifier:
        raise ValueError("a pseudonym needs a non-empty stable identifier")
    keys = dict(_keys())
    key_id = key_id or _keys()[-1][0]
    digest = hmac.new(keys[key_id], stable_identifier.encode("utf-8"), hashlib.sha256).hexdigest()
    return Pseudonym(f"{key_id}:{digest}")


def all_pseudonyms_for(stable_identifier: str) -> list[Pseudonym]:
    """The person's pseudonym under every key still held, newest first."""
    return [pseudonym_for(stable_identifier, key_id=key_id) for key_id, _ in reversed(_keys())]
