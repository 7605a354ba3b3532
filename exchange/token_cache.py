"""What the gateway knows of an access token, kept in the process while the rows it was read from are
unchanged: the check of every call, in one small prepared query instead of the ORM's seven-table join.

A consumer's token leads to its credential, the authorization and habilitation of the credential, their
organisations, the API and its scopes. Each call still asks PostgreSQL, with the token's checksum, for
the version of every one of those rows: its ``xmin`` (the transaction that wrote it) and ``ctid``
(where this version of the row lies; every UPDATE writes a new one, even within one transaction). The
process reuses the objects it loaded only while that list is the same, so any write to them, by a
service, a queryset ``update()``, the admin or plain SQL, is seen by the next call; a deleted token
(revocation deletes them) or credential is no row at all. What depends on the clock (the token's and
the credential's expiry) and on the request (the caller's address) is checked on every call, as before.

The versions are read before the objects are loaded: objects at least as recent as their versions are
kept, and a write in between changes the versions the next call reads. Tokens without a credential (a
person's, exchange/citizen.py) are never kept: what their call reads is not in the list.
"""

import threading

from django.db import DEFAULT_DB_ALIAS, connections

MAX_ENTRIES = 2000  # tokens kept per process; the whole cache is dropped when full (rare, and cheap)
# The attribute of a kept API product where the gateway remembers the fields of its scopes.
KEEPS_GRANTED_FIELDS = "_granted_fields"

# LEFT JOINs: a token without a credential still has a row (its versions are then partly null).
_VERSIONS_SQL = """
SELECT c.id, concat_ws(',', t.xmin, t.ctid, a.xmin, a.ctid, c.xmin, c.ctid, au.xmin, au.ctid, h.xmin, h.ctid,
       consumer.xmin, consumer.ctid, au_consumer.xmin, au_consumer.ctid, p.xmin, p.ctid,
       provider.xmin, provider.ctid,
       (SELECT string_agg(s.xmin || ':' || s.ctid, ',' ORDER BY s.id) FROM exchange_apiscope s
         WHERE s.api_id = p.id))
  FROM oauth2_provider_accesstoken t
  LEFT JOIN oauth2_provider_application a ON a.id = t.application_id
  LEFT JOIN exchange_credential c ON c.application_id = a.id
  LEFT JOIN exchange_authorization au ON au.id = c.authorization_id
  LEFT JOIN exchange_habilitation h ON h.id = c.habilitation_id
  LEFT JOIN platform_core_organisation consumer ON consumer.id = h.consumer_id
  LEFT JOIN platform_core_organisation au_consumer ON au_consumer.id = au.consumer_id
  LEFT JOIN exchange_apiproduct p ON p.id = h.api_id
  LEFT JOIN platform_core_organisation provider ON provider.id = p.provider_id
 WHERE t.token_checksum = %s
"""

_entries: dict[str, tuple[str, object]] = {}  # token checksum: (versions, what load() returned)
_lock = threading.Lock()


def token_lookup(checksum: str, load, *, along: tuple[tuple[str, list], ...] = ()):
    """``(what, rows)``: ``load()`` (the token with its credential and what the gateway reads of it, or
    None), or what it returned for this token earlier in this process if none of those rows has changed
    since; and the rows of the ``along`` reads (``(sql, params)``), sent with the versions' query in one
    round trip (the gateway's other read of every call)."""
    found, *rows = connections[DEFAULT_DB_ALIAS].prepared_reads((_VERSIONS_SQL, [checksum]), *along)
    if not found:
        _entries.pop(checksum, None)
        return None, rows
    credential_id, versions = found[0]
    kept = _entries.get(checksum)
    if kept is not None and kept[0] == versions:
        return kept[1], rows
    loaded = load()
    if credential_id is None or loaded is None:
        _entries.pop(checksum, None)
        return loaded, rows
    loaded.application.exchange_credential.habilitation.api.__dict__[KEEPS_GRANTED_FIELDS] = {}
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[checksum] = (versions, loaded)
    return loaded, rows


def clear() -> None:
    _entries.clear()
