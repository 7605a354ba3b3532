"""Batch transfers: many gateway calls under one credential, submitted at once, processed by Celery.

Submission (``batch_submit``) reads the body line by line (JSON Lines or CSV), validates each item and
writes them in one transaction: an invalid line and nothing is created. The ``Idempotency-Key`` is
unique per credential; the same key with the same request (its fingerprint: batch parameters and body)
answers with the batch already created, with another request it is refused.

Processing: the items are numbered in chunks of BATCH_CHUNK_SIZE, one Celery task per chunk
(exchange.tasks.batch_chunk_task, acknowledged late). A chunk task claims BATCH_CONCURRENCY items at a
time (``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)``: status ``processing``, ``attempts``
+1, a lease of BATCH_LEASE_SECONDS), calls the provider for them from a thread pool (the gateway's
pooled connections), then writes each result with its journal entry in one transaction, only for the
items still claimed by this very attempt. So an item is done exactly once, with one journal entry, even
when a worker dies mid-chunk: its claims expire, the sweeper (beat, every 30 s) hands them out again.

Retries: an upstream fault (unreachable, timeout, 5xx, not JSON) puts the item back to ``pending`` with
``retry_after`` = now + BATCH_RETRY_BASE_MS × 2^(attempts−1) (capped, with jitter); the chunk task
retries itself (Celery's retry, countdown) at the earliest of them. After BATCH_MAX_ATTEMPTS the item is
failed with the fault's code. An upstream 4xx (unknown person…) is a result, not a fault.

Revocation, expiry or the end of the authorization take effect on the next round of calls: the items
not yet sent are refused (failed, ``gateway-unauthenticated``, journaled as refused calls) and never
reach the provider.

When every item is done or failed, the batch is ``completed``, or ``failed`` when its credential stopped
it; if it has a webhook address, a signed notification is sent (``webhook_deliver``, ``batch.completed``
or ``batch.failed``), retried with backoff.
"""

import csv
import hashlib
import io
import ipaddress
import json
import random
import re
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Min, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _

from exchange import events
from exchange.gateway import (
    CONTEXT_PARAMETERS,
    GatewayRefusal,
    GatewayUnauthenticated,
    UpstreamFailure,
    answer_for,
    check_context,
    forward,
    granted_fields,
    has_dot_segment,
    journal_exchange,
    person_pseudonyms,
)
from exchange.models import (
    Batch,
    BatchFormat,
    BatchItem,
    BatchItemStatus,
    BatchStatus,
    Credential,
    WebhookSecret,
    WebhookStatus,
)
from exchange.services import credential_usable
from exchange.webhooks import SIGNATURE_HEADER, sign
from platform_core.exceptions import Conflict, DomainError, InvalidInput
from protection import journal

MAX_ERRORS = 20  # invalid lines named in the answer
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_COUNTRY = re.compile(r"^99[0-9]{3}$")
REQUIRED = ("nomNaissance", "prenoms", "dateNaissance", "sexe", "codePaysNaissance")
PIVOT = (*REQUIRED, "codeLieuNaissance")
MAX_KEYS = 32
MAX_VALUE_LENGTH = 255
MAX_RETRY_DELAY = 300.0  # seconds
REFUSING_MAILLAGE = frozenset({401, 403, 407, 429})  # the provider's answers about Maillage, not the item
FINAL = (BatchItemStatus.DONE, BatchItemStatus.FAILED)


class BatchTooLarge(DomainError):
    code = "batch-too-large"
    status = 413
    title = _("Lot trop volumineux")
    description = _("Un lot compte au plus 100 000 éléments.")


class BatchInvalid(InvalidInput):
    code = "batch-invalid"
    title = _("Lot invalide")
    description = _("Des lignes du lot sont invalides : la liste « errors » nomme les premières (ligne N).")


class IdempotencyKeyRequired(DomainError):
    code = "idempotency-key-required"
    status = 400
    title = _("En-tête Idempotency-Key requis")
    description = _("Chaque dépôt de lot porte une clé d'idempotence (1 à 200 caractères ASCII visibles).")


class IdempotencyKeyReused(DomainError):
    code = "idempotency-key-reused"
    status = 422
    title = _("Clé d'idempotence déjà utilisée pour une autre requête")
    description = _("Cette clé a déjà servi à déposer un lot différent : utilisez une nouvelle clé.")


class WebhookSecretMissing(Conflict):
    code = "webhook-secret-missing"
    title = _("Aucun secret de notification actif")
    description = _(
        "Créez un secret de notification avant de déposer un lot avec une adresse de notification."
    )


# --- submission ----------------------------------------------------------------------------------------


class _Params(dict):
    """An item's parameters as the gateway's QueryDict-like readers expect them (.get and .getlist)."""

    def get(self, key, default=None):
        value = super().get(key, default)
        return " ".join(value) if isinstance(value, list) else value

    def getlist(self, key) -> list[str]:
        value = super().get(key)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else [value]


def _item(raw: dict, number: int, errors: list[dict]) -> tuple[dict, str] | None:
    """(params, case_id) of one line, or None after adding its errors."""

    def refuse(message, code="invalid"):
        errors.append({"field": f"line {number}", "code": code, "message": str(message)})

    if not isinstance(raw, dict):
        return refuse(_("La ligne doit être un objet JSON."))
    if len(raw) > MAX_KEYS:
        return refuse(_("Trop de paramètres (%(max)d au plus).") % {"max": MAX_KEYS})
    params = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _KEY.match(key):
            return refuse(_("Nom de paramètre invalide : %(key)s.") % {"key": str(key)[:64]})
        if key in ("recipient", "purpose"):
            return refuse(_("%(key)s se donne pour tout le lot, pas par ligne.") % {"key": key})
        if isinstance(value, bool) or value is None:
            return refuse(_("Valeur invalide pour %(key)s.") % {"key": key})
        if isinstance(value, int | float):
            value = str(value)
        if isinstance(value, list) and value and all(isinstance(part, str) for part in value):
            value = [part.strip() for part in value]
        elif not isinstance(value, str):
            return refuse(_("Valeur invalide pour %(key)s.") % {"key": key})
        else:
            value = value.strip()
        if len(str(value)) > MAX_VALUE_LENGTH:
            return refuse(_("Valeur trop longue pour %(key)s.") % {"key": key})
        # An empty CSV cell is an absent parameter, except the birthplace: empty when born abroad.
        if value != "" or key == "codeLieuNaissance":
            params[key] = value
    case_id = params.pop("case_id", "")
    if isinstance(case_id, list) or len(case_id) > 100:
        return refuse(_("case_id : 100 caractères au plus."))
    if not params:
        return refuse(_("Aucun paramètre : chaque ligne désigne une personne."), "required")
    if not any(key in params for key in PIVOT):
        return params, case_id  # designated otherwise (numeroFiscal…): the provider judges
    # A pivot identity is complete, so that the item is journaled for its person.
    missing = [key for key in REQUIRED if not params.get(key)]
    if missing:
        return refuse(_("Paramètres requis manquants : %(keys)s.") % {"keys": ", ".join(missing)}, "required")
    if not isinstance(params["dateNaissance"], str) or not _DATE.match(params["dateNaissance"]):
        return refuse(_("dateNaissance : date AAAA-MM-JJ attendue."))
    if params["sexe"] not in ("M", "F"):
        return refuse(_("sexe : M ou F."))
    if not isinstance(params["codePaysNaissance"], str) or not _COUNTRY.match(params["codePaysNaissance"]):
        return refuse(_("codePaysNaissance : code INSEE de pays (99XXX) attendu."))
    return params, case_id


def _jsonl(lines):
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text:
            continue
        try:
            yield number, json.loads(text)
        except (ValueError, UnicodeDecodeError):
            yield number, _Unreadable(_("JSON invalide."))


class _Unreadable(str):
    pass


def _csv(lines):
    decoded = (raw.decode("utf-8-sig" if number == 0 else "utf-8", errors="replace")
               for number, raw in enumerate(lines))  # fmt: skip
    reader = csv.reader(decoded)
    header = next(reader, None)
    if header is None:
        return
    header = [name.strip() for name in header]
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield reader.line_num, _Unreadable(_("Nombre de colonnes différent de l'en-tête."))
            continue
        item = {}
        for name, value in zip(header, row, strict=True):
            # Repeated columns (prenoms, prenoms…) are one repeated parameter, as in a query string.
            if name in item and value.strip():
                previous = item[name]
                item[name] = [*(previous if isinstance(previous, list) else [previous]), value]
            elif name not in item:
                item[name] = value
        yield reader.line_num, item


class _Hashed:
    """The body's lines, hashed as they are read: the request's fingerprint costs no second pass."""

    def __init__(self, lines, prefix: bytes):
        self.lines = lines
        self.digest = hashlib.sha256(prefix)

    def __iter__(self):
        for line in self.lines:
            self.digest.update(line)
            yield line

    def drain(self) -> str:
        for _line in self:
            pass
        return self.digest.hexdigest()


def _address_allowed(address: str) -> bool:
    """A public address; loopback too in development (``make run`` and tests receive on 127.0.0.1)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_global or (ip.is_loopback and not settings.SECURE_COOKIES)


def webhook_url_allowed(url: str, *, resolve: bool = False) -> bool:
    """https only (plain http to loopback when cookies are not secure: development), and never to a
    private, link-local or reserved address: Maillage must not be made to call into its own network.
    ``resolve`` (at delivery) checks every address the name resolves to."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    if parts.scheme != "https" and (parts.scheme != "http" or settings.SECURE_COOKIES):
        return False
    if host == "localhost":
        return not settings.SECURE_COOKIES
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if parts.scheme == "http":
            return False  # http: loopback literals only
        if not resolve:
            return True
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, parts.port or 443)}
        except (OSError, UnicodeError):
            return False
        return bool(addresses) and all(_address_allowed(address) for address in addresses)
    return _address_allowed(host)


def active_webhook_secrets(credential: Credential, now=None) -> list[WebhookSecret]:
    now = now or timezone.now()
    return list(credential.webhook_secrets.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)))


def _lock_key(credential: Credential, key: str) -> int:
    digest = hashlib.sha256(f"batch:{credential.pk}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass
class Submission:
    batch: Batch
    created: bool


def batch_submit(
    *,
    credential: Credential,
    scopes: list[str],
    api: str,
    path: str,
    recipient: str,
    purpose: str,
    webhook_url: str,
    idempotency_key: str,
    input_format: str,
    lines,
) -> Submission:
    """Create the batch from the body's ``lines`` (bytes), or return the one this key already created."""
    product = credential.habilitation.api
    if product.slug != api:
        raise GatewayRefusal(_g("Cet identifiant d'accès ne donne pas accès à cette API."))
    if not scopes:
        raise GatewayRefusal(_g("Le jeton ne porte aucun scope de cette habilitation."))
    if not _IDEMPOTENCY_KEY.match(idempotency_key or ""):
        raise IdempotencyKeyRequired(str(IdempotencyKeyRequired.description))
    context = check_context(credential, recipient=recipient, purpose=purpose)
    path = path.strip().lstrip("/")
    if not path or len(path) > 300 or has_dot_segment(path):
        message = _g("Chemin de l'opération de l'API requis (v1/quotient-familial…).")
        raise InvalidInput(message, errors=[{"field": "path", "code": "invalid", "message": message}])
    if webhook_url and (len(webhook_url) > 500 or not webhook_url_allowed(webhook_url)):
        message = _g("L'adresse de notification doit être en https.")
        raise InvalidInput(message, errors=[{"field": "webhook_url", "code": "invalid", "message": message}])
    if webhook_url and not active_webhook_secrets(credential):
        raise WebhookSecretMissing(str(WebhookSecretMissing.description))
    if input_format not in BatchFormat.values:
        raise InvalidInput(_g("Envoyez le lot en application/x-ndjson ou en text/csv."))
    parameters = [api, path, context["recipient"], context["purpose"], webhook_url, input_format]
    body = _Hashed(lines, json.dumps(parameters).encode() + b"\n")

    with transaction.atomic():
        # Two submissions with one key wait for each other: the second sees the first's batch.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(credential, idempotency_key)])
        existing = Batch.objects.filter(credential=credential, idempotency_key=idempotency_key).first()
        if existing is not None:
            if body.drain() != existing.fingerprint:
                raise IdempotencyKeyReused(str(IdempotencyKeyReused.description))
            return Submission(existing, created=False)
        batch = Batch.objects.create(
            credential=credential, authorization=credential.authorization,
            consumer=credential.habilitation.consumer, api=product, path=path, scopes=scopes,
            recipient=context["recipient"], purpose=context["purpose"], input_format=input_format,
            webhook_url=webhook_url, idempotency_key=idempotency_key, fingerprint="",
            chunk_size=settings.BATCH_CHUNK_SIZE,
            webhook_status=WebhookStatus.PENDING if webhook_url else WebhookStatus.NONE,
        )  # fmt: skip
        total = _store_items(batch, body, input_format)
        batch.total = total
        batch.fingerprint = body.digest.hexdigest()
        batch.save(update_fields=["total", "fingerprint"])
        journal.record(
            events.BATCH_SUBMITTED.code,
            actor=credential.application,
            organisation=batch.consumer,
            contract=batch.authorization,
            data={"batch": str(batch.public_id), "api": product.slug, "path": path, "items": total,
                  "format": input_format, "webhook": bool(webhook_url)},
        )  # fmt: skip
        from exchange.tasks import batch_start_task

        transaction.on_commit(lambda: batch_start_task.delay(batch.pk))
    return Submission(batch, created=True)


def _store_items(batch: Batch, body: _Hashed, input_format: str) -> int:
    """Validates and writes the items as they are read, with COPY (a tenth of bulk_create's time): the
    caller's transaction is rolled back if one line is invalid."""
    errors: list[dict] = []
    total = 0
    rows = _jsonl(body) if input_format == BatchFormat.JSONL else _csv(body)
    journal.flush()  # COPY does not go through Django's cursor wrappers, which write the journal's buffer
    with connection.cursor() as cursor, cursor.cursor.copy(_COPY_SQL) as copy:
        for number, raw in rows:
            total += 1
            if total > settings.BATCH_MAX_ITEMS:
                limit = _g("Un lot compte au plus %(max)d éléments.") % {"max": settings.BATCH_MAX_ITEMS}
                raise BatchTooLarge(limit)
            if isinstance(raw, _Unreadable):
                if len(errors) < MAX_ERRORS:
                    errors.append({"field": f"line {number}", "code": "invalid", "message": str(raw)})
                continue
            item = _item(raw, number, errors if len(errors) < MAX_ERRORS else [])
            if item is None or errors:
                continue  # once a line is invalid, nothing will be stored: read on only to name the others
            params, case_id = item
            chunk = (total - 1) // batch.chunk_size
            params_text = json.dumps(params, ensure_ascii=False)
            copy.write_row(
                (batch.pk, number, chunk, params_text, case_id, BatchItemStatus.PENDING.value, 0, "")
            )
        if errors:
            message = _g("%(count)s ligne(s) invalide(s) : rien n'a été créé.") % {"count": len(errors)}
            raise BatchInvalid(message, errors=errors)
        if total == 0:
            raise BatchInvalid(_g("Le lot est vide."))
    return total


_COPY_COLUMNS = "batch_id, line, chunk, params, case_id, status, attempts, error_code"
_COPY_SQL = f"COPY exchange_batchitem ({_COPY_COLUMNS}) FROM STDIN"


# --- processing ----------------------------------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """One pool per worker process, created in the process that uses it (after the fork)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(settings.BATCH_CONCURRENCY, thread_name_prefix="batch")
    return _pool


@dataclass
class Claimed:
    pk: int
    line: int
    attempts: int
    params: dict
    case_id: str


_CLAIM_SQL = """
UPDATE exchange_batchitem SET status = 'processing', attempts = attempts + 1, lease_expires_at = %(lease)s
 WHERE id IN (SELECT id FROM exchange_batchitem
               WHERE batch_id = %(batch)s AND chunk = %(chunk)s
                 AND ((status = 'pending' AND (retry_after IS NULL OR retry_after <= %(now)s))
                      OR (status = 'processing' AND lease_expires_at < %(now)s))
               ORDER BY line LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id, line, attempts, params, case_id
"""


def _claim(batch: Batch, chunk: int, limit: int) -> list[Claimed]:
    now = timezone.now()
    lease = now + timedelta(seconds=settings.BATCH_LEASE_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, {"lease": lease, "batch": batch.pk, "chunk": chunk, "now": now,
                                    "limit": limit})  # fmt: skip
        rows = cursor.fetchall()
    claimed = [
        Claimed(pk, line, attempts, params if isinstance(params, dict) else json.loads(params), case_id)
        for pk, line, attempts, params, case_id in rows
    ]
    return sorted(claimed, key=lambda item: item.line)


@dataclass
class Outcome:
    status: int | None = None  # the provider's answer (2xx or 4xx)
    body: object = None
    fault: DomainError | None = None  # transient: retried
    refusal: DomainError | None = None  # final without calling the provider
    latency_ms: int = 0


def _call(batch: Batch, item: Claimed) -> Outcome:
    query = [
        (key, part)
        for key, value in item.params.items()
        if key not in CONTEXT_PARAMETERS
        for part in (value if isinstance(value, list) else [value])
    ]
    started = time.monotonic()
    try:
        status, body = forward(batch.api, batch.path, query, f"batch-{batch.public_id}-{item.line}")
        if status in REFUSING_MAILLAGE:
            # The provider refuses Maillage itself (its access, its quota), not the item: a fault, retried.
            raise UpstreamFailure(f"upstream status {status}")
    except DomainError as error:
        return Outcome(fault=error, latency_ms=round((time.monotonic() - started) * 1000))
    return Outcome(status=status, body=body, latency_ms=round((time.monotonic() - started) * 1000))


def _retry_delay(attempts: int) -> float:
    base = settings.BATCH_RETRY_BASE_MS / 1000 * 2 ** (attempts - 1)
    return min(MAX_RETRY_DELAY, base) * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not security


_OURS_SQL = """
SELECT id, attempts FROM exchange_batchitem WHERE id = ANY(%s) AND status = 'processing'
 ORDER BY id FOR UPDATE
"""
_UPDATE_SQL = """
UPDATE exchange_batchitem AS item
   SET status = v.status, lease_expires_at = NULL, retry_after = v.retry_after,
       result_status = v.result_status, result = v.result::jsonb, error_code = v.error_code,
       processed_at = v.processed_at
  FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::int[], %s::text[], %s::text[],
              %s::timestamptz[])
       AS v (id, status, retry_after, result_status, result, error_code, processed_at)
 WHERE item.id = v.id
"""


def _record(batch: Batch, claimed: list[Claimed], outcomes: list[Outcome], fields: set[str]) -> None:
    """Each result with its journal entry, in one transaction, for the claims that are still ours. Plain
    SQL: bulk_update's CASE expressions cost more CPU than the upstream calls."""
    now = timezone.now()
    processed = failed = 0
    # Before the journal entries: a query between two of them would write the buffer once per entry.
    persons = person_pseudonyms([_Params(item.params) for item in claimed])
    rows = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_OURS_SQL, [[item.pk for item in claimed]])
        ours = dict(cursor.fetchall())
        for item, outcome, person in zip(claimed, outcomes, persons, strict=True):
            if ours.get(item.pk) != item.attempts:
                continue  # the lease ran out and another attempt claimed it: that one records it
            error = outcome.refusal or (
                outcome.fault if outcome.fault and item.attempts >= settings.BATCH_MAX_ATTEMPTS else None
            )
            if outcome.fault and error is None:
                retry_after = now + timedelta(seconds=_retry_delay(item.attempts))
                pending = BatchItemStatus.PENDING.value
                rows.append((item.pk, pending, retry_after, None, None, outcome.fault.code, None))
                continue
            if error is not None:
                status, answer, failed = error.status, None, failed + 1
                rows.append((item.pk, BatchItemStatus.FAILED.value, None, status, None, error.code, now))
            else:
                status, answer = outcome.status, answer_for(outcome.status, outcome.body, fields)
                code = "" if status < 400 else str(_error_of(answer))[:64]
                rows.append(
                    (item.pk, BatchItemStatus.DONE.value, None, status, json.dumps(answer), code, now)
                )
            processed += 1
            journal_exchange(
                batch.credential,
                person=person,
                status=status,
                answer=answer,
                context={"recipient": batch.recipient, "case_id": item.case_id},
                latency_ms=outcome.latency_ms,
                api=batch.api.slug,
                extra={"batch": str(batch.public_id), "line": item.line,
                       **({"reason": error.code} if error is not None else {})},
            )  # fmt: skip
        if rows:
            cursor.execute(_UPDATE_SQL, [list(column) for column in zip(*rows, strict=True)])
        Batch.objects.filter(pk=batch.pk).update(
            processed_count=F("processed_count") + processed,
            failed_count=F("failed_count") + failed,
            progressed_at=now,
        )


def _error_of(answer) -> str:
    if isinstance(answer, dict):
        return answer.get("reason") or answer.get("error") or "upstream-error"
    return "upstream-error"


def _start_calls(batch: Batch, claimed: list[Claimed]) -> list:
    if not claimed:
        return []
    credential = Credential.objects.select_related("authorization").get(pk=batch.credential_id)
    if not credential_usable(credential):
        # Revocation takes effect on the next items: nothing more goes to the provider.
        refusal = GatewayUnauthenticated(_g("Cet identifiant d'accès n'est pas (ou plus) valide."))
        return [Outcome(refusal=refusal) for _item in claimed]
    return [_executor().submit(_call, batch, item) for item in claimed]


def batch_process_chunk(batch_pk: int, chunk: int) -> float | None:
    """Process what can be processed now in one chunk; the delay before the next try if items wait for a
    retry, else None."""
    batch = (
        Batch.objects.select_related(
            "api",
            "credential__application",
            "credential__habilitation__consumer",
            "credential__authorization",
        )
        .filter(pk=batch_pk)
        .first()
    )
    if batch is None or batch.status in (BatchStatus.COMPLETED, BatchStatus.FAILED):
        return None
    if batch.status == BatchStatus.QUEUED:
        Batch.objects.filter(pk=batch.pk, status=BatchStatus.QUEUED).update(
            status=BatchStatus.RUNNING, started_at=timezone.now()
        )
    fields = granted_fields(batch.api, batch.scopes)
    size = settings.BATCH_CONCURRENCY * 4
    # A pipeline: the next items' upstream calls are in flight while this round's results are written.
    claimed = _claim(batch, chunk, size)
    calls = _start_calls(batch, claimed)
    while claimed:
        outcomes = [call.result() if isinstance(call, Future) else call for call in calls]
        following = _claim(batch, chunk, size)
        following_calls = _start_calls(batch, following)
        _record(batch, claimed, outcomes, fields)
        claimed, calls = following, following_calls
    batch_finish_if_complete(batch.pk)
    waiting = BatchItem.objects.filter(batch=batch, chunk=chunk, status=BatchItemStatus.PENDING).aggregate(
        at=Min("retry_after")
    )["at"]
    if waiting is None:
        return None
    return max(0.0, (waiting - timezone.now()).total_seconds())


def batch_finish_if_complete(batch_pk: int) -> bool:
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch_pk)
        if batch.status in (BatchStatus.COMPLETED, BatchStatus.FAILED) or batch.processed_count < batch.total:
            return False
        now = timezone.now()
        # Items refused because the credential was no longer usable: the batch did not run to its end.
        stopped = batch.items.filter(
            status=BatchItemStatus.FAILED, error_code=GatewayUnauthenticated.code
        ).exists()
        batch.status = BatchStatus.FAILED if stopped else BatchStatus.COMPLETED
        batch.finished_at, batch.started_at = now, batch.started_at or now
        batch.save(update_fields=["status", "finished_at", "started_at"])
        journal.record(
            events.BATCH_FINISHED.code,
            actor=None,
            organisation=batch.consumer,
            contract=batch.authorization,
            outcome="failure" if stopped else "success",
            data={"batch": str(batch.public_id), "status": batch.status, "items": batch.total,
                  "failed": batch.failed_count},
        )  # fmt: skip
        if batch.webhook_url:
            from exchange.tasks import batch_webhook_task

            transaction.on_commit(lambda: batch_webhook_task.delay(batch.pk))
    return True


def batch_enqueue(batch: Batch, chunks=None) -> int:
    from exchange.tasks import batch_chunk_task

    chunks = range((batch.total + batch.chunk_size - 1) // batch.chunk_size) if chunks is None else chunks
    count = 0
    for chunk in chunks:
        batch_chunk_task.delay(batch.pk, chunk)
        count += 1
    Batch.objects.filter(pk=batch.pk).update(progressed_at=timezone.now())
    return count


def batch_start(batch_pk: int) -> int:
    batch = Batch.objects.filter(pk=batch_pk, status=BatchStatus.QUEUED).first()
    return batch_enqueue(batch) if batch is not None else 0


def batches_sweep(now=None) -> int:
    """Re-enqueue what nobody is working on any more: chunks with expired claims (a worker died), chunks of
    batches without progress for a lease (a lost message) and batches done but not closed. Redis would
    redeliver an unacknowledged message only after its visibility timeout (an hour): this is sooner."""
    now = now or timezone.now()
    stalled_since = now - timedelta(seconds=settings.BATCH_LEASE_SECONDS)
    expired = BatchItem.objects.filter(status=BatchItemStatus.PROCESSING, lease_expires_at__lt=now)
    chunks = set(expired.values_list("batch_id", "chunk").distinct())
    # Back to pending: the next sweep does not send them again while the new message waits in the queue.
    expired.update(status=BatchItemStatus.PENDING, lease_expires_at=None)
    stalled = Batch.objects.filter(status__in=[BatchStatus.QUEUED, BatchStatus.RUNNING]).filter(
        Q(progressed_at__lt=stalled_since) | Q(progressed_at__isnull=True, created_at__lt=stalled_since)
    )
    for batch in stalled:
        ready = BatchItem.objects.filter(batch=batch, status=BatchItemStatus.PENDING).filter(
            Q(retry_after__isnull=True) | Q(retry_after__lt=stalled_since)
        )
        chunks |= {(batch.pk, chunk) for chunk in ready.values_list("chunk", flat=True).distinct()}
        if batch.processed_count >= batch.total:
            batch_finish_if_complete(batch.pk)
    by_batch: dict[int, list[int]] = {}
    for batch_pk, chunk in sorted(chunks):
        by_batch.setdefault(batch_pk, []).append(chunk)
    return sum(batch_enqueue(batch, by_batch[batch.pk]) for batch in Batch.objects.filter(pk__in=by_batch))


# --- reading -------------------------------------------------------------------------------------------


def get_batch_for_credential(credential: Credential, public_id) -> Batch | None:
    """A batch of the credential's organisation (any of its credentials), else None (a 404)."""
    return (
        Batch.objects.select_related("api")
        .filter(public_id=public_id, consumer=credential.habilitation.consumer)
        .first()
    )


def batch_results(batch: Batch):
    """(line, case_id, status, http status, error, masked answer) in line order, read by a server-side
    cursor 2,000 rows at a time: a 100,000-item batch is never in memory at once."""
    return (
        batch.items.order_by("line")
        .values_list("line", "case_id", "status", "result_status", "error_code", "result")
        .iterator(chunk_size=2000)
    )


def results_jsonl(batch: Batch):
    for line, case_id, status, http_status, error, result in batch_results(batch):
        row = {"line": line, "case_id": case_id, "status": status, "http_status": http_status,
               "error": error or None, "result": result}  # fmt: skip
        yield json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"


def results_csv(batch: Batch):
    fields = sorted(granted_fields(batch.api, batch.scopes) | {"id"})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["line", "case_id", "status", "http_status", "error", *fields])
    rows = 0
    for line, case_id, status, http_status, error, result in batch_results(batch):
        values = result if isinstance(result, dict) and http_status and http_status < 400 else {}
        writer.writerow([line, _text_cell(case_id or ""), status, http_status or "", error,
                         *(_cell(values.get(field)) for field in fields)])  # fmt: skip
        rows += 1
        if rows % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return _text_cell(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    if isinstance(value, str):
        return _text_cell(value)
    return str(value)


def _text_cell(text: str) -> str:
    """Text a spreadsheet would read as a formula (=, +, -, @, tab, CR first) is quoted (CSV injection)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- webhooks ------------------------------------------------------------------------------------------


def webhook_secret_create(
    *, credential: Credential, retire_others_in: int | None = None
) -> tuple[WebhookSecret, str]:
    """A new secret (returned once, in clear); the active others expire in ``retire_others_in`` seconds
    (None: they stay active until retired), the overlap a consumer needs to switch."""
    value = "whsec_" + get_random_string(43)
    now = timezone.now()
    with transaction.atomic():
        secret = WebhookSecret.objects.create(credential=credential, value=value)
        retired = 0
        if retire_others_in is not None:
            retired = (
                credential.webhook_secrets.exclude(pk=secret.pk)
                .filter(
                    Q(expires_at__isnull=True) | Q(expires_at__gt=now + timedelta(seconds=retire_others_in))
                )
                .update(expires_at=now + timedelta(seconds=retire_others_in))
            )
        journal.record(
            events.WEBHOOK_SECRET_CREATED.code,
            actor=credential.application,
            organisation=credential.habilitation.consumer,
            contract=credential.authorization,
            data={"key_id": str(secret.public_id), "others_expiring": retired},
        )
    return secret, value


def webhook_secret_retire(*, credential: Credential, public_id) -> WebhookSecret | None:
    with transaction.atomic():
        secret = credential.webhook_secrets.select_for_update().filter(public_id=public_id).first()
        if secret is None:
            return None
        now = timezone.now()
        if secret.expires_at is None or secret.expires_at > now:
            secret.expires_at = now
            secret.save(update_fields=["expires_at"])
            journal.record(
                events.WEBHOOK_SECRET_RETIRED.code,
                actor=credential.application,
                organisation=credential.habilitation.consumer,
                contract=credential.authorization,
                data={"key_id": str(secret.public_id)},
            )
    return secret


def webhook_payload(batch: Batch) -> bytes:
    status_path = reverse("api-batch-detail", args=[batch.public_id])
    body = {
        "type": f"batch.{batch.status}",  # batch.completed, or batch.failed (stopped by its credential)
        "id": str(batch.public_id),
        "status": batch.status,
        "total": batch.total,
        "done": batch.processed_count - batch.failed_count,
        "failed": batch.failed_count,
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
        "status_url": settings.PUBLIC_URL + status_path,
        "results_url": settings.PUBLIC_URL + reverse("api-batch-results-jsonl", args=[batch.public_id]),
        "results_csv_url": settings.PUBLIC_URL + reverse("api-batch-results-csv", args=[batch.public_id]),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


WEBHOOK_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


def webhook_deliver(batch_pk: int) -> float | None:
    """One delivery attempt, journaled; the delay before the next one, or None when done (delivered,
    or given up after WEBHOOK_MAX_ATTEMPTS)."""
    batch = Batch.objects.select_related("credential__application", "consumer", "authorization").get(
        pk=batch_pk
    )
    if batch.webhook_status != WebhookStatus.PENDING or not batch.webhook_url:
        return None
    attempt = batch.webhook_attempts + 1
    secrets = [secret.value for secret in active_webhook_secrets(batch.credential)]
    body = webhook_payload(batch)
    status, reason = 0, ""
    if not secrets:
        reason = "no-active-secret"
    elif not webhook_url_allowed(batch.webhook_url, resolve=True):
        reason = "address-refused"
    else:
        headers = {"Content-Type": "application/json", "User-Agent": "Maillage-Webhook/1",
                   SIGNATURE_HEADER: sign(body, secrets)}  # fmt: skip
        try:
            with httpx.Client(timeout=WEBHOOK_TIMEOUT, follow_redirects=False) as client:
                status = client.post(batch.webhook_url, content=body, headers=headers).status_code
        except httpx.TimeoutException:
            reason = "timeout"
        except httpx.HTTPError:
            reason = "unreachable"
        else:
            reason = "" if 200 <= status < 300 else "http-status"
    delivered = not reason
    last = attempt >= settings.WEBHOOK_MAX_ATTEMPTS or reason in ("no-active-secret", "address-refused")
    with transaction.atomic():
        Batch.objects.filter(pk=batch.pk).update(
            webhook_attempts=attempt,
            webhook_status=WebhookStatus.DELIVERED
            if delivered
            else (WebhookStatus.FAILED if last else F("webhook_status")),
        )
        journal.record(
            events.BATCH_WEBHOOK.code,
            actor=None,
            organisation=batch.consumer,
            contract=batch.authorization,
            outcome="success" if delivered else "failure",
            data={"batch": str(batch.public_id), "attempt": attempt, "status": status, "reason": reason,
                  "host": urlsplit(batch.webhook_url).hostname or ""},
        )  # fmt: skip
    if delivered or last:
        return None
    return min(3600.0, settings.WEBHOOK_RETRY_BASE_MS / 1000 * 2 ** (attempt - 1))
