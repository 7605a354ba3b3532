"""Writes to accounts, each journaled in the caller's transaction."""

from protection import journal
from protection.pseudonyms import pseudonym_for


def journal_user(event_type: str, user, *, acting_user=None, fields=()) -> None:
    """The journal entry of a change to an account: which fields changed, never their values."""
    journal.record(
        event_type,
        actor=acting_user,
        subject=pseudonym_for(str(user.public_id)),
        data={"kind": user.kind, "fields": sorted(fields)},
    )
