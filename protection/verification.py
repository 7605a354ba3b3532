"""Verification of the sealed journal, and inclusion proofs of single entries.

``verify_journal`` recomputes everything a seal vouches for, batch after batch, and stops at the first
failing batch:

- the seal itself: its hash over its canonical body, its Ed25519 signature by the published key it
  names (an unknown key fails), the chain (batch numbers consecutive from 1, previous_seal_hash equal
  to the preceding seal's hash, id ranges in order and not overlapping);
- its entries (unless the batch was purged): the entries present with first <= id <= last, in id
  order, must be ``entry_count`` many and give back the Merkle root;
- no entry may exist between two sealed ranges, below the first one, or inside a purged one (a row
  inserted after sealing).

What it can name: the batch always; the entry when the evidence designates one: an entry outside any
sealed range, a missing first or last entry of a range, a row holding the separator U+001F, and the
first entry whose leaf differs from the leaf hashes kept at sealing (BatchLeaves) for a modified,
swapped, deleted or inserted entry, when those kept leaves give back the signed root (if they were
tampered with too, only the batch is named).

PostgreSQL builds each entry's canonical text and hashes it (protection/canonical.py); only ids and
32-byte leaf hashes travel, a batch per query. With ``workers`` > 1 the batches are spread over forked
processes, each with its own database connection.
"""

import json
import logging
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from platform_core.exceptions import Conflict
from protection import canonical, journal, signing
from protection.enums import Outcome
from protection.models import BatchLeaves, JournalEntry, Seal, VerificationRun
from protection.selectors import entry_visible_to

NOT_SEALED_RETRY_AFTER = 5  # seconds: the sealer runs every 2 s
TASK_BATCHES = 4  # batches per task handed to a worker process

logger = logging.getLogger(__name__)


class EntryNotSealed(Conflict):
    code = "journal-entry-not-sealed"
    title = _("Entrée pas encore scellée")
    description = _(
        "L'entrée du journal n'est pas encore scellée : sa preuve d'inclusion sera disponible dans "
        "quelques secondes (voir l'en-tête Retry-After)."
    )


@dataclass(frozen=True)
class Failure:
    batch_number: int | None
    reason: str
    entry_id: int | None = None

    def __str__(self) -> str:
        where = f"lot {self.batch_number}" if self.batch_number is not None else "journal"
        entry = f", entrée {self.entry_id}" if self.entry_id is not None else ""
        return f"{where}{entry} : {self.reason}"


@dataclass
class Report:
    batches: int = 0
    purged_batches: int = 0
    entries: int = 0
    seconds: float = 0.0
    failure: Failure | None = None
    first_batch: int | None = None  # the range of batches the run was asked to check
    last_batch: int | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def entries_per_second(self) -> float:
        return self.entries / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class SealRow:
    batch_number: int
    first_entry_id: int
    last_entry_id: int
    entry_count: int
    merkle_root: str
    previous_seal_hash: str
    seal_hash: str
    key_id: str
    signature: str
    sealed_at: datetime
    purged: bool


_SEALS_SQL = """
SELECT s.batch_number, s.first_entry_id, s.last_entry_id, s.entry_count, s.merkle_root,
       s.previous_seal_hash, s.seal_hash, s.key_id, s.signature, s.sealed_at, p.id IS NOT NULL
  FROM protection_seal s LEFT JOIN protection_purgedbatch p ON p.seal_id = s.id
"""


def _load_seals(
    since: datetime | None, until: datetime | None, after_batch: int | None = None
) -> tuple[SealRow | None, list[SealRow]]:
    """(the seal just before the window, the seals of the window), in batch order."""
    conditions, params = [], []
    if after_batch is not None:
        conditions.append("s.batch_number > %s")
        params.append(after_batch)
    if since is not None:
        conditions.append("s.sealed_at >= %s")
        params.append(since)
    if until is not None:
        conditions.append("s.sealed_at < %s")
        params.append(until)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    with connection.cursor() as cursor:
        cursor.execute(_SEALS_SQL + where + " ORDER BY s.batch_number", params)
        seals = [SealRow(*row) for row in cursor.fetchall()]
        anchor = None
        if seals and seals[0].batch_number > 1:
            cursor.execute(_SEALS_SQL + " WHERE s.batch_number = %s", [seals[0].batch_number - 1])
            row = cursor.fetchone()
            anchor = SealRow(*row) if row else None
    return anchor, seals


def check_seal(seal: SealRow, previous: SealRow | None, public_keys: dict[str, str]) -> Failure | None:
    """The seal's own hash and signature, and its link to the previous one."""

    def fail(reason: str) -> Failure:
        return Failure(seal.batch_number, reason)

    body = canonical.seal_body_of(seal)
    if canonical.seal_hash(body) != seal.seal_hash:
        return fail("l'empreinte du sceau ne correspond pas à son contenu")
    public_key = public_keys.get(seal.key_id)
    if public_key is None:
        return fail(f"le sceau est signé par une clé inconnue ({seal.key_id})")
    if not signing.verify_signature(public_key, body, seal.signature):
        return fail(f"la signature du sceau est invalide (clé {seal.key_id})")
    if previous is None:
        if seal.batch_number != 1:
            return fail(f"le lot {seal.batch_number - 1} qui le précède est introuvable")
        if seal.previous_seal_hash != "":
            return fail("le premier lot ne doit pas désigner de sceau précédent")
    else:
        if seal.batch_number != previous.batch_number + 1:
            return fail(f"numérotation rompue : le lot précédent est le lot {previous.batch_number}")
        if seal.previous_seal_hash != previous.seal_hash:
            return fail("le chaînage est rompu : l'empreinte du sceau précédent ne correspond pas")
        if seal.first_entry_id <= previous.last_entry_id:
            return fail("la plage d'entrées chevauche celle du lot précédent")
    if not (seal.first_entry_id <= seal.last_entry_id and 1 <= seal.entry_count):
        return fail("la plage d'entrées du sceau est incohérente")
    if seal.entry_count > seal.last_entry_id - seal.first_entry_id + 1:
        return fail("le sceau annonce plus d'entrées que sa plage n'en peut contenir")
    return None


_STORED_LEAVES_SQL = """
SELECT l.hashes FROM protection_batchleaves l JOIN protection_seal s ON s.id = l.seal_id
 WHERE s.batch_number = %s
"""


def _first_changed(cursor, seal: SealRow, leaves: list[bytes]) -> int | None:
    """Position of the first leaf that differs from those kept at sealing time, when they are trustworthy
    (they give back the signed root); None when they cannot tell."""
    cursor.execute(_STORED_LEAVES_SQL, [seal.batch_number])
    row = cursor.fetchone()
    if row is None:
        return None
    stored = canonical.split_leaves(bytes(row[0]))
    if len(stored) != seal.entry_count or canonical.merkle_root(stored).hex() != seal.merkle_root:
        return None
    for position, (leaf, kept) in enumerate(zip(leaves, stored, strict=False)):
        if leaf != kept:
            return position
    return min(len(leaves), len(stored))


# One row per batch: count, first and last id, and the leaves concatenated in id order (string_agg
# skips NULL leaves, those of rows holding U+001F: the length then gives them away). Building one
# bytea in PostgreSQL costs far less than shipping and unpacking ten thousand rows.
_BATCH_SQL = f"""
SELECT count(*), min(id), max(id), string_agg(leaf, ''::bytea ORDER BY id)
  FROM (SELECT id, {canonical.LEAF_SQL} AS leaf FROM protection_journalentry
         WHERE id > %s AND id <= %s) AS batch
"""  # noqa: S608 - constant text, values are parameters


def check_batch_entries(cursor, seal: SealRow, after_id: int) -> tuple[int, Failure | None]:
    """(entries read, failure) for the entries after_id < id <= last of ``seal``."""
    cursor.execute(_BATCH_SQL, [after_id, seal.last_entry_id])
    count, first_id, last_id, joined = cursor.fetchone()

    def fail(reason: str, entry_id: int | None = None) -> tuple[int, Failure]:
        return count, Failure(seal.batch_number, reason, entry_id)

    if count and first_id < seal.first_entry_id:
        return fail("entrée hors de toute plage scellée (insérée après scellement ?)", first_id)
    if seal.purged:
        if count:
            return fail("entrée présente dans un lot purgé", first_id)
        return 0, None
    leaves = canonical.split_leaves(bytes(joined or b""))
    if len(leaves) != count:
        ids, leaves = _batch_rows(cursor, seal, after_id)
        return fail("l'entrée contient le séparateur U+001F ou un champ nul", ids[leaves.index(None)])
    if not count or first_id != seal.first_entry_id:
        return fail("la première entrée du lot est absente", seal.first_entry_id)
    if last_id != seal.last_entry_id:
        return fail("la dernière entrée du lot est absente", seal.last_entry_id)
    if count != seal.entry_count:
        ids, leaves = _batch_rows(cursor, seal, after_id)
        position = _first_changed(cursor, seal, leaves)
        where = f" ; première divergence à l'entrée {ids[position]}" if position is not None else ""
        return fail(
            f"le lot compte {count} entrées au lieu de {seal.entry_count} (entrée supprimée ou "
            f"insérée){where}",
            ids[position] if position is not None else None,
        )
    if canonical.merkle_root(leaves).hex() != seal.merkle_root:
        ids, leaves = _batch_rows(cursor, seal, after_id)
        position = _first_changed(cursor, seal, leaves)
        if position is None:
            return fail("la racine de Merkle diffère : le contenu d'au moins une entrée a été modifié")
        return fail(
            f"la racine de Merkle diffère : le contenu de l'entrée {ids[position]} a été modifié",
            ids[position],
        )
    return count, None


def _batch_rows(cursor, seal: SealRow, after_id: int) -> tuple[list[int], list[bytes | None]]:
    """Ids and leaves of the batch row by row: only to name the entry once a batch has failed."""
    cursor.execute(canonical.leaves_sql("id > %s AND id <= %s"), [after_id, seal.last_entry_id])
    rows = cursor.fetchall()
    return [row[0] for row in rows], [None if row[1] is None else bytes(row[1]) for row in rows]


# --- worker processes ---------------------------------------------------------------------------------

_worker_connection = None


def _worker_start(params: dict) -> None:
    import psycopg

    global _worker_connection
    _worker_connection = psycopg.connect(**params, autocommit=True)
    # Batch queries are short and all alike: compiling them with JIT costs more than it saves.
    _worker_connection.execute("SET jit = off")


def _worker_check(task: list[tuple[SealRow, int]]) -> list[tuple[int, int, Failure | None]]:
    results = []
    # Binary results: leaf hashes arrive as raw bytes, with no hex decoding.
    with _worker_connection.cursor(binary=True) as cursor:
        for seal, after_id in task:
            count, failure = check_batch_entries(cursor, seal, after_id)
            results.append((seal.batch_number, count, failure))
            if failure:
                break
    return results


def _worker_params() -> dict:
    connection.ensure_connection()
    params = connection.get_connection_params()
    return {key: value for key, value in params.items() if key not in {"cursor_factory", "context"}}


# --- the verification ---------------------------------------------------------------------------------


def verify_journal(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    after_batch: int | None = None,
    workers: int = 1,
    progress: Callable[[Report, int], None] | None = None,
    progress_every: int = 100,
) -> Report:
    """Verify the seals (sealed between ``since`` and ``until``, numbered after ``after_batch``, when
    given) and the entries they cover.

    Inside a transaction the check runs in this process, on what this transaction sees; otherwise it
    may use ``workers`` processes. ``progress(report, total_batches)`` is called every
    ``progress_every`` batches.
    """
    started = time.monotonic()
    report = Report()
    anchor, seals = _load_seals(since, until, after_batch)
    if seals:
        report.first_batch, report.last_batch = seals[0].batch_number, seals[-1].batch_number
    public_keys = signing.published_public_keys()

    first_bad_seal, seal_failure = len(seals), None
    previous = anchor
    for position, seal in enumerate(seals):
        seal_failure = check_seal(seal, previous, public_keys)
        if seal_failure:
            first_bad_seal = position
            break
        previous = seal

    tasks = []
    after_id = anchor.last_entry_id if anchor else -(2**63)  # nothing may lie below batch 1 either
    for position in range(0, first_bad_seal, TASK_BATCHES):
        task = []
        for seal in seals[position : min(position + TASK_BATCHES, first_bad_seal)]:
            task.append((seal, after_id))
            after_id = seal.last_entry_id
        tasks.append(task)

    def consume(results) -> Failure | None:
        for task_results in results:
            for _batch_number, count, failure in task_results:
                report.entries += count
                report.batches += 1
                if failure:
                    return failure
                if progress and report.batches % progress_every == 0:
                    report.seconds = time.monotonic() - started
                    progress(report, len(seals))
        return None

    if workers > 1 and len(tasks) > 1 and not connection.in_atomic_block:
        params = _worker_params()
        connection.close()  # a forked child must never use the parent's connection
        context = multiprocessing.get_context("fork")
        with context.Pool(workers, initializer=_worker_start, initargs=(params,)) as pool:
            failure = consume(pool.imap(_worker_check, tasks))
    else:

        def run_in_process():
            with connection.cursor() as cursor:
                for task in tasks:
                    results = []
                    for seal, after_id in task:
                        count, failure = check_batch_entries(cursor, seal, after_id)
                        results.append((seal.batch_number, count, failure))
                        if failure:
                            break
                    yield results

        failure = consume(run_in_process())
    report.failure = failure or seal_failure
    report.purged_batches = sum(1 for seal in seals[: report.batches] if seal.purged)
    report.seconds = time.monotonic() - started
    return report


def record_run(report: Report, started_at: datetime) -> VerificationRun:
    """Keep the outcome of a verification: one VerificationRun row and one "journal.verified" entry."""
    failure = report.failure
    run_data = {
        "first_batch": report.first_batch,
        "last_batch": report.last_batch,
        "entries_checked": report.entries,
        "ok": failure is None,
        "failing_batch": failure.batch_number if failure else None,
        "failing_entry": failure.entry_id if failure else None,
        "message": str(failure)[:500] if failure else "",
    }
    with transaction.atomic():
        run = VerificationRun.objects.create(started_at=started_at, finished_at=timezone.now(), **run_data)
        journal.record(
            "journal.verified",
            actor=None,
            outcome=Outcome.SUCCESS if failure is None else Outcome.FAILURE,
            data={key: value for key, value in run_data.items() if key != "ok"},
        )
    if failure is None:
        logger.info(
            "journal verified: batches %s-%s, %s entries",
            report.first_batch,
            report.last_batch,
            report.entries,
        )
    else:
        logger.error("journal verification FAILED: %s", failure)
    return run


def verify_journal_incrementally() -> VerificationRun | None:
    """Verify the batches sealed since the last successful run (all of them the first time) and record it.

    None, and nothing recorded, when no batch was sealed since.
    """
    last_ok = VerificationRun.objects.filter(ok=True, last_batch__isnull=False).order_by("-id").first()
    after_batch = last_ok.last_batch if last_ok else None
    started_at = timezone.now()
    report = verify_journal(after_batch=after_batch)
    if report.first_batch is None:
        return None
    return record_run(report, started_at)


# --- inclusion proofs -----------------------------------------------------------------------------------


class EntryAltered(Conflict):
    code = "journal-entry-altered"
    title = _("Entrée altérée")
    description = _(
        "L'entrée du journal ne correspond plus à l'empreinte scellée : elle a été modifiée après son "
        "scellement. Aucune preuve d'inclusion ne peut être produite ; la vérification du journal le "
        "signale aussi."
    )


def _kept_leaves(seal: Seal) -> list[bytes] | None:
    kept = BatchLeaves.objects.filter(seal=seal).first()
    return None if kept is None else kept.leaf_list()


def _recomputed_leaves(seal: Seal) -> list[bytes]:
    with connection.cursor() as cursor:
        cursor.execute(
            canonical.leaves_sql("id >= %s AND id <= %s"), [seal.first_entry_id, seal.last_entry_id]
        )
        return [bytes(row[1] or b"") for row in cursor.fetchall()]


def inclusion_proof(entry: JournalEntry) -> dict:
    """The proof that ``entry`` is in its sealed batch (format: protection/proof.py).

    EntryNotSealed when its batch is not sealed yet; EntryAltered when the entry no longer matches
    what was sealed (no valid proof exists then).
    """
    seal = (
        Seal.objects.filter(last_entry_id__gte=entry.pk)
        .order_by("last_entry_id")
        .select_related("key")
        .first()
    )
    if seal is None or seal.first_entry_id > entry.pk:
        raise EntryNotSealed("Cette entrée n'est pas encore scellée ; réessayez dans quelques secondes.")
    with connection.cursor() as cursor:
        cursor.execute(canonical.canonical_sql("id = %s"), [entry.pk])
        text = cursor.fetchone()[1]
    leaf = canonical.leaf_hash(text.encode("utf-8"))
    # The leaves kept at sealing make this a lookup; they are only used if they give back the signed
    # root, and recomputed from the entries otherwise.
    for source in (_kept_leaves, _recomputed_leaves):
        leaves = source(seal)
        if leaves and leaf in leaves:
            index = leaves.index(leaf)
            path, root = canonical.audit_path_and_root(leaves, index)
            if root.hex() == seal.merkle_root:
                break
        if source is _kept_leaves and leaves is not None:
            logger.warning("journal: kept leaves of batch %s do not prove %s", seal.batch_number, entry.pk)
    else:
        raise EntryAltered(f"L'entrée ne correspond plus au lot scellé {seal.batch_number}.")
    fields = text.split(canonical.SEPARATOR)
    entry_object = dict(zip(canonical.ENTRY_FIELDS, fields, strict=True))
    entry_object["id"] = int(entry_object["id"])
    entry_object["deferred_disclosure_until"] = entry_object["deferred_disclosure_until"] or None
    entry_object["data"] = json.loads(entry_object["data"])
    return {
        "entry": entry_object,
        "canonical": text,
        "leaf_hash": leaf.hex(),
        "leaf_index": index,
        "tree_size": len(leaves),
        "audit_path": [node.hex() for node in path],
        "seal": {
            **json.loads(canonical.seal_body_of(seal)),
            "seal_hash": seal.seal_hash,
            "signature": seal.signature,
        },
        "key_id": seal.key_id,
        "public_key": seal.key.public_key,
    }


def entry_proof_for_user(user, public_id) -> dict:
    """The inclusion proof of an entry the user may see; 404 for an unknown or invisible entry."""
    entry = JournalEntry.objects.filter(public_id=public_id).first()
    if entry is None or not entry_visible_to(user, entry):
        raise Http404
    return inclusion_proof(entry)
