"""The one recording API of the platform.

    from protection import journal
    journal.record("exchange.call", actor=application, subject=pseudonym_for(person_id),
                   purpose="…", contract=str(authorization.public_id), data={"fields": [...]})

``record`` writes one entry in the caller's transaction: call it inside the ``transaction.atomic``
block of the change it describes, so the entry exists if and only if that change committed.

Buffering (a unit of work per connection)
-----------------------------------------
One INSERT per entry made the journal cost a round trip and a statement each. So, outside an atomic
block, ``record`` writes the entry at once (committed on return in autocommit mode); inside one, it
validates the entry, gives it its ``public_id`` and ``occurred_at``, and parks it in the buffer of the
connection, returning a ``JournalEntry`` whose ``id`` is still None. The buffer is written by one
prepared INSERT, whatever the number of entries, at the first of:

- any other SQL statement sent through the connection, SAVEPOINT and RELEASE SAVEPOINT included (an
  execute wrapper, ``_Buffer.before_statement``): every query of the transaction, the caller's own
  included, sees the entries as if ``record`` had inserted them;
- COMMIT (platform_core/db/backends/postgresql/base.py): the entries commit with the transaction, and
  on_commit callbacks see them;
- ``FLUSH_AT`` entries in the buffer, or ``flush()``, for a caller that needs the ids now.

The buffer is dropped on ROLLBACK, when the connection is closed, and on ROLLBACK TO SAVEPOINT: as
any statement flushes it, every entry still in it was recorded after the last statement, hence after
the savepoint being rolled back to was created, and belongs to the work being undone. An entry is
thus written in the same transaction, under the same savepoints, as if ``record`` had inserted it: it
exists if and only if the caller's transaction commits, and disappears with an inner atomic block
that is rolled back. (Entries dropped before being written leave no hole in the ids, as they never
reached the sequence.)

When the transaction is already broken (Django's ``needs_rollback``, or PostgreSQL refusing commands
after an error), a statement does not flush: it runs and fails with its own error, and the rollback
that has to follow drops the buffer. ``record`` refuses to buffer in a transaction Django knows to
be broken, as the INSERT did. COMMIT of a transaction PostgreSQL has aborted raises (the flush fails)
where psycopg would roll back silently: the caller recorded entries that will not exist.

Two consequences: an error PostgreSQL would raise on the INSERT itself surfaces at the flush, from
the next statement or the commit; and statements sent without Django's cursors (psycopg used
directly, ``cursor.copy()``) do not flush: call ``flush()`` before them.

Ids still come from the column's sequence default, allocated by the INSERT statement itself, which
holds the table's ROW EXCLUSIVE lock: the horizon of protection/sealing.py relies on it. The entries
of one connection get increasing ids in the order they were recorded.
"""

import re
import uuid
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from psycopg.pq import TransactionStatus

from platform_core.logging import request_id_var
from protection import events
from protection.canonical import SEPARATOR, canonical_json
from protection.enums import Outcome
from protection.models import JournalEntry
from protection.pseudonyms import Pseudonym

MAX_DATA_BYTES = 4096
FLUSH_AT = 1000  # buffered entries; bounds memory and the size of one INSERT
# The payload is public to auditors and citizens: these never belong in it.
_FORBIDDEN_KEY = re.compile(r"pass(word)?|secret|token|api[_-]?key|private|credential|authorization", re.I)
_OUTCOMES = frozenset(Outcome.values)

# How actors are named in the journal, by model label; anything else is named by its label.
_ACTOR_TYPES = {
    "identity.user": "user",
    "platform_core.organisation": "organisation",
    "oauth2_provider.application": "client",
}
SYSTEM = "system"

# One text whatever the number of rows, so psycopg prepares it; arrays sent in binary (%b), which spares
# quoting and escaping every element as text. Payloads travel as their canonical JSON text, and
# ``data::json`` is the one place that turns them into the column's type (json keeps the text as is).
_INSERT_SQL = """
INSERT INTO protection_journalentry (public_id, occurred_at, event_type, actor_type, actor_id, actor_label,
       organisation_id, subject, purpose, contract, outcome, request_id, data, deferred_disclosure_until)
SELECT public_id, occurred_at, event_type, actor_type, actor_id, actor_label, organisation_id, subject,
       purpose, contract, outcome, request_id, data::json, deferred_disclosure_until
  FROM unnest(%b::uuid[], %b::timestamptz[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
              %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[])
       AS entry (public_id, occurred_at, event_type, actor_type, actor_id, actor_label, organisation_id,
                 subject, purpose, contract, outcome, request_id, data, deferred_disclosure_until)
RETURNING id, public_id
"""
# One entry (most requests journal one): the same INSERT with plain values, which PostgreSQL runs in
# about 0.1 ms less than unnest() over one-element arrays.
_INSERT_ONE_SQL = """
INSERT INTO protection_journalentry (public_id, occurred_at, event_type, actor_type, actor_id, actor_label,
       organisation_id, subject, purpose, contract, outcome, request_id, data, deferred_disclosure_until)
VALUES (%b, %b, %b, %b, %b, %b, %b, %b, %b, %b, %b, %b, %b::json, %b)
RETURNING id, public_id
"""


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


def _check_keys(value, path: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise JournalPayloadError(f"payload keys must be strings ({path})")
            if _FORBIDDEN_KEY.search(key):
                raise JournalPayloadError(f"{path}{key}: secrets and tokens never go into the journal")
            if isinstance(item, dict | list):
                _check_keys(item, f"{path}{key}.")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                _check_keys(item, path)


def _payload_text(data: dict) -> str:
    """The payload's canonical JSON text, the one serialisation: it is measured, then stored."""
    if not isinstance(data, dict):
        raise JournalPayloadError("the journal payload must be a JSON object")
    _check_keys(data, "")
    try:
        text = canonical_json(data)
    except (TypeError, ValueError) as error:
        raise JournalPayloadError(f"the payload must be JSON-serialisable: {error}") from None
    size = len(text.encode("utf-8"))
    if size > MAX_DATA_BYTES:
        raise JournalPayloadError(f"the payload is {size} bytes, more than the {MAX_DATA_BYTES} allowed")
    return text


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
    occurred_at: datetime | None = None,
) -> JournalEntry:
    """Record one entry in the current transaction, if any. Returns it; inside an atomic block its ``id``
    is set when the buffer is written (see the module docstring; ``flush()`` forces it).

    ``occurred_at`` (default: now) is for importing the history of an event that happened earlier (the
    sandbox's synthetic activity, a migration): aware and not in the future. The entry is appended as
    any other (the next id, sealed with the entries around it): its seal dates the recording, the entry
    the event."""
    events.get(event_type)  # unknown types are a programming error
    if subject is not None and not isinstance(subject, Pseudonym):
        raise TypeError(
            "subject must come from protection.pseudonyms.pseudonym_for(): never a plain identifier"
        )
    if outcome not in _OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    if deferred_disclosure_until is not None and timezone.is_naive(deferred_disclosure_until):
        raise ValueError("deferred_disclosure_until must be timezone-aware")
    now = timezone.now()
    if occurred_at is None:
        occurred_at = now
    elif timezone.is_naive(occurred_at) or occurred_at > now:
        raise ValueError("occurred_at must be timezone-aware and not in the future")
    actor_type, actor_id, actor_label = describe_actor(actor)
    if organisation is None and actor_type == "organisation":
        organisation = actor
    organisation_id = "" if organisation is None else str(getattr(organisation, "public_id", organisation))
    contract_ref = "" if contract is None else str(getattr(contract, "public_id", contract))
    request_id = request_id or request_id_var.get()
    if data is None:
        data = {}
    data_text = _payload_text(data)
    row = (
        uuid.uuid4(),
        occurred_at,
        event_type,
        actor_type[:32],
        actor_id,
        actor_label,
        organisation_id[:64],
        subject or "",
        (purpose or "")[:500],
        contract_ref[:64],
        str(outcome),
        "" if request_id == "-" else request_id[:128],
        data_text,
        deferred_disclosure_until,
    )
    if SEPARATOR in "".join(row[2:12]):
        # The canonical form joins the fields with it (protection/canonical.py); the table refuses it too.
        raise JournalPayloadError("journal fields may not contain U+001F (the canonical form's separator)")
    # Positional arguments in field order (id first): the light way to build an instance.
    entry = JournalEntry(None, *row[:12], data, deferred_disclosure_until)
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.in_atomic_block:
        if connection.needs_rollback:
            connection.validate_no_broken_transaction()  # raises, as the INSERT would have
        buffer = connection.journal_buffer
        if buffer is None:
            buffer = _Buffer.install(connection)
        buffer.add(entry, row)
    else:
        _write(connection, [entry], [row])
    return entry


def flush() -> None:
    """Write the entries buffered on the default connection now (their ``id`` is then set)."""
    buffer = connections[DEFAULT_DB_ALIAS].journal_buffer
    if buffer:
        buffer.flush()


def _write(connection, entries: list[JournalEntry], rows: list[tuple]) -> None:
    with connection.prepared_cursor() as cursor:
        if len(rows) == 1:
            cursor.execute(_INSERT_ONE_SQL, rows[0])
        else:
            cursor.execute(_INSERT_SQL, [list(column) for column in zip(*rows, strict=True)])
        ids = {public_id: entry_id for entry_id, public_id in cursor.fetchall()}
    alias = connection.alias
    for entry in entries:
        entry.id = ids[entry.public_id]
        entry._state.adding = False
        entry._state.db = alias


class _Buffer:
    """The entries recorded in the current transaction of one connection and not written yet."""

    __slots__ = ("connection", "entries", "rows", "rollback_to_savepoint")

    def __init__(self, connection):
        self.connection = connection
        self.entries: list[JournalEntry] = []
        self.rows: list[tuple] = []
        # "ROLLBACK TO SAVEPOINT ": how the statements Atomic sends to undo an inner block begin.
        ops = connection.ops
        self.rollback_to_savepoint = ops.savepoint_rollback_sql("s").removesuffix(ops.quote_name("s"))

    @classmethod
    def install(cls, connection) -> "_Buffer":
        buffer = connection.journal_buffer = cls(connection)
        # First in the list: Django's execute_wrapper() context managers pop the *last* one on exit.
        connection.execute_wrappers.insert(0, buffer.before_statement)
        return buffer

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entry: JournalEntry, row: tuple) -> None:
        self.entries.append(entry)
        self.rows.append(row)
        if len(self.entries) >= FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        entries, rows = self.entries, self.rows
        if entries:
            # Swapped out before the INSERT, which goes through before_statement too.
            self.entries, self.rows = [], []
            _write(self.connection, entries, rows)

    def discard(self) -> None:
        self.entries, self.rows = [], []

    def before_statement(self, execute, sql, params, many, context):
        if self.entries:
            if isinstance(sql, str) and sql.startswith(self.rollback_to_savepoint):
                self.discard()
            elif not self._transaction_broken():
                self.flush()
        return execute(sql, params, many, context)

    def _transaction_broken(self) -> bool:
        # The statement will fail on its own; a flush would only replace its error with the INSERT's.
        # The rollback that has to follow drops the buffer.
        connection = self.connection
        if connection.needs_rollback:
            return True
        raw = connection.connection
        return raw is not None and raw.info.transaction_status == TransactionStatus.INERROR
