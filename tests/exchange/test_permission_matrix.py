"""The cross-organisation permission matrix: no organisation sees or changes another's habilitations or
credentials or batches, in the portal (signed-in people) or through the API (credentials' bearer tokens).

Each case is one actor × one resource in a fresh world: the exact status is asserted, that a refused
write changed nothing (the habilitations, authorizations, credentials, secrets, messages, history,
batches and the journal's write entries are compared before and after), that an allowed write did change
something (so that "nothing changed" can fail), and that list pages show an object only to the actors
that may see it.

Adding a resource is one line in PORTAL or API.
"""

import http.server
import threading
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from exchange.batches import batch_submit
from exchange.models import (
    ApiProduct,
    ApiScope,
    Authorization,
    Batch,
    Credential,
    CredentialSecret,
    Habilitation,
    HabilitationChange,
    HabilitationMessage,
)
from exchange.portal_services import habilitation_attach_legal_basis
from exchange.services import credential_new_secret, habilitation_create, habilitation_transition
from platform_core.enums import MembershipRole
from protection.models import JournalEntry
from tests.exchange.conftest import CONTACTS, draft, member
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"

# --- actors --------------------------------------------------------------------------------------------

CONSUMERS = tuple(f"consumer_{role}" for role in MembershipRole.values)  # every role of the consumer
OUTSIDERS = ("other_consumer", "unrelated", "staff")  # another consumer organisation, a stranger, staff
ACTORS = ("anonymous", *CONSUMERS, "provider_instructor", "provider_reporter", *OUTSIDERS, "superuser")
LOGIN = 302  # anonymous people are sent to the sign-in


def expect(ok: int, *, consumer=None, instructor=403, reporter=403, outsider=404, anonymous=LOGIN,
           superuser=None) -> dict[str, int]:  # fmt: skip
    """The status each actor gets: ``ok`` for the consumer's members and the platform's superuser unless
    said otherwise; 403 for the provider's side (who sees the habilitation), 404 for everyone else (who
    must not learn it exists)."""
    return {
        "anonymous": anonymous,
        **dict.fromkeys(CONSUMERS, ok if consumer is None else consumer),
        "provider_instructor": instructor,
        "provider_reporter": reporter,
        **dict.fromkeys(OUTSIDERS, outsider),
        "superuser": ok if superuser is None else superuser,
    }


READERS = expect(200, instructor=200, reporter=200)  # whoever may see the habilitation
EVERYONE_SIGNED_IN = expect(200, instructor=200, reporter=200, outsider=200)
PUBLIC = expect(200, instructor=200, reporter=200, outsider=200, anonymous=200)


# --- resources -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    name: str
    method: str
    url: Callable[[dict], str]
    expected: dict[str, int]
    ok: int = 200  # the status of a request that was allowed (a write that did happen)
    data: Callable[[dict], dict] = field(default=lambda w: {})
    # For pages everyone may open: a text of the target only these actors may find in the page.
    shows: Callable[[dict], str] | None = None
    seen_by: tuple[str, ...] = ()


def hab(key: str, suffix: str = "") -> Callable[[dict], str]:
    return lambda w: f"/habilitations/{w[key].public_id}/{suffix}"


def cred(suffix: str = "") -> Callable[[dict], str]:
    return lambda w: f"/identifiants/{w['credential'].public_id}/{suffix}"


def edit_form(w: dict) -> dict:
    data = {
        "title": "Titre changé", "purpose": "Calculer le tarif.", "legal_basis_nature": "deliberation",
        "legal_basis_url": "https://mairie.example.fr/d.pdf", "scopes": ["dgfip_rfr"], "recipients": "",
        "retention_months": "12", "retention_justification": "", "expected_volume": "500",
        "production_date": "2027-01-04",
    }  # fmt: skip
    for role, contact in CONTACTS.items():
        data |= {f"contact_{role}_name": contact["name"], f"contact_{role}_email": contact["email"]}
    return data


VIEWERS = (*CONSUMERS, "provider_instructor", "provider_reporter", "superuser")
PORTAL = [
    # The habilitations (``validated`` has an authorization and a credential; ``pending`` is a draft
    # with a legal basis PDF).
    Resource("habilitation-list", "GET", lambda w: "/habilitations/", EVERYONE_SIGNED_IN,
             shows=lambda w: str(w["validated"].public_id), seen_by=VIEWERS),
    Resource("habilitation-page", "GET", hab("validated"), READERS),
    Resource("habilitation-edit-page", "GET", hab("pending", "modifier/"), expect(200)),
    Resource("habilitation-edit", "POST", hab("pending", "modifier/"), expect(302), ok=302, data=edit_form),
    Resource("habilitation-submit", "POST", hab("pending", "actions/"), expect(302), ok=302,
             data=lambda w: {"action": "submit"}),
    Resource("habilitation-revoke", "POST", hab("validated", "actions/"),
             expect(302, consumer=403, instructor=302), ok=302,
             data=lambda w: {"action": "revoke", "message": "Fin du contrat."}),
    Resource("habilitation-message", "POST", hab("pending", "messages/"), expect(302, instructor=302), ok=302,
             data=lambda w: {"body": "Bonjour"}),
    Resource("habilitation-legal-basis", "GET", hab("pending", "fondement-juridique.pdf"), READERS),
    # The credential of ``validated``: the consumer's alone.
    Resource("credential-list", "GET", lambda w: "/identifiants/", EVERYONE_SIGNED_IN,
             shows=lambda w: w["credential"].client_id, seen_by=(*CONSUMERS, "superuser")),
    Resource("credential-dashboard", "GET", cred(), expect(200)),
    Resource("credential-rotate", "POST", cred("secret/"), expect(200)),
    Resource("credential-revoke", "POST", cred("revocation/"), expect(302), ok=302,
             data=lambda w: {"confirm": "yes"}),
    Resource("credential-allowlist", "POST", cred("adresses/"), expect(302), ok=302,
             data=lambda w: {"ip_allowlist": "192.0.2.0/24"}),
    # Open data: published to everyone, credentials never in it.
    Resource("authorizations-json", "GET", lambda w: "/api/v1/authorizations/active.json", PUBLIC,
             shows=lambda w: w["credential"].client_id, seen_by=()),
    Resource("authorizations-csv", "GET", lambda w: "/api/v1/authorizations/active.csv", PUBLIC,
             shows=lambda w: w["credential"].client_id, seen_by=()),
]  # fmt: skip


# --- the world -----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    storage = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}}
    settings.STORAGES = {**settings.STORAGES, "default": storage}


@pytest.fixture
def upstream():
    """The provider: a local HTTP server answering JSON, counting the calls it gets."""
    hits = []

    class Provider(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the standard library's name
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"revenuFiscalReference": 15000, "nombreParts": 2}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Provider)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "hits": hits}
    server.shutdown()
    server.server_close()


def validate(world, habilitation, applicant):
    habilitation_transition(habilitation, "submit", user=applicant)
    habilitation_transition(habilitation, "validate", user=world["instructor"])
    return Credential.objects.get(habilitation=habilitation)


@pytest.fixture
def w(world, upstream):
    """The consumer (``world['consumer']``) with a validated habilitation and its credential, and a
    draft with a PDF; on demand (what each case needs only, as the matrix has many cases): another
    consumer organisation's validated habilitation and credential, to the same API or to another
    (``theirs(slug)``), and the person acting (``person(actor)``)."""
    world["api"].upstream_base_url = f"{upstream['url']}/dgfip"
    world["api"].save(update_fields=["upstream_base_url"])
    validated = draft(world)
    credential = validate(world, validated, world["applicant"])
    pending = draft(world, title="Aides sociales", legal_basis_url="")
    pdf = SimpleUploadedFile("f.pdf", PDF, content_type="application/pdf")
    habilitation_attach_legal_basis(pending, user=world["applicant"], document=pdf)
    other, theirs = world["other"], {}

    def their_credential(slug: str) -> Credential:
        if slug not in theirs:
            api = ApiProduct.objects.filter(slug=slug).first() or ApiProduct.objects.create(
                slug=slug, name=slug, provider=world["provider"], description="-",
                upstream_base_url=f"{upstream['url']}/{slug}",
            )  # fmt: skip
            scope = api.scopes.first() or ApiScope.objects.create(
                api=api, code=f"{slug}_x", label="X", fields=["x"]
            )
            applicant = member(other, MembershipRole.AGENT)
            habilitation = habilitation_create(
                applicant=applicant, consumer=other, api=api, scopes=[scope], title="Leur demande",
                purpose="Tarif", legal_basis_nature="deliberation", legal_basis_url="https://autre.example.fr/d",
                retention_months=12, contacts=CONTACTS,
            )  # fmt: skip
            theirs[slug] = validate(world, habilitation, applicant)
        return theirs[slug]

    def person(actor: str):
        if actor.startswith("consumer_"):
            return member(world["consumer"], actor.removeprefix("consumer_"))
        if actor == "other_consumer":
            their_credential("impots")  # an organisation with habilitations and a credential of its own
            return member(other, MembershipRole.ADMIN)
        return {
            "provider_instructor": lambda: world["instructor"],
            "provider_reporter": lambda: world["reporter"],
            "unrelated": lambda: member(OrganisationFactory(name="Sans rapport"), MembershipRole.ADMIN),
            "staff": lambda: UserFactory(is_staff=True),
            "superuser": lambda: UserFactory(is_staff=True, is_superuser=True),
        }[actor]()

    batches = []

    def batch():
        """A batch of the consumer's credential (submitted through the service; never processed, as
        the test's transaction never commits)."""
        if not batches:
            submission = batch_submit(
                credential=credential, scopes=["dgfip_rfr"], api="impots", path="v1/rfr",
                recipient=world["consumer"].siret, purpose=str(validated.public_id), webhook_url="",
                idempotency_key="depot-0", input_format="jsonl", lines=iter([BATCH_BODY]),
            )  # fmt: skip
            batches.append(submission.batch)
        return batches[0]

    return {**world, "validated": validated, "pending": pending, "credential": credential,
            "theirs": their_credential, "person": person, "upstream": upstream, "batch": batch}  # fmt: skip


def state() -> dict:
    """What a write could change, the journal's write entries included (a gateway call is journaled
    even when refused: that is a read, and left out)."""
    return {
        "habilitations": sorted(Habilitation.objects.values_list("pk", "state", "title", "updated_at")),
        "authorizations": sorted(Authorization.objects.values_list("pk", "state")),
        "credentials": sorted(Credential.objects.values_list("pk", "revoked_at", "ip_allowlist")),
        "secrets": sorted(CredentialSecret.objects.values_list("pk", "expires_at")),
        "messages": HabilitationMessage.objects.count(),
        "changes": HabilitationChange.objects.count(),
        "batches": sorted(Batch.objects.values_list("pk", "status", "total")),
        "journal": sorted(
            JournalEntry.objects.filter(event_type__startswith="exchange.")
            .exclude(event_type__in=["exchange.gateway_call", "exchange.credential_access_granted"])
            .values_list("public_id", flat=True)
        ),
    }  # fmt: skip


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("resource", PORTAL, ids=lambda resource: resource.name)
def test_portal(client, w, resource: Resource, actor: str):
    if actor != "anonymous":
        client.force_login(w["person"](actor))
    before = state()

    response = getattr(client, resource.method.lower())(resource.url(w), resource.data(w))

    expected = resource.expected[actor]
    # A file answer holds its file open until read to the end (the test client closes it then).
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == expected, (resource.name, actor, content[:300])
    if expected == LOGIN and actor == "anonymous":
        assert "next=" in response["Location"]  # the sign-in, then back
    changed = state() != before
    allowed = resource.method == "POST" and expected == resource.ok and actor != "anonymous"
    assert changed == allowed, f"{resource.name} by {actor}: changed={changed}"
    if resource.shows and expected == 200:
        found = resource.shows(w) in content.decode()
        assert found == (actor in resource.seen_by), (resource.name, actor)


# --- the API, with bearer tokens -----------------------------------------------------------------------

TOKENS = ("none", "unknown", "own", "other_same_api", "other_other_api")


@dataclass(frozen=True)
class ApiResource:
    name: str
    method: str
    url: Callable[[dict], str]
    expected: dict[str, int]
    body: Callable[[dict], bytes] | None = None  # sent as JSON Lines
    reaches_upstream: bool = False  # an allowed call is forwarded to the provider


def tokens(own: int, *, none=401, unknown=401, other_same_api=None, other_other_api=None) -> dict[str, int]:
    other = {"other_same_api": other_same_api, "other_other_api": other_other_api}
    return {
        "none": none,
        "unknown": unknown,
        "own": own,
        **{k: 404 if v is None else v for k, v in other.items()},
    }


BATCH_BODY = b'{"numeroFiscal": "1234567890123", "case_id": "dossier-1"}\n'


def batch_url(w: dict, suffix: str = "") -> str:
    return f"/api/v1/batches/{w['batch']().public_id}{suffix}"


def batch_query(w: dict) -> str:
    return urlencode({"api": "impots", "path": "v1/rfr", "recipient": w["consumer"].siret,
                      "purpose": str(w["validated"].public_id)})  # fmt: skip


def gateway_url(w: dict) -> str:
    # The consumer's contract: its SIRET as recipient, its habilitation as purpose.
    query = urlencode({"recipient": w["consumer"].siret, "purpose": str(w["validated"].public_id)})
    return f"/api/v1/gateway/impots/v1/rfr?{query}"


API = [
    # Another organisation's credential to the same API may not act under the consumer's contract (400:
    # neither the recipient nor the purpose is its own); to another API, it does not open this one.
    ApiResource("gateway", "GET", gateway_url, tokens(200, other_same_api=400, other_other_api=403),
                reaches_upstream=True),
    # Batches (/api/v1/batches…): another organisation's token gets 404, whatever the batch (its
    # existence does not leak); submitting under the consumer's contract is refused as the gateway does.
    ApiResource("batch-detail", "GET", lambda w: batch_url(w), tokens(200)),
    ApiResource("batch-results-jsonl", "GET", lambda w: batch_url(w, "/results.jsonl"), tokens(200)),
    ApiResource("batch-results-csv", "GET", lambda w: batch_url(w, "/results.csv"), tokens(200)),
    ApiResource("batch-submit", "POST", lambda w: "/api/v1/batches/?" + batch_query(w),
                tokens(202, other_same_api=400, other_other_api=403), body=lambda w: BATCH_BODY),
]  # fmt: skip


def access_token(client, credential, user) -> str:
    secret = credential_new_secret(credential, user=user)
    basic = b64encode(f"{credential.client_id}:{secret}".encode()).decode()
    form = urlencode({"grant_type": "client_credentials"})
    answer = client.post("/api/v1/oauth/token", form, "application/x-www-form-urlencoded",
                         HTTP_AUTHORIZATION=f"Basic {basic}")  # fmt: skip
    assert answer.status_code == 200, answer.content
    return answer.json()["access_token"]


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize("resource", API, ids=lambda resource: resource.name)
def test_api(client, w, resource: ApiResource, token: str):
    superuser = w["person"]("superuser")  # may generate any credential's secret
    bearer = {
        "none": None,
        "unknown": "inconnu",
        "own": lambda: access_token(client, w["credential"], superuser),
        "other_same_api": lambda: access_token(client, w["theirs"]("impots"), superuser),
        "other_other_api": lambda: access_token(client, w["theirs"]("caf"), superuser),
    }[token]
    bearer = bearer() if callable(bearer) else bearer
    headers = {"HTTP_AUTHORIZATION": f"Bearer {bearer}"} if bearer else {}
    url = resource.url(w)  # its target created first
    before = state()

    if resource.method == "GET":
        response = client.get(url, **headers)
    else:
        headers["HTTP_IDEMPOTENCY_KEY"] = "depot-1"
        response = client.generic(resource.method, url, resource.body(w), "application/x-ndjson",
                                  **headers)  # fmt: skip

    expected = resource.expected[token]
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == expected, (resource.name, token, content[:300])
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert state() == before
        assert w["upstream"]["hits"] == []
    elif resource.reaches_upstream:
        assert len(w["upstream"]["hits"]) == 1
    if resource.name == "gateway":
        entry = JournalEntry.objects.filter(event_type="exchange.gateway_call").get()
        assert entry.outcome == ("success" if expected == 200 else "failure")
