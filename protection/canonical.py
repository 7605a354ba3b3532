"""The public, auditable format of the journal: canonical entries, Merkle trees, seal bodies.

Auditors re-implement what this module describes; it depends on the standard library only.

Canonical entry
---------------
The canonical form of a journal entry is the UTF-8 encoding of its fifteen fields, in this order,
joined by the character U+001F (INFORMATION SEPARATOR ONE, "unit separator"), with nothing before
the first or after the last::

    id, public_id, occurred_at, event_type, actor_type, actor_id, actor_label, organisation_id,
    subject, purpose, contract, outcome, request_id, deferred_disclosure_until, data

- ``id``: the entry's integer id, in decimal (``12``);
- ``public_id``: its UUID, lowercase, with hyphens (``1b4e28ba-2fa1-11d2-883f-0016d3cca427``);
- ``occurred_at``: UTC, ISO 8601 with exactly six fractional digits and ``Z``:
  ``2026-11-28T21:03:04.123456Z``;
- ``deferred_disclosure_until``: the same datetime format, or the empty string when there is none;
- ``data``: the payload, a JSON object, as its canonical JSON text (below); the platform stores that
  very text (a PostgreSQL ``json`` column keeps it byte for byte);
- every other field: the string as it is, with no quoting or escaping. None of the fifteen may contain
  U+001F: ``journal.record`` refuses it, a CHECK constraint forbids it in the table, verification
  checks every row again, canonical JSON escapes it (``\\u001f``), and the offline verifier refuses
  an entry holding one. So the fields can always be told apart again.

Canonical JSON (the payload, and the seal body below) is Python's ``json.dumps(value,
sort_keys=True, separators=(",", ":"), ensure_ascii=False)``:

- object members sorted by key, comparing keys code point by code point; no whitespace anywhere;
  ``,`` between members and elements, ``:`` between key and value;
- strings: characters as they are (no ``\\uXXXX`` escapes for non-ASCII), except ``"`` -> ``\\"``,
  ``\\`` -> ``\\\\``, U+0008 -> ``\\b``, U+000C -> ``\\f``, U+000A -> ``\\n``, U+000D -> ``\\r``,
  U+0009 -> ``\\t``, and any other code point below U+0020 -> ``\\u00xx`` (lowercase hex);
- integers in decimal; other numbers as the shortest decimal string that reads back as the same IEEE
  754 double, in Python's ``repr`` notation (``0.1``, ``2.0``, ``1e-07``); no NaN or infinity;
- ``true``, ``false``, ``null`` as such; array elements keep their order.

Example, with ``␟`` standing for U+001F (one line in reality)::

    12␟1b4e28ba-2fa1-11d2-883f-0016d3cca427␟2026-11-28T21:03:04.123456Z␟journal.purged␟system␟␟␟␟
    ␟␟␟success␟␟␟{"a":1,"b":"é"}

Why this form rather than one JSON object: verification rebuilds it for every entry, and PostgreSQL
joins columns (``concat_ws``) and hashes them several times faster than it escapes them into JSON;
this is what lets ``verify_journal`` check half a million entries a second on two cores.

Merkle tree (RFC 6962 §2.1)
---------------------------
A sealed batch holds the entries of its id range in increasing id order, d[0] .. d[n-1]:

- leaf hash: ``SHA-256(0x00 || canonical bytes)``;
- node hash: ``SHA-256(0x01 || left || right)``;
- MTH of one leaf is its leaf hash; for n > 1, with k the largest power of two smaller than n,
  ``MTH(d[0:n]) = node(MTH(d[0:k]), MTH(d[k:n]))``;
- audit paths are RFC 6962's PATH(m, D[n]) (leaf-side sibling first, root-side last).

Hashes are written as lowercase hexadecimal.

Seal body
---------
The seal of batch n is the canonical JSON (same rules) of::

    {"batch_number": n, "entry_count": int, "first_entry_id": int, "key_id": str,
     "last_entry_id": int, "merkle_root": hex, "previous_seal_hash": hex or "" for batch 1,
     "sealed_at": "2026-11-28T21:03:04.123456Z"}

``seal_hash`` is the lowercase hex SHA-256 of those bytes; ``signature`` the base64 (standard
alphabet, padded) Ed25519 signature of the same bytes, by the key named ``key_id`` (its public half
is published at /api/v1/journal/keys). ``previous_seal_hash`` of batch n is ``seal_hash`` of n-1.
"""

import hashlib
import json
from datetime import UTC, datetime

ENTRY_FIELDS = (
    "id",
    "public_id",
    "occurred_at",
    "event_type",
    "actor_type",
    "actor_id",
    "actor_label",
    "organisation_id",
    "subject",
    "purpose",
    "contract",
    "outcome",
    "request_id",
    "deferred_disclosure_until",
    "data",
)
SEPARATOR = "\x1f"
SEAL_FIELDS = (
    "batch_number",
    "first_entry_id",
    "last_entry_id",
    "entry_count",
    "merkle_root",
    "previous_seal_hash",
    "key_id",
    "sealed_at",
)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False).encode
_sha256 = hashlib.sha256
_LEAF = b"\x00"
_NODE = b"\x01"


def canonical_json(value) -> str:
    """The canonical JSON text of any JSON value (see the module docstring)."""
    return _dumps(value)


def format_datetime(value: datetime | None) -> str | None:
    """``2026-11-28T21:03:04.123456Z``: UTC, microseconds, Z. Naive datetimes are refused."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("canonical datetimes must be timezone-aware")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def entry_fields(entry) -> dict:
    """The fields of a JournalEntry (or any object with the same attributes) as JSON values: the
    ``entry`` object of an inclusion proof."""
    return {
        "id": int(entry.id),
        "public_id": str(entry.public_id),
        "occurred_at": format_datetime(entry.occurred_at),
        "event_type": entry.event_type,
        "actor_type": entry.actor_type,
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "organisation_id": entry.organisation_id,
        "subject": entry.subject,
        "purpose": entry.purpose,
        "contract": entry.contract,
        "outcome": entry.outcome,
        "request_id": entry.request_id,
        "deferred_disclosure_until": format_datetime(entry.deferred_disclosure_until),
        "data": entry.data,
    }


def canonical_entry(fields: dict) -> str:
    """The canonical text of an entry given its fields as JSON values (see ``entry_fields``)."""
    if set(fields) != set(ENTRY_FIELDS):
        raise ValueError("a canonical entry has exactly the fields listed in ENTRY_FIELDS")
    if not isinstance(fields["data"], dict):
        raise ValueError("data must be a JSON object")
    if not isinstance(fields["id"], int) or isinstance(fields["id"], bool):
        raise ValueError("id must be an integer")
    parts = []
    for name in ENTRY_FIELDS:
        value = fields[name]
        if name == "id":
            value = str(value)
        elif name == "data":
            value = _dumps(value)
        elif value is None and name == "deferred_disclosure_until":
            value = ""
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        if SEPARATOR in value:
            raise ValueError(f"{name} contains U+001F, which no journal field may hold")
        parts.append(value)
    return SEPARATOR.join(parts)


def leaf_hash(canonical: bytes) -> bytes:
    return _sha256(_LEAF + canonical).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(_NODE + left + right).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH over leaf hashes."""
    if not leaves:
        return _sha256(b"").digest()
    return audit_path_and_root(leaves, 0)[1]


def split_leaves(joined: bytes) -> list[bytes]:
    """Leaf hashes stored or sent back to back (32 bytes each), as a list."""
    return [joined[offset : offset + 32] for offset in range(0, len(joined), 32)]


def audit_path_and_root(leaves: list[bytes], index: int) -> tuple[list[bytes], bytes]:
    """RFC 6962 PATH(index, D[n]) for the leaf at ``index`` among ``leaves`` (leaf hashes), and MTH.

    Pairing nodes level by level, a last unpaired node moving up unchanged, builds exactly the
    left-balanced tree of the recursive definition (split at the largest power of two below n).
    """
    if not 0 <= index < len(leaves):
        raise IndexError("leaf index out of range")
    path = []
    level = leaves
    sha = _sha256
    node = _NODE
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        paired = [sha(node + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
        index //= 2
    return path, level[0]


def audit_path(leaves: list[bytes], index: int) -> list[bytes]:
    """RFC 6962 PATH(index, D[n]) for the leaf at ``index`` among ``leaves`` (leaf hashes)."""
    return audit_path_and_root(leaves, index)[0]


def root_from_audit_path(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """The root an audit path leads to (RFC 9162 §2.1.3.2); raises ValueError on a malformed path."""
    if not 0 <= index < size:
        raise ValueError("leaf index out of range")
    fn, sn = index, size - 1
    result = leaf
    for sibling in path:
        if sn == 0:
            raise ValueError("audit path too long")
        if fn % 2 == 1 or fn == sn:
            result = node_hash(sibling, result)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("audit path too short")
    return result


def seal_body(
    *,
    batch_number: int,
    first_entry_id: int,
    last_entry_id: int,
    entry_count: int,
    merkle_root: str,
    previous_seal_hash: str,
    key_id: str,
    sealed_at: datetime | str,
) -> bytes:
    """The canonical bytes that are hashed into ``seal_hash`` and signed."""
    if isinstance(sealed_at, datetime):
        sealed_at = format_datetime(sealed_at)
    body = {
        "batch_number": int(batch_number),
        "first_entry_id": int(first_entry_id),
        "last_entry_id": int(last_entry_id),
        "entry_count": int(entry_count),
        "merkle_root": merkle_root,
        "previous_seal_hash": previous_seal_hash,
        "key_id": key_id,
        "sealed_at": sealed_at,
    }
    return _dumps(body).encode("utf-8")


def seal_body_of(seal, **overrides) -> bytes:
    """``seal_body`` of any object carrying the SEAL_FIELDS as attributes (a Seal row), with overrides."""
    return seal_body(**{name: getattr(seal, name) for name in SEAL_FIELDS} | overrides)


def seal_hash(body: bytes) -> str:
    return _sha256(body).hexdigest()


# --- Canonical entries and leaf hashes computed by PostgreSQL ------------------------------------------
#
# Sealing, verification and proofs let PostgreSQL build the canonical text (concat_ws of the columns,
# datetimes by to_char() in UTC, ``data`` as the stored json text) and hash it, a batch per query: only
# 32-byte leaf hashes travel. tests/protection/test_sealing.py checks that this path and
# ``canonical_entry`` agree on awkward values.

_TIMESTAMP = """to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
CANONICAL_SQL = (
    "concat_ws(chr(31), id, public_id, "
    + _TIMESTAMP.format(column="occurred_at")
    + ", event_type, actor_type, actor_id, actor_label, organisation_id, subject, purpose, contract,"
    " outcome, request_id, coalesce(" + _TIMESTAMP.format(column="deferred_disclosure_until") + ", ''), data)"
)
# The text columns: none may hold U+001F, or two different entries could join into the same text.
# A CHECK constraint ("journal_no_separator") refuses it on write; the leaf SQL checks it again, for a
# superuser can drop a constraint: a row holding one (or a NULL) gets a NULL leaf, which fails.
TEXT_COLUMNS = tuple(
    name
    for name in ENTRY_FIELDS
    if name not in {"id", "public_id", "occurred_at", "deferred_disclosure_until", "data"}
)
LEAF_SQL = (
    f"CASE WHEN strpos({' || '.join(TEXT_COLUMNS)}, chr(31)) = 0"
    f" THEN sha256('\\x00'::bytea || convert_to({CANONICAL_SQL}, 'UTF8')) END"
)


def leaves_sql(where: str) -> str:
    """``SELECT id, leaf hash`` of the journal rows matching ``where`` (parameters in it), in id order."""
    return f"SELECT id, {LEAF_SQL} FROM protection_journalentry WHERE {where} ORDER BY id"  # noqa: S608


def canonical_sql(where: str) -> str:
    """``SELECT id, canonical text`` of the journal rows matching ``where``, in id order."""
    return f"SELECT id, {CANONICAL_SQL} FROM protection_journalentry WHERE {where} ORDER BY id"  # noqa: S608
