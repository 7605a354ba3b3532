"""Sealing: entries are grouped, in id order, into batches; each batch gets a Seal (Merkle root, chained
to the previous seal, signed). The format is described in protection/canonical.py.

Ids come from a sequence: they are unique and increase in *allocation* order, but transactions commit
in any order and rolled-back ones leave holes forever. A batch must never cover an id that is still
in flight (it would commit later, inside an already sealed range, and verification would take it for
an inserted row), so the sealer first establishes a horizon H below which nothing can still appear:

1. one statement reads H = max(id) of the committed entries and the list of transactions that hold
   the ROW EXCLUSIVE lock on the journal table (every INSERT takes it when the statement is parsed,
   or, prepared as journal.record's is, when its cached plan is checked before running: *before* the
   id default calls nextval(); and keeps it until its transaction ends);
2. the sealer polls until every one of those transactions has ended (bounded; on timeout it gives up
   and the next tick tries again);
3. it then seals, from a fresh snapshot, the entries with last sealed id < id <= H.

Why no id <= H can appear afterwards: an id below H was allocated before H was (the sequence hands
out increasing values, CACHE 1, and only INSERTs into this table call it), hence before H's
transaction committed, hence before step 1. Its transaction held the table lock from before that
allocation: at step 1 it had either ended (committed, so visible in step 3, or rolled back, so the
id is a permanent hole) or it was in the list and step 2 waited for its end. Transactions that start
inserting after step 1 get ids above H.

(An xmin/xmax horizon on pg_current_snapshot() is not enough: a transaction calls nextval() for its
first INSERT before it is given an xid, and a running xid above the snapshot's xmax, which is
latestCompletedXid + 1, is not in the snapshot at all; either lets an id below H commit after
the wait. The lock list also ignores read-only transactions, so long reports do not hold sealing up.
A long *writing* transaction does, until it ends.)

Two sealers never interleave: each holds a transaction-level advisory lock while it reads the last
seal and inserts the new ones (in one transaction); a second one simply returns.
"""

import logging
import time

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from protection import canonical, signing
from protection.models import BatchLeaves, Seal

logger = logging.getLogger(__name__)

# pg_try_advisory_xact_lock key: 'mail' 'seal' in ASCII, any constant unique to this use would do.
SEAL_LOCK_KEY = 0x6D61696C7365616C
HORIZON_TIMEOUT = 1.5  # seconds; the beat schedule runs the sealer every 2 s
HORIZON_POLL_INTERVAL = 0.01
MAX_BATCHES_PER_CALL = 50

_HORIZON_SQL = """
SELECT (SELECT coalesce(max(id), 0) FROM protection_journalentry),
       (SELECT coalesce(array_agg(virtualtransaction), '{}')
          FROM pg_locks
         WHERE locktype = 'relation'
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND relation = 'protection_journalentry'::regclass
           AND mode = 'RowExclusiveLock' AND granted
           AND pid <> pg_backend_pid())
"""
_STILL_WRITING_SQL = """
SELECT count(*) FROM pg_locks
 WHERE locktype = 'relation'
   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND relation = 'protection_journalentry'::regclass
   AND virtualtransaction = ANY(%s)
"""
_SEQUENCE_CACHE_SQL = """
SELECT seqcache FROM pg_sequence
 WHERE seqrelid = pg_get_serial_sequence('protection_journalentry', 'id')::regclass
"""
_sequence_checked = False


def _check_sequence(cursor) -> None:
    """The horizon argument needs ids handed out in time order: no per-session sequence cache."""
    global _sequence_checked
    if _sequence_checked:
        return
    cursor.execute(_SEQUENCE_CACHE_SQL)
    row = cursor.fetchone()
    if row is not None and row[0] != 1:
        raise RuntimeError("the journal id sequence must have CACHE 1 for sealing to be sound")
    _sequence_checked = True


def wait_for_horizon(timeout: float = HORIZON_TIMEOUT) -> int | None:
    """H such that every entry with id <= H that will ever exist is committed; None on timeout."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        _check_sequence(cursor)
        cursor.execute(_HORIZON_SQL)
        horizon, writers = cursor.fetchone()
        while writers:
            cursor.execute(_STILL_WRITING_SQL, [writers])
            if cursor.fetchone()[0] == 0:
                break
            if time.monotonic() >= deadline:
                logger.info("journal sealing postponed: writing transactions still open after %.1fs", timeout)
                return None
            time.sleep(HORIZON_POLL_INTERVAL)
    return horizon


def _pending_leaves(cursor, after_id: int, horizon: int, limit: int) -> list[tuple[int, bytes | None]]:
    # The LIMIT goes in a subquery: leaves are then hashed for the rows of the batch only, whatever
    # plan PostgreSQL picks for the range.
    cursor.execute(
        f"SELECT id, {canonical.LEAF_SQL} FROM (SELECT * FROM protection_journalentry"  # noqa: S608 - constant
        " WHERE id > %s AND id <= %s ORDER BY id LIMIT %s) AS protection_journalentry ORDER BY id",
        [after_id, horizon, limit],
    )
    return cursor.fetchall()


def seal_pending(
    *,
    batch_size: int | None = None,
    max_batches: int = MAX_BATCHES_PER_CALL,
    timeout: float = HORIZON_TIMEOUT,
) -> list[Seal]:
    """Seal the committed entries up to the horizon, in batches of at most ``batch_size``. Idempotent.

    Returns the new seals (none when there is nothing to seal, when another sealer is running, or
    when the horizon could not be established within ``timeout``). At most ``max_batches`` per call:
    a backlog is worked off over several calls.
    """
    batch_size = batch_size or settings.JOURNAL_SEAL_BATCH_SIZE
    horizon = wait_for_horizon(timeout)
    if horizon is None:
        return []
    ring = signing.keyring()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return []
        # "The next N ids after X": without fresh statistics (after a burst of writes) the planner may
        # sort the whole pending range first. Walking the primary key is always right here.
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        last = (
            Seal.objects.order_by("-batch_number")
            .values_list("batch_number", "last_entry_id", "seal_hash")
            .first()
        )
        batch_number, after_id, previous_hash = last or (0, 0, "")
        if after_id >= horizon:
            return []
        seals, leaf_sets = [], []
        while len(seals) < max_batches:
            rows = _pending_leaves(cursor, after_id, horizon, batch_size)
            if not rows:
                break
            if not seals:
                signing.sync_signing_keys(ring)
            ids = [row[0] for row in rows]
            leaves = [row[1] for row in rows]
            if None in leaves:
                # Only a row written around the CHECK constraint can get here: never seal it.
                bad = ids[leaves.index(None)]
                raise RuntimeError(f"journal entry {bad} holds U+001F or a NULL field: it cannot be sealed")
            batch_number += 1
            fields = {
                "batch_number": batch_number,
                "first_entry_id": ids[0],
                "last_entry_id": ids[-1],
                "entry_count": len(ids),
                "merkle_root": canonical.merkle_root(leaves).hex(),
                "previous_seal_hash": previous_hash,
                "key_id": ring.active_key_id,
                "sealed_at": timezone.now(),
            }
            body = canonical.seal_body(**fields)
            key_id, signature = ring.sign(body)
            previous_hash = canonical.seal_hash(body)
            seals.append(Seal(**fields, seal_hash=previous_hash, signature=signature))
            leaf_sets.append(b"".join(leaves))
            after_id = ids[-1]
        Seal.objects.bulk_create(seals)
        BatchLeaves.objects.bulk_create(
            BatchLeaves(seal=seal, hashes=hashes) for seal, hashes in zip(seals, leaf_sets, strict=True)
        )
    if seals:
        logger.info(
            "journal sealed: batches %d-%d, entries up to %d",
            seals[0].batch_number,
            seals[-1].batch_number,
            seals[-1].last_entry_id,
        )
    return seals
