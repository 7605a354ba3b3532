"""The public, auditable format of the journal: canonical entries, Merkle trees, seal bodies.

Auditors re-implement what this module describes; it depends on the standard library only.

Canonical entry
---------------
The canonical form of a journal entry is the UTF-8 encoding of one JSON object with exactly these
fifteen members, and nothing else::

    actor_id, actor_label, actor_type, contract, data, deferred_disclosure_until, event_type, id,
    occurred_at, organisation_id, outcome, public_id, purpose, request_id, subject

- ``id``: the entry's integer id, in decimal (``12``);
- ``public_id``: its UUID, lowercase, with hyphens (``"1b4e28ba-2fa1-11d2-883f-0016d3cca427"``);
- ``occurred_at``: UTC, ISO 8601 with exactly six fractional digits and ``Z``:
  ``"2026-11-28T21:03:04.123456Z"``;
- ``deferred_disclosure_until``: the same datetime format, or ``null``;
- ``data``: a JSON object (possibly ``{}``), canonicalised recursively like the whole entry;
- every other member: a string (possibly empty).

Serialisation rules (those of Python's ``json.dumps(value, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)``):

- object members sorted by key, comparing keys code point by code point; no whitespace anywhere;
  ``,`` between members and elements, ``:`` between key and value;
- strings: characters as they are (no ``\\uXXXX`` escapes for non-ASCII), except ``"`` -> ``\\"``,
  ``\\`` -> ``\\\\``, U+0008 -> ``\\b``, U+000C -> ``\\f``, U+000A -> ``\\n``, U+000D -> ``\\r``,
  U+0009 -> ``\\t``, and any other code point below U+0020 -> ``\\u00xx`` (lowercase hex);
- numbers in ``data`` are those *stored* (PostgreSQL jsonb keeps exact decimals and prints them
  without exponent): a number written without fraction or exponent there is an integer, printed in
  decimal; any other is read as an IEEE 754 double and printed as the shortest decimal string that
  reads back as the same double, in Python's ``repr`` notation (``0.1``, ``2.0``, ``1e-07``). So a
  payload given as ``1e16`` is stored as ``10000000000000000`` and canonicalised as that integer;
- ``true``, ``false``, ``null`` as such;
- array elements keep their order.

Example (one line in reality)::

    {"actor_id":"","actor_label":"","actor_type":"system","contract":"","data":{"a":1,"b":"é"},
     "deferred_disclosure_until":null,"event_type":"journal.purged","id":12,
     "occurred_at":"2026-11-28T21:03:04.123456Z","organisation_id":"","outcome":"success",
     "public_id":"1b4e28ba-2fa1-11d2-883f-0016d3cca427","purpose":"","request_id":"","subject":""}

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
    "data",
    "deferred_disclosure_until",
)
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
    """The canonical members of a JournalEntry (or any object with the same attributes), as JSON values."""
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
        "data": entry.data,
        "deferred_disclosure_until": format_datetime(entry.deferred_disclosure_until),
    }


def canonical_entry(fields: dict) -> str:
    """The canonical text of an entry given its members as JSON values (see ``entry_fields``)."""
    if set(fields) != set(ENTRY_FIELDS):
        raise ValueError("a canonical entry has exactly the members listed in ENTRY_FIELDS")
    if not isinstance(fields["data"], dict):
        raise ValueError("data must be a JSON object")
    return _dumps(fields)


def leaf_hash(canonical: bytes) -> bytes:
    return _sha256(_LEAF + canonical).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(_NODE + left + right).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH over leaf hashes.

    Pairing nodes level by level, a last unpaired node moving up unchanged, builds exactly the
    left-balanced tree of the recursive definition (split at the largest power of two below n).
    """
    if not leaves:
        return _sha256(b"").digest()
    level = leaves
    sha = _sha256
    node = _NODE
    while len(level) > 1:
        paired = [sha(node + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def audit_path(leaves: list[bytes], index: int) -> list[bytes]:
    """RFC 6962 PATH(index, D[n]) for the leaf at ``index`` among ``leaves`` (leaf hashes)."""
    if not 0 <= index < len(leaves):
        raise IndexError("leaf index out of range")
    path = []
    level = leaves
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
        index //= 2
    return path


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


# --- Reading entries from PostgreSQL in canonical form -------------------------------------------------
#
# Sealing and verification read millions of rows: PostgreSQL assembles every member but ``data``
# (strings escaped by to_json(), whose escaping is the one described above; datetimes by to_char() in
# UTC), and Python only canonicalises ``data`` and hashes. tests/protection/test_sealing.py checks that
# this path and ``canonical_entry`` agree on awkward values (quotes, backslashes, control characters,
# non-ASCII, nested data, numbers).

_TIMESTAMP = """'"' || to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '"'"""
ENTRY_SQL = f"""
SELECT id,
       '{{"actor_id":' || to_json(actor_id)::text
       || ',"actor_label":' || to_json(actor_label)::text
       || ',"actor_type":' || to_json(actor_type)::text
       || ',"contract":' || to_json(contract)::text
       || ',"data":' AS prefix,
       data::text AS data,
       ',"deferred_disclosure_until":'
       || coalesce({_TIMESTAMP.format(column="deferred_disclosure_until")}, 'null')
       || ',"event_type":' || to_json(event_type)::text
       || ',"id":' || id::text
       || ',"occurred_at":' || {_TIMESTAMP.format(column="occurred_at")}
       || ',"organisation_id":' || to_json(organisation_id)::text
       || ',"outcome":' || to_json(outcome)::text
       || ',"public_id":"' || public_id::text || '"'
       || ',"purpose":' || to_json(purpose)::text
       || ',"request_id":' || to_json(request_id)::text
       || ',"subject":' || to_json(subject)::text
       || '}}' AS suffix
FROM protection_journalentry
"""  # noqa: S608 - constant text, no outside input

_loads = json.loads


class DataCanonicaliser:
    """jsonb text -> canonical JSON text, remembering recent results (journal payloads repeat a lot)."""

    def __init__(self, capacity: int = 50_000):
        self.capacity = capacity
        self.cache: dict[str, str] = {"{}": "{}"}

    def __call__(self, text: str) -> str:
        result = self.cache.get(text)
        if result is None:
            result = _dumps(_loads(text))
            if len(self.cache) >= self.capacity:
                self.cache = {"{}": "{}"}
            self.cache[text] = result
        return result


def leaves_from_rows(
    rows, canonicalise_data: DataCanonicaliser | None = None
) -> tuple[list[int], list[bytes]]:
    """(ids, leaf hashes) of rows ``(id, prefix, data, suffix)`` read with ENTRY_SQL."""
    canonicalise_data = canonicalise_data or DataCanonicaliser()
    sha = _sha256
    leaf = _LEAF
    ids = []
    leaves = []
    append_id = ids.append
    append_leaf = leaves.append
    for entry_id, prefix, data, suffix in rows:
        append_id(entry_id)
        append_leaf(sha(leaf + (prefix + canonicalise_data(data) + suffix).encode()).digest())
    return ids, leaves


def canonical_from_row(row, canonicalise_data: DataCanonicaliser | None = None) -> str:
    _entry_id, prefix, data, suffix = row
    return prefix + (canonicalise_data or DataCanonicaliser())(data) + suffix
