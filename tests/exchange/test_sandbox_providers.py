"""The sandbox data providers (CAF-, DGFiP- and CNOUS-like upstream APIs), run as their own gunicorn process
on loopback as `make run` runs them, and driven over HTTP."""

import json
import os
import re
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from drf_spectacular.validation import validate_schema

from exchange.sandbox_providers.app import application_from_env
from exchange.sandbox_providers.data import SCOPES
from identity.sandbox_idp.accounts import CITIZENS, accounts_of, find
from platform_core.env import generated_secret
from tests.servers import free_port, stop_gunicorn

BASE_DIR = Path(__file__).resolve().parents[2]
TOKEN = "sandbox-providers-token-" + "t" * 20
CAF, DGFIP, CNOUS = (
    "/caf/v1/quotient-familial",
    "/dgfip/v1/revenu-fiscal-reference",
    "/cnous/v1/statut-etudiant-boursier",
)
PATHS = {"caf": CAF, "dgfip": DGFIP, "cnous": CNOUS}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The providers under gunicorn gthread, with a token file, until the module's tests are done."""
    token_file = tmp_path_factory.mktemp("providers") / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    environment = {"PATH": "/usr/bin:/bin", "SANDBOX_PROVIDERS_TOKEN_FILE": str(token_file)}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "exchange.sandbox_providers.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread", "--threads", "4",
         "--log-level", "warning"],
        cwd=BASE_DIR, env=environment,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the sandbox providers did not start") from None
            time.sleep(0.1)
    yield url
    stop_gunicorn(process)


@pytest.fixture(scope="module")
def client(base):
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
        yield client


def pivot(login: str) -> dict[str, str]:
    """The query string designating a sandbox citizen, from the identity provider's claims."""
    claims = find(CITIZENS, login).claims
    return {
        "nomNaissance": claims["family_name"],
        "prenoms": claims["given_name"],
        "dateNaissance": claims["birthdate"],
        "sexe": {"female": "F", "male": "M"}[claims["gender"]],
        "codeLieuNaissance": claims["birthplace"],
        "codePaysNaissance": claims["birthcountry"],
    }


# --- data ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "login", "extra", "expected"),
    [
        (CAF, "angela", {}, {"id": "caf-0412873-202610", "quotientFamilial": 820, "annee": 2026, "mois": 10}),
        (CAF, "angela", {"annee": "2026", "mois": "08"}, {"quotientFamilial": 805, "mois": 8}),
        (CAF, "jean-pierre", {"annee": "2026", "mois": "10"}, {"quotientFamilial": 1140, "regime": "CNAF"}),
        (CAF, "aminata", {}, {"quotientFamilial": 455}),
        (DGFIP, "angela", {}, {"id": "dgfip-2675A04128731", "revenuFiscalReference": 31450, "nombreParts": 2,
                               "anneeRevenus": 2025, "anneeImpots": 2026}),
        (DGFIP, "angela", {"anneeRevenus": "2024"}, {"revenuFiscalReference": 30120, "anneeRevenus": 2024}),
        (DGFIP, "sophie", {}, {"revenuFiscalReference": 47900, "nombreParts": 1, "declarant2": None}),
        (DGFIP, "marcel", {}, {"revenuFiscalReference": 24600, "anneeRevenus": 2024}),
        (CNOUS, "tomasz", {}, {"id": "cnous-dse-2026-0358127", "boursier": True, "echelonBourse": "5",
                               "statutLibelle": "définitif"}),
        (CNOUS, "eloise", {}, {"boursier": True, "echelonBourse": "0bis", "statut": 1}),
    ],
)  # fmt: skip
def test_each_api_answers_the_record_of_a_known_person(client, path, login, extra, expected):
    response = client.get(path, params={**pivot(login), **extra})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json().items() >= expected.items()


@pytest.mark.parametrize("api", ["caf", "dgfip", "cnous"])
def test_an_answer_is_an_id_and_the_fields_of_the_apis_scopes(client, api):
    login = "tomasz"  # known to all three
    scoped = {name for scope in SCOPES[api].values() for name in scope.fields}

    first = client.get(PATHS[api], params=pivot(login)).json()
    again = client.get(PATHS[api], params=pivot(login)).json()

    assert set(first) == scoped | {"id"}
    assert first["id"] == again["id"]


def test_the_household_and_tax_notice_describe_the_person(client):
    caf = client.get(CAF, params=pivot("nadia")).json()
    dgfip = client.get(DGFIP, params=pivot("jean-pierre")).json()

    assert caf["allocataires"] == [{"nomNaissance": "BENALI", "nomUsage": "LEFEBVRE", "prenoms": "Nadia",
                                    "dateNaissance": "1988-11-02", "sexe": "F"}]  # fmt: skip
    assert [child["prenoms"] for child in caf["enfants"]] == ["Inès"]
    assert caf["adresse"]["codePostalVille"] == "33000 BORDEAUX"
    assert dgfip["declarant1"]["prenoms"] == "Jean-Pierre Marie"
    assert dgfip["declarant2"]["nomNaissance"] == "ROUX"
    assert (dgfip["nombreParts"], dgfip["nombrePersonnesCharge"]) == (3, 2)


# Who each provider knows, for every citizen of the sandbox identity provider: the table of data.py.
KNOWN = {
    "caf": {"angela", "jean-pierre", "nadia", "tomasz", "aminata"},
    "dgfip": {"angela", "jean-pierre", "nadia", "tomasz", "aminata", "marcel", "sophie", "eloise"},
    "cnous": {"tomasz", "eloise"},
}


@pytest.mark.parametrize("api", ["caf", "dgfip", "cnous"])
def test_every_sandbox_citizen_is_answered_as_the_data_table_says(client, api):
    statuses = {}
    for account in accounts_of(CITIZENS):
        response = client.get(PATHS[api], params=pivot(account.login))
        statuses[account.login] = (response.status_code, response.json().get("reason"))

    for login, status in statuses.items():
        if login in KNOWN[api]:
            assert status == (200, None), login
        elif login == "inconnu":
            assert status == (404, "unknown_person"), login
        else:
            assert status == (404, "no_data"), login


# --- matching ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        {"nomNaissance": "d'alembert-grégoire", "prenoms": "ÉLOÏSE ANAÏS"},
        {"nomNaissance": "D’ALEMBERT GREGOIRE", "prenoms": "eloise  anais"},
        {"nomNaissance": "d alembert gregoire", "prenoms": "eloise-anais"},
    ],
)
def test_names_match_without_regard_to_case_accents_or_punctuation(client, variant):
    response = client.get(DGFIP, params={**pivot("eloise"), **variant})

    assert response.status_code == 200, response.text
    assert response.json()["revenuFiscalReference"] == 14260


def test_given_names_may_be_repeated_and_codes_lower_case(client):
    query = {**pivot("jean-pierre"), "sexe": "m"}
    query["prenoms"] = ["Jean-Pierre", "Marie"]

    response = client.get(CAF, params=query)

    assert response.status_code == 200, response.text
    assert response.json()["quotientFamilial"] == 1140


def test_born_abroad_the_birthplace_may_be_absent_or_empty(client):
    query = pivot("aminata")
    without = {name: value for name, value in query.items() if name != "codeLieuNaissance"}

    assert client.get(CAF, params=query).status_code == 200
    assert client.get(CAF, params=without).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"nomNaissance": "LEFEBVRE"},  # the usage name is not the birth name
        {"prenoms": "Nadia Sarah"},
        {"dateNaissance": "1988-11-03"},
        {"sexe": "M"},
        {"codeLieuNaissance": "33039"},
    ],
)
def test_a_different_pivot_identity_is_an_unknown_person(client, change):
    response = client.get(CAF, params={**pivot("nadia"), **change})

    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "reason": "unknown_person",
        "detail": "no person matches this pivot identity",
    }


def test_only_all_the_given_names_match(client):
    response = client.get(DGFIP, params={**pivot("angela"), "prenoms": "Angela"})

    assert response.status_code == 404
    assert response.json()["reason"] == "unknown_person"


@pytest.mark.parametrize(
    ("path", "login", "extra"),
    [
        (DGFIP, "lea", {}),  # a minor: on her parents' return
        (CAF, "lea", {}),
        (CNOUS, "angela", {}),  # not a student
        (CAF, "sophie", {}),  # not an allocataire
        (CAF, "angela", {"annee": "2026", "mois": "11"}),  # not computed yet
        (DGFIP, "marcel", {"anneeRevenus": "2025"}),  # deceased: no notice for 2025
    ],
)
def test_a_known_person_without_such_data_is_not_found(client, path, login, extra):
    response = client.get(path, params={**pivot(login), **extra})

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert response.json()["reason"] == "no_data"


# --- parameters ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parameter", ["nomNaissance", "prenoms", "dateNaissance", "sexe", "codePaysNaissance"]
)
def test_a_missing_pivot_parameter_is_a_400_naming_it(client, parameter):
    query = {name: value for name, value in pivot("angela").items() if name != parameter}

    response = client.get(DGFIP, params=query)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "reason": "missing_parameter",
        "detail": f"{parameter} is required",
        "parameter": parameter,
    }


@pytest.mark.parametrize(
    ("path", "change", "parameter", "reason"),
    [
        (CAF, {"codeLieuNaissance": ""}, "codeLieuNaissance", "missing_parameter"),  # born in France
        (CAF, {"nomNaissance": "  "}, "nomNaissance", "missing_parameter"),
        (CAF, {"dateNaissance": "24/08/1962"}, "dateNaissance", "invalid_parameter"),
        (CAF, {"dateNaissance": "1962-02-30"}, "dateNaissance", "invalid_parameter"),
        (CAF, {"sexe": "X"}, "sexe", "invalid_parameter"),
        (CAF, {"codePaysNaissance": "France"}, "codePaysNaissance", "invalid_parameter"),
        (CAF, {"codeLieuNaissance": "7510"}, "codeLieuNaissance", "invalid_parameter"),
        (CAF, {"codePaysNaissance": "99122"}, "codeLieuNaissance", "invalid_parameter"),  # abroad: empty
        (CAF, {"mois": "10"}, "annee", "missing_parameter"),
        (CAF, {"annee": "2026"}, "mois", "missing_parameter"),
        (CAF, {"annee": "2026", "mois": "13"}, "mois", "invalid_parameter"),
        (CAF, {"annee": "26", "mois": "10"}, "annee", "invalid_parameter"),
        (DGFIP, {"anneeRevenus": "last"}, "anneeRevenus", "invalid_parameter"),
        (DGFIP, {"sexe": ["F", "M"]}, "sexe", "invalid_parameter"),
    ],
)
def test_an_invalid_parameter_is_a_400_naming_it(client, path, change, parameter, reason):
    response = client.get(path, params={**pivot("angela"), **change})

    assert response.status_code == 400
    assert response.json()["parameter"] == parameter
    assert response.json()["reason"] == reason


# --- authentication ------------------------------------------------------------------------------------


def test_without_a_token_the_caller_is_refused(base):
    response = httpx.get(f"{base}{CAF}", params=pivot("angela"))

    assert response.status_code == 401
    assert response.json()["reason"] == "missing_token"
    assert response.headers["www-authenticate"] == 'Bearer realm="sandbox-providers"'


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", "Bearer", f"Basic {TOKEN}", TOKEN])
def test_with_a_wrong_token_the_caller_is_refused(base, header):
    response = httpx.get(f"{base}{DGFIP}", params=pivot("angela"), headers={"Authorization": header})

    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "reason": "invalid_token",
        "detail": "the token is not valid",
    }
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_faults_are_for_authenticated_callers_only(base):
    response = httpx.get(f"{base}{CAF}", params=pivot("angela"), headers={"X-Sandbox-Fault": "error"})

    assert response.status_code == 401


def test_without_its_token_file_the_application_refuses_to_start(monkeypatch, tmp_path):
    monkeypatch.delenv("SANDBOX_PROVIDERS_TOKEN_FILE", raising=False)
    with pytest.raises(RuntimeError, match="SANDBOX_PROVIDERS_TOKEN_FILE"):
        application_from_env()

    (tmp_path / "token").write_text("short\n")
    monkeypatch.setenv("SANDBOX_PROVIDERS_TOKEN_FILE", str(tmp_path / "token"))
    with pytest.raises(RuntimeError, match="16 characters"):
        application_from_env()


@pytest.mark.parametrize("latency", ["-5", "fast", "1.5", "10001"])
def test_an_unusable_latency_refuses_to_start(monkeypatch, tmp_path, latency):
    (tmp_path / "token").write_text(TOKEN)
    monkeypatch.setenv("SANDBOX_PROVIDERS_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("SANDBOX_PROVIDERS_LATENCY_MS", latency)
    with pytest.raises(ValueError, match="SANDBOX_PROVIDERS_LATENCY_MS|latency"):
        application_from_env()


def test_with_a_latency_every_data_answer_takes_that_long(monkeypatch, tmp_path):
    (tmp_path / "token").write_text(TOKEN)
    monkeypatch.setenv("SANDBOX_PROVIDERS_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("SANDBOX_PROVIDERS_LATENCY_MS", "300")
    application = application_from_env()

    def get(path, query=""):
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
                   "HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}  # fmt: skip
        started, answered = time.monotonic(), []
        body = b"".join(application(environ, lambda status, headers: answered.append(status)))
        return answered[0], json.loads(body), time.monotonic() - started

    status, body, took = get(CAF, urlencode(pivot("angela")))
    assert (status, body["quotientFamilial"]) == ("200 OK", 820)
    assert took >= 0.3
    status, body, took = get("/healthz")  # not a data answer: at once
    assert status == "200 OK" and took < 0.3


# --- faults --------------------------------------------------------------------------------------------


def test_slow_answers_after_the_delay(client):
    started = time.monotonic()
    response = client.get(
        CAF, params=pivot("angela"), headers={"X-Sandbox-Fault": "slow", "X-Sandbox-Delay": "0.6"}
    )

    assert time.monotonic() - started >= 0.6
    assert response.status_code == 200
    assert response.json()["quotientFamilial"] == 820


def test_slow_times_a_client_out(client):
    with pytest.raises(httpx.ReadTimeout):
        client.get(CAF, params=pivot("angela"), headers={"X-Sandbox-Fault": "slow", "X-Sandbox-Delay": "2"},
                   timeout=0.3)  # fmt: skip


@pytest.mark.parametrize("delay", ["soon", "-1", "nan", "inf"])
def test_slow_with_a_bad_delay_is_a_400(client, delay):
    response = client.get(
        CAF, params=pivot("angela"), headers={"X-Sandbox-Fault": "slow", "X-Sandbox-Delay": delay}
    )

    assert response.status_code == 400
    assert response.json()["parameter"] == "X-Sandbox-Delay"


def test_error_is_a_503(client):
    response = client.get(DGFIP, params=pivot("angela"), headers={"X-Sandbox-Fault": "error"})

    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"


def test_invalid_json_is_a_200_with_a_broken_body(client):
    response = client.get(CNOUS, params=pivot("tomasz"), headers={"X-Sandbox-Fault": "invalid-json"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.content.startswith(b'{"id":"cnous-dse-2026-0358127"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_flaky_fails_the_first_calls_of_a_key_then_answers(client):
    key, other = str(uuid.uuid4()), str(uuid.uuid4())
    headers = {"X-Sandbox-Fault": "flaky", "X-Sandbox-Fault-Key": key, "X-Sandbox-Fault-Count": "2"}

    statuses = [client.get(CAF, params=pivot("angela"), headers=headers).status_code for _ in range(4)]
    by_default = [
        client.get(CAF, params=pivot("angela"), headers={**headers, "X-Sandbox-Fault-Key": other,
                                                          "X-Sandbox-Fault-Count": ""}).status_code
        for _ in range(2)
    ]  # fmt: skip

    assert statuses == [503, 503, 200, 200]
    assert by_default == [503, 200]


FLAKY = {"X-Sandbox-Fault": "flaky", "X-Sandbox-Fault-Key": "k"}


@pytest.mark.parametrize(
    ("headers", "parameter"),
    [
        ({"X-Sandbox-Fault": "flaky"}, "X-Sandbox-Fault-Key"),
        ({**FLAKY, "X-Sandbox-Fault-Count": "0"}, "X-Sandbox-Fault-Count"),
        ({**FLAKY, "X-Sandbox-Fault-Count": "many"}, "X-Sandbox-Fault-Count"),
        ({"X-Sandbox-Fault": "teapot"}, "X-Sandbox-Fault"),
    ],
)  # fmt: skip
def test_an_unusable_fault_is_a_400_naming_the_header(client, headers, parameter):
    response = client.get(CAF, params=pivot("angela"), headers=headers)

    assert response.status_code == 400
    assert response.json()["parameter"] == parameter


# --- descriptions and plumbing -------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["caf", "dgfip", "cnous"])
def test_each_api_is_described_in_openapi_3(base, api):
    response = httpx.get(f"{base}/{api}/openapi.json")

    assert response.status_code == 200
    document = response.json()
    validate_schema(document)
    (server,) = document["servers"]
    (path,) = document["paths"]
    assert server["url"] + path == base + PATHS[api]
    operation = document["paths"][path]["get"]
    assert set(operation["responses"]) == {"200", "400", "401", "404", "503"}
    assert {p["name"] for p in operation["parameters"]} >= {
        "nomNaissance",
        "prenoms",
        "dateNaissance",
        "sexe",
        "codeLieuNaissance",
        "codePaysNaissance",
    }
    assert operation["x-maillage-scopes"] == {
        name: {"label": scope.label, "fields": list(scope.fields)} for name, scope in SCOPES[api].items()
    }
    properties = document["components"]["schemas"]["Reponse"]["properties"]
    assert set(properties) == {"id"} | {field for scope in SCOPES[api].values() for field in scope.fields}
    assert all(schema.get("description") for schema in properties.values())


def test_the_openapi_examples_are_real_answers(client):
    document = client.get("/caf/openapi.json").json()
    operation = document["paths"]["/quotient-familial"]["get"]
    query = {p["name"]: p["example"] for p in operation["parameters"]}

    response = client.get(CAF, params=query)

    assert response.json() == operation["responses"]["200"]["content"]["application/json"]["example"]


def test_health_and_index(base):
    health = httpx.get(f"{base}/healthz")
    index = httpx.get(f"{base}/")

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert [api["path"] for api in index.json()["apis"]] == [CAF, DGFIP, CNOUS]


def test_other_paths_and_methods_are_json_errors(client):
    unknown = client.get("/caf/v2/quotient-familial")
    post = client.post(CAF, params=pivot("angela"))

    assert unknown.status_code == 404
    assert unknown.json()["reason"] == "unknown_path"
    assert post.status_code == 405
    assert post.headers["allow"] == "GET"
    assert post.json()["error"] == "method_not_allowed"


# --- make run and the documentation ---------------------------------------------------------------------


def test_the_runner_creates_the_token_once_and_private(tmp_path):
    path = tmp_path / "sandbox" / "providers_token"

    generated_secret(path)
    first = path.read_text()
    generated_secret(path)

    assert len(first) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", first)
    assert path.read_text() == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_its_variables_are_documented():
    readme = (BASE_DIR / "README.md").read_text(encoding="utf-8")
    compose_comments = "\n".join(
        line.split("#", 1)[1]
        for line in (BASE_DIR / "docker-compose.yml").read_text(encoding="utf-8").splitlines()
        if "#" in line
    )
    for variable in ("SANDBOX_PROVIDERS_PORT", "SANDBOX_PROVIDERS_URL", "SANDBOX_PROVIDERS_TOKEN_FILE"):
        assert f"| `{variable}`" in readme, variable
        assert re.search(rf"\b{variable}\b", compose_comments), variable
