"""The gateway over real HTTP: Maillage (Django's client) forwards to the sandbox providers (their own
gunicorn process) under a validated habilitation, masks the answer to the granted scopes, and journals
every call, refused ones included."""

import base64
import contextlib
import http.server
import io
import json
import socket
import threading
from urllib.parse import urlencode

import pytest

from exchange.models import ApiProduct, ApiScope, Credential
from exchange.services import (
    credential_new_secret,
    credential_revoke,
    habilitation_create,
    habilitation_transition,
    habilitation_update,
)
from protection.models import JournalEntry
from tests.exchange.conftest import CONTACTS
from tests.exchange.test_sandbox_providers import TOKEN, base, pivot  # noqa: F401 - the providers' process
from tests.servers import free_port

pytestmark = pytest.mark.django_db
QF = "/api/v1/gateway/caf-qf/v1/quotient-familial"


@pytest.fixture
def contract(world, base):  # noqa: F811
    api = ApiProduct.objects.create(
        slug="caf-qf", name="Quotient familial", provider=world["provider"], description="QF",
        upstream_base_url=f"{base}/caf", upstream_auth="bearer", upstream_secret=TOKEN, published=True,
    )  # fmt: skip
    qf = ApiScope.objects.create(
        api=api, code="caf_qf", label="QF", fields=["quotientFamilial", "annee", "mois"]
    )
    ApiScope.objects.create(api=api, code="caf_adresse", label="Adresse", fields=["adresse"])
    habilitation = habilitation_create(
        applicant=world["applicant"], consumer=world["consumer"], api=api, scopes=[qf], title="Cantine",
        purpose="Tarif", legal_basis_nature="deliberation", legal_basis_url="https://mairie.example.fr/d.pdf",
        retention_months=12, contacts=CONTACTS, recipients=["13002526500013"],
    )  # fmt: skip
    habilitation_transition(habilitation, "submit", user=world["applicant"])
    habilitation_transition(habilitation, "validate", user=world["instructor"])
    credential = Credential.objects.get()
    secret = credential_new_secret(credential, user=world["applicant"])
    return {"habilitation": habilitation, "credential": credential, "secret": secret, "world": world}


def access_token(client, contract) -> str:
    basic = base64.b64encode(f"{contract['credential'].client_id}:{contract['secret']}".encode()).decode()
    answer = client.post(
        "/api/v1/oauth/token",
        urlencode({"grant_type": "client_credentials"}),
        "application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert answer.status_code == 200, answer.content
    return answer.json()["access_token"]


def call(client, contract, token=None, **params):
    query = {
        **pivot("angela"),
        "recipient": contract["world"]["consumer"].siret,
        "purpose": str(contract["habilitation"].public_id),
        **params,
    }
    query = {k: v for k, v in query.items() if v is not None}
    token = token or access_token(client, contract)
    return client.get(QF, query, HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_REQUEST_ID="req-gateway-1")


@contextlib.contextmanager
def provider(handler):
    """A provider of the test's own (an http.server handler class) in a thread, as the API's upstream."""
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ApiProduct.objects.update(upstream_base_url=f"http://127.0.0.1:{server.server_port}/caf/")
        yield
    finally:
        server.shutdown()
        server.server_close()


def test_a_call_is_forwarded_masked_to_the_granted_fields_and_journaled(client, contract):
    answer = call(client, contract, case_id="dossier-42")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["quotientFamilial"] == 820 and body["mois"] == 10
    assert "allocataires" not in body and "adresse" not in body  # not granted
    assert answer["X-Request-ID"] == "req-gateway-1"
    entry = JournalEntry.objects.get(event_type="exchange.gateway_call")
    assert entry.outcome == "success" and entry.contract == str(
        contract["credential"].authorization.public_id
    )
    assert entry.data["fields"] == sorted(body) and entry.data["case_id"] == "dossier-42"
    assert entry.subject and entry.organisation_id == str(contract["world"]["consumer"].public_id)
    assert "DUBOIS" not in str(entry.data)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"recipient": None}, "recipient"),
        ({"recipient": "35600000000048"}, "recipient"),  # not the consumer's, not listed
        ({"purpose": None}, "purpose"),
        ({"purpose": "autre-chose"}, "purpose"),
    ],
)
def test_the_context_is_enforced(client, contract, params, field):
    answer = call(client, contract, **params)
    assert answer.status_code == 400 and answer["Content-Type"] == "application/problem+json"
    assert field in {error["field"] for error in answer.json()["errors"]}
    assert JournalEntry.objects.get(event_type="exchange.gateway_call").outcome == "failure"


def test_a_listed_recipient_is_allowed(client, contract):
    assert call(client, contract, recipient="13002526500013").status_code == 200


def test_missing_unknown_expired_and_revoked_credentials_are_refused(client, contract):
    assert client.get(QF).status_code == 401
    assert client.get(QF, HTTP_AUTHORIZATION="Bearer inconnu").status_code == 401
    token = access_token(client, contract)
    credential_revoke(contract["credential"], user=contract["world"]["instructor"])
    assert call(client, contract, token=token).status_code == 401  # revocation: the very next call
    assert JournalEntry.objects.filter(event_type="exchange.gateway_call", outcome="failure").exists()


def test_a_revoked_habilitation_stops_the_next_call(client, contract):
    token = access_token(client, contract)
    assert call(client, contract, token=token).status_code == 200
    habilitation_transition(
        contract["habilitation"], "revoke", user=contract["world"]["instructor"], message="Fin"
    )
    assert call(client, contract, token=token).status_code == 401


def throttled_entries() -> list:
    calls = JournalEntry.objects.filter(event_type="exchange.gateway_call")
    return [entry for entry in calls if entry.data.get("reason") == "throttled"]  # data: json, not jsonb


def test_over_the_quota_is_a_429_journaled_as_refused_once_per_window(client, contract, settings):
    # given a credential allowed 2 calls a day through the gateway
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "gateway": {"client": "2/day", "ip": "1000/day"}}
    token = access_token(client, contract)

    # when it calls four times
    answers = [call(client, contract, token=token) for _ in range(4)]

    # then the two calls over the quota are 429 problems, with Retry-After and the RateLimit headers
    assert [answer.status_code for answer in answers] == [200, 200, 429, 429]
    for answer in answers[2:]:
        assert answer["Content-Type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/api/problems/throttled")
        assert answer["RateLimit-Limit"] == "2" and answer["RateLimit-Remaining"] == "0"
        assert int(answer["Retry-After"]) == int(answer["RateLimit-Reset"]) > 0
    # and the first of them is journaled as refused, under the contract; the one after it is not
    [entry] = throttled_entries()
    assert entry.outcome == "failure"
    assert entry.contract == str(contract["credential"].authorization.public_id)
    assert entry.actor_id == contract["credential"].client_id
    assert entry.data["status"] == 429 and entry.data["api"] == "caf-qf"
    assert (entry.data["quota"], entry.data["limit"]) == ("client", 2)
    # and neither reached the provider: only the two calls under the quota are journaled as exchanges
    assert JournalEntry.objects.filter(event_type="exchange.gateway_call", outcome="success").count() == 2
    # and the consumer's dashboard shows the refusal by its reason
    client.force_login(contract["world"]["applicant"])
    dashboard = client.get(f"/identifiants/{contract['credential'].public_id}/").content.decode()
    assert "Quota dépassé (le premier refus de chaque fenêtre)" in dashboard


def test_over_the_quota_an_unknown_token_is_a_429_journaled_without_a_contract(client, contract, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "gateway": {"client": "1000/day", "ip": "1/day"}}

    answers = [client.get(QF, HTTP_AUTHORIZATION="Bearer inconnu", REMOTE_ADDR="10.7.0.1") for _ in range(2)]

    assert [answer.status_code for answer in answers] == [401, 429]
    [entry] = throttled_entries()
    assert (entry.contract, entry.actor_id, entry.data["quota"]) == ("", "", "ip")


def test_a_token_whose_scopes_an_amendment_took_away_is_refused_on_its_next_call(client, contract):
    # given a token for the family quotient scope, then an amendment that grants the address scope only
    world, habilitation = contract["world"], contract["habilitation"]
    token = access_token(client, contract)
    assert call(client, contract, token=token).status_code == 200
    habilitation_transition(habilitation, "reopen", user=world["applicant"])
    address = ApiScope.objects.get(code="caf_adresse")
    habilitation_update(habilitation, user=world["applicant"], scopes=[address])
    habilitation_transition(habilitation, "submit", user=world["applicant"])
    habilitation_transition(habilitation, "validate", user=world["instructor"])

    # when the token is used again
    answer = call(client, contract, token=token)

    # then it is a 403 problem, journaled as refused under the new authorization
    assert answer.status_code == 403 and answer["Content-Type"] == "application/problem+json"
    assert "scope" in answer.json()["detail"]
    entry = JournalEntry.objects.filter(event_type="exchange.gateway_call").latest("id")
    assert (entry.outcome, entry.data["status"], entry.data["reason"]) == ("failure", 403, "gateway-refused")
    contract["credential"].refresh_from_db()
    assert entry.contract == str(contract["credential"].authorization.public_id)
    assert contract["credential"].authorization.scopes == ["caf_adresse"]


def test_another_api_is_refused(client, contract):
    token = access_token(client, contract)
    answer = client.get("/api/v1/gateway/autre-api/v1/x", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 403 and answer["Content-Type"] == "application/problem+json"


def test_an_unreachable_upstream_is_a_502(client, contract):
    token = access_token(client, contract)
    ApiProduct.objects.update(upstream_base_url=f"http://127.0.0.1:{free_port()}/caf")
    answer = call(client, contract, token=token)
    assert answer.status_code == 502 and answer.json()["type"].endswith("/upstream-failure")


def test_an_answer_that_is_not_json_is_a_502(client, contract):
    class NotJson(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the standard library's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"quotientFamilial": 8')  # cut in the middle

        def log_message(self, *args):
            pass

    token = access_token(client, contract)
    with provider(NotJson):
        answer = call(client, contract, token=token)
    assert answer.status_code == 502 and answer.json()["type"].endswith("/upstream-failure")


def test_a_silent_upstream_is_a_504(client, contract, monkeypatch):
    from exchange import gateway

    token = access_token(client, contract)
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        ApiProduct.objects.update(upstream_base_url=f"http://127.0.0.1:{silent.getsockname()[1]}/caf")
        # The real timeouts are 3 s to connect, 10 s to read (gateway.UPSTREAM_TIMEOUTS); here half a second.
        monkeypatch.setattr(gateway, "UPSTREAM_TIMEOUTS", dict.fromkeys(gateway.UPSTREAM_TIMEOUTS, 0.5))
        answer = call(client, contract, token=token)
    assert answer.status_code == 504 and answer.json()["type"].endswith("/upstream-timeout")
    assert JournalEntry.objects.filter(event_type="exchange.gateway_call", outcome="failure").exists()


def test_an_unknown_person_is_the_providers_404(client, contract):
    answer = call(client, contract, nomNaissance="PERSONNE")
    assert answer.status_code == 404 and answer["Content-Type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/upstream-not-found")
    assert answer["X-Upstream-Reason"] == "unknown_person"
    entry = JournalEntry.objects.get(event_type="exchange.gateway_call")
    assert entry.outcome == "failure" and entry.data["status"] == 404


def test_a_parameter_the_provider_refuses_is_a_400_naming_it(client, contract):
    answer = call(client, contract, dateNaissance="24/08/1962")
    assert answer.status_code == 400 and answer["Content-Type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/upstream-rejected")
    assert answer.json()["errors"][0]["field"] == "dateNaissance"


def test_a_provider_refusing_maillage_itself_is_a_502_for_the_consumer(client, contract):
    token = access_token(client, contract)
    ApiProduct.objects.update(upstream_secret="not-the-providers-token")
    answer = call(client, contract, token=token)
    assert answer.status_code == 502 and answer.json()["type"].endswith("/upstream-failure")


@pytest.mark.parametrize(
    "path", ["v1/../quotient-familial", "v1/%2e%2e/quotient-familial", "./v1/quotient-familial"]
)
def test_a_dot_segment_never_reaches_the_provider(client, contract, path):
    # The provider would resolve it to another of its APIs, called with this API's secret.
    answer = client.get(
        f"/api/v1/gateway/caf-qf/{path}",
        {**pivot("angela"), "recipient": contract["world"]["consumer"].siret,
         "purpose": str(contract["habilitation"].public_id)},
        HTTP_AUTHORIZATION=f"Bearer {access_token(client, contract)}",
    )  # fmt: skip
    assert answer.status_code == 400 and answer.json()["type"].endswith("/gateway-path")
    entry = JournalEntry.objects.get(event_type="exchange.gateway_call")
    assert entry.outcome == "failure" and entry.data["reason"] == "gateway-path"


def test_what_the_provider_receives(client, contract):
    requests = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the standard library's name
            requests.append((self.path, dict(self.headers)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"quotientFamilial": 820, "secretField": 1}')

        def log_message(self, *args):
            pass

    token = access_token(client, contract)
    with provider(Recorder):
        answer = client.get(
            "/api/v1/gateway/caf-qf/v1/quotient%3Ffamilial%20x",  # a "?" and a space inside the path
            {**pivot("angela"), "prenoms": "Angela Claire", "annee": "2026",
             "recipient": contract["world"]["consumer"].siret,
             "purpose": str(contract["habilitation"].public_id)},
            HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_REQUEST_ID="req-upstream-1",
        )  # fmt: skip
    assert answer.status_code == 200 and answer.json() == {"quotientFamilial": 820}
    [(target, headers)] = requests
    path, _, query = target.partition("?")
    assert path == "/caf/v1/quotient%3Ffamilial%20x"  # escaped, under the API's base path
    assert "prenoms=Angela%20Claire" in query and "annee=2026" in query
    assert "recipient" not in query and "purpose" not in query  # the call's context stays with Maillage
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["X-Request-ID"] == "req-upstream-1" and headers["Accept-Encoding"] == "identity"


def test_a_providers_cookie_is_never_sent_back(client, contract):
    seen = []

    class Cookies(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the standard library's name
            seen.append(self.headers.get("Cookie"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Set-Cookie", "session=consumer-a; Path=/")
            self.end_headers()
            self.wfile.write(b'{"quotientFamilial": 820}')

        def log_message(self, *args):
            pass

    token = access_token(client, contract)
    with provider(Cookies):
        assert call(client, contract, token=token).status_code == 200
        assert call(client, contract, token=token).status_code == 200
    assert seen == [None, None]


def test_the_citizen_sees_the_exchanges_about_them_even_those_before_their_first_sign_in(
    client, contract, django_user_model
):
    from identity.models import CitizenIdentity
    from identity.pivot import identity_hash, normalise
    from identity.sandbox_idp.accounts import CITIZENS, find
    from protection.selectors import entry_visible_to, journal_for_person, person_identifiers

    token = access_token(client, contract)
    before = call(client, contract, token=token)  # Maillage does not know Angela yet: a pivot pseudonym
    assert before.status_code == 200
    claims = find(CITIZENS, "angela").claims
    user = django_user_model.objects.create_citizen(username="usager-angela")
    identity = normalise(claims)
    CitizenIdentity.objects.create(
        user=user, identity_hash=identity_hash(identity), given_name=identity.given_name,
        family_name=identity.family_name, birthdate=identity.birthdate, gender=identity.gender,
        birthplace=identity.birthplace, birthcountry=identity.birthcountry,
    )  # fmt: skip
    assert call(client, contract, token=token).status_code == 200  # now under her account's pseudonym
    # A month the provider has nothing about her: journaled for her, nothing transmitted.
    assert call(client, contract, token=token, annee="1990", mois="1").status_code == 404

    calls = JournalEntry.objects.filter(event_type="exchange.gateway_call").order_by("id")
    first, second, third = calls
    assert first.subject != second.subject == third.subject  # two pseudonyms, one person
    person = journal_for_person(*person_identifiers(user))
    assert list(person.entries.filter(event_type="exchange.gateway_call")) == [third, second, first]
    assert entry_visible_to(user, first) and entry_visible_to(user, second)
    # Her Mon espace lists the three, saying what was transmitted; another citizen sees none.
    client.force_login(user)
    page = client.get("/identite/mon-espace/").content.decode()
    assert page.count(contract["habilitation"].title) == 3
    assert page.count("Données transmises") == 2 and page.count("Aucune donnée transmise") == 1
    other = django_user_model.objects.create_citizen(username="usager-autre")
    assert not journal_for_person(*person_identifiers(other)).entries.exists()
    assert not entry_visible_to(other, first)


def test_the_consumer_sees_calls_and_errors_per_period_on_the_habilitation(client, contract):
    token = access_token(client, contract)
    assert call(client, contract, token=token).status_code == 200
    assert call(client, contract, token=token, purpose="autre").status_code == 400
    old = call(client, contract, token=token)
    assert old.status_code == 200
    JournalEntry.objects.filter(
        pk=JournalEntry.objects.filter(event_type="exchange.gateway_call").latest("id").pk
    )
    from datetime import timedelta

    from django.utils import timezone

    from exchange.selectors import gateway_usage

    usage = {row["window"]: (row["calls"], row["errors"]) for row in gateway_usage(contract["habilitation"])}
    assert usage == {"10min": (3, 1), "30h": (3, 1), "8d": (3, 1)}
    later = gateway_usage(contract["habilitation"], now=timezone.now() + timedelta(hours=2))
    assert {row["window"]: (row["calls"], row["errors"]) for row in later} == {
        "10min": (0, 0),
        "30h": (3, 1),
        "8d": (3, 1),
    }
    client.force_login(contract["world"]["applicant"])
    page = client.get(f"/habilitations/{contract['habilitation'].public_id}/").content.decode()
    assert "Appels à la passerelle" in page and "10 dernières minutes" in page


def wsgi_get(path: str, query: dict, headers: dict) -> tuple[int, dict, bytes]:
    """A GET through platform_core.wsgi.application, the application gunicorn serves."""
    from platform_core.wsgi import application

    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": urlencode(query),
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(), "wsgi.version": (1, 0), "wsgi.multithread": True,
        "wsgi.multiprocess": True, "wsgi.run_once": False,
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
    }  # fmt: skip
    started = []
    body = b"".join(application(environ, lambda status, headers, *_: started.append((status, headers))))
    status, header_list = started[0]
    header_map = {}
    for name, value in header_list:
        header_map.setdefault(name.lower(), []).append(value)
    return int(status.split()[0]), header_map, body


def test_the_gateway_has_its_own_handler_without_the_middleware_of_browsers(settings):
    from platform_core.wsgi import application

    lean, full = application.handler_for(QF), application.handler_for("/api/v1/organisations/")
    assert lean is not full
    assert lean.middleware == settings.LEAN_MIDDLEWARE
    browsers = {
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    }
    # built from its own list, the setting left whole for the other handler
    assert browsers <= set(settings.MIDDLEWARE) and not browsers & set(lean.middleware)
    # in the whole stack's order, the site's CSP replaced by the API's (no nonce, nothing allowed)
    site = [name.replace("csp.CSPMiddleware", "csp.ApiCSPMiddleware") for name in settings.MIDDLEWARE]
    assert lean.middleware == [name for name in site if name in lean.middleware]
    assert "protection.csp.ApiCSPMiddleware" in lean.middleware

    # and the chains really differ: CSRF's view hook is in the whole stack only (Django's handler keeps
    # the process_view methods of its middleware instances)
    def view_hooks(handler):
        return {type(method.__self__).__name__ for method in handler._view_middleware}

    assert "CsrfViewMiddleware" in view_hooks(full)
    assert "CsrfViewMiddleware" not in view_hooks(lean)


@pytest.mark.django_db(transaction=True)  # the handler ends its requests as gunicorn's do
def test_the_gateway_is_served_with_what_api_calls_need(client, contract):
    token = access_token(client, contract)
    query = {**pivot("angela"), "recipient": contract["world"]["consumer"].siret,
             "purpose": str(contract["habilitation"].public_id)}  # fmt: skip
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "lean-1", "Accept-Language": "en"}

    status, answer_headers, body = wsgi_get(QF, query, headers)

    assert status == 200, body
    assert json.loads(body)["quotientFamilial"]
    # what the gateway's calls keep: request id, quota, security headers, CSP, metrics' middleware
    assert answer_headers["x-request-id"] == ["lean-1"]
    assert answer_headers["ratelimit-limit"]
    assert answer_headers["x-content-type-options"] == ["nosniff"]
    assert answer_headers["x-frame-options"] == ["DENY"]
    assert answer_headers["content-security-policy"] == ["default-src 'none'; frame-ancestors 'none'"]
    assert answer_headers["content-length"] == [str(len(body))]  # not chunked
    # what they go without: no session, no CSRF cookie, nothing that varies with cookies
    assert "set-cookie" not in answer_headers
    assert "cookie" not in ",".join(answer_headers.get("vary", [])).lower()
    assert JournalEntry.objects.filter(event_type="exchange.gateway_call", request_id="lean-1").count() == 1

    # the caller's language is kept: a refusal in English
    status, _headers, body = wsgi_get(QF, {**query, "purpose": ""}, headers)
    assert status == 400
    assert json.loads(body)["title"] == "Invalid call context"

    # and every other path keeps the whole stack (here, DRF's session authentication reads the session)
    status, answer_headers, _body = wsgi_get("/api/v1/organisations/", {}, {"Accept": "application/json"})
    assert status == 200
    assert "cookie" in ",".join(answer_headers.get("vary", [])).lower()
