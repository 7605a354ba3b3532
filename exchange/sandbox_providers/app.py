"""The sandbox data providers: three upstream APIs of French public data providers, for `make run` and tests.

They play the providers' APIs the exchange gateway calls on behalf of its consumers, with the synthetic
records of exchange/sandbox_providers/data.py about the sandbox identity provider's citizens:

- ``GET /caf/v1/quotient-familial`` (CAF-like): the household's family quotient for a month
  (``annee`` and ``mois``, both or neither; neither: the latest month);
- ``GET /dgfip/v1/revenu-fiscal-reference`` (DGFiP-like): the reference tax income of a tax notice
  (``anneeRevenus``, the income year; absent: the latest notice);
- ``GET /cnous/v1/statut-etudiant-boursier`` (CNOUS-like): the student's grant status.

The person is designated by the pivot identity in the query string, as FranceConnect and API
Particulier do: ``nomNaissance``, ``prenoms`` (all of them, space-separated or repeated),
``dateNaissance`` (YYYY-MM-DD), ``sexe`` (M/F), ``codeLieuNaissance`` (INSEE commune code, empty or
absent when born abroad) and ``codePaysNaissance`` (INSEE country code, 99100 for France); names match
without regard to case, accents, hyphens or apostrophes. Answers are JSON: 200 with the record (a
stable ``id`` and the fields of data.SCOPES), 400 naming the missing or invalid parameter, 404
``not_found`` with ``reason`` ``unknown_person`` or ``no_data``, 401 without the right bearer token
(``Authorization: Bearer <token>``: the caller is Maillage), 404/405 for other paths and methods.
``/healthz``, ``/`` (the list of APIs) and ``/{caf,dgfip,cnous}/openapi.json`` (OpenAPI 3.0, with the
scopes in ``x-maillage-scopes``, for the catalogue to import) need no token.

Faults on demand, for tests and demos of the gateway (sandbox only, after authentication), chosen by
the ``X-Sandbox-Fault`` header: ``slow`` (answers after ``X-Sandbox-Delay`` seconds, default 15, at most
60), ``error`` (503), ``invalid-json`` (200 with a truncated body) and ``flaky`` (503 for the first
``X-Sandbox-Fault-Count`` calls, default 1, carrying the same ``X-Sandbox-Fault-Key``, then normal
answers: retries can be tested). The flaky counters are in memory: run one gunicorn process (gthread,
with threads; every answer is a dictionary lookup of pre-serialised JSON).

Configuration, from the environment: ``SANDBOX_PROVIDERS_TOKEN_FILE`` (required: a file holding the
bearer token), ``SANDBOX_PROVIDERS_URL`` (its public base URL for the OpenAPI documents' ``servers``;
unset, the request's host) and ``SANDBOX_PROVIDERS_LATENCY_MS`` (every data answer takes that long, as a
real provider's own processing does; default 0, at once: the benchmarks compare both). No Django, no
database.
"""

import hmac
import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import date
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs

from exchange.sandbox_providers.data import RECORDS, SCOPES, find_person, pivot_key

MAX_DELAY = 60.0
# SANDBOX_PROVIDERS_LATENCY_MS: every data answer takes that long, as real providers' do (benchmarks).
MAX_LATENCY_MS = 10_000
DEFAULT_DELAY = 15.0
MAX_FLAKY_COUNT = 100
MAX_FLAKY_KEYS = 10_000
MAX_QUERY_FIELDS = 64
MAX_NAME_LENGTH = 255

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_COMMUNE = re.compile(r"^[0-9][0-9AB][0-9]{3}$")  # 2A/2B for Corsica
_COUNTRY = re.compile(r"^99[0-9]{3}$")
_YEAR = re.compile(r"^[0-9]{4}$")
_MONTH = re.compile(r"^(0?[1-9]|1[0-2])$")
FRANCE = "99100"


class Refusal(Exception):
    """Ends the request with a JSON error: ``{"error": ..., "reason": ..., "detail": ..., **extra}``."""

    def __init__(self, status: int, error: str, reason: str, detail: str, headers=(), **extra):
        super().__init__(detail)
        self.status, self.headers = status, list(headers)
        self.body = {"error": error, "reason": reason, "detail": detail, **extra}


def missing(parameter: str, detail: str = "") -> Refusal:
    return Refusal(400, "invalid_request", "missing_parameter", detail or f"{parameter} is required",
                   parameter=parameter)  # fmt: skip


def invalid(parameter: str, detail: str) -> Refusal:
    return Refusal(400, "invalid_request", "invalid_parameter", f"{parameter} {detail}", parameter=parameter)


# --- the APIs --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    name: str
    description: str
    schema: dict
    required: bool = True


PIVOT_PARAMETERS = (
    Parameter("nomNaissance", "Nom de naissance", {"type": "string", "maxLength": MAX_NAME_LENGTH}),
    Parameter("prenoms", "Prénoms, tous, séparés par des espaces (ou le paramètre répété)",
              {"type": "string", "maxLength": MAX_NAME_LENGTH}),
    Parameter("dateNaissance", "Date de naissance (AAAA-MM-JJ ; présumée : AAAA-01-01)",
              {"type": "string", "format": "date"}),
    Parameter("sexe", "Sexe (M ou F)", {"type": "string", "enum": ["M", "F"]}),
    Parameter("codeLieuNaissance", "Code INSEE de la commune de naissance ; vide ou absent pour une "
              "naissance à l'étranger", {"type": "string", "pattern": "^([0-9][0-9AB][0-9]{3})?$"},
              required=False),
    Parameter("codePaysNaissance", "Code INSEE du pays de naissance (99100 : France)",
              {"type": "string", "pattern": "^99[0-9]{3}$"}),
)  # fmt: skip
ANGELA = {"nomNaissance": "DUBOIS", "prenoms": "Angela Claire Louise", "dateNaissance": "1962-08-24",
          "sexe": "F", "codeLieuNaissance": "75107", "codePaysNaissance": FRANCE}  # fmt: skip
TOMASZ = {"nomNaissance": "KOWALSKI", "prenoms": "Tomasz", "dateNaissance": "1990-06-15", "sexe": "M",
          "codeLieuNaissance": "", "codePaysNaissance": "99122"}  # fmt: skip


@dataclass(frozen=True)
class Api:
    key: str
    base: str  # versioned base path
    operation: str  # path under the base
    operation_id: str
    title: str
    provider: str
    summary: str
    description: str
    parameters: tuple[Parameter, ...]  # besides the pivot identity
    example_login: str  # whose record the OpenAPI document shows
    example_query: dict[str, str]  # the query string that finds it
    fields: dict[str, str]  # top-level field -> description

    @property
    def path(self) -> str:
        return self.base + self.operation


APIS = (
    Api(
        key="caf",
        base="/caf/v1",
        operation="/quotient-familial",
        operation_id="getQuotientFamilial",
        title="Quotient familial CAF (bac à sable)",
        provider="Caisse nationale des allocations familiales (CNAF)",
        summary="Quotient familial du foyer allocataire pour un mois",
        description="Quotient familial calculé par la CAF pour le mois demandé (par défaut, le dernier "
        "mois calculé), avec la composition du foyer et son adresse. La personne doit être allocataire.",
        parameters=(
            Parameter(
                "annee",
                "Année du quotient familial (avec mois)",
                {"type": "integer", "minimum": 1000, "maximum": 9999},
                required=False,
            ),
            Parameter(
                "mois",
                "Mois du quotient familial, 1 à 12 (avec annee)",
                {"type": "integer", "minimum": 1, "maximum": 12},
                required=False,
            ),
        ),  # fmt: skip
        example_login="angela",
        example_query={**ANGELA, "annee": "2026", "mois": "10"},
        fields={
            "regime": "Régime (CNAF)",
            "quotientFamilial": "Quotient familial en euros",
            "annee": "Année du quotient familial",
            "mois": "Mois du quotient familial",
            "allocataires": "Allocataires du foyer",
            "enfants": "Enfants à charge du foyer",
            "adresse": "Adresse postale du foyer, au format de La Poste",
        },
    ),
    Api(
        key="dgfip",
        base="/dgfip/v1",
        operation="/revenu-fiscal-reference",
        operation_id="getRevenuFiscalReference",
        title="Revenu fiscal de référence DGFiP (bac à sable)",
        provider="Direction générale des finances publiques (DGFiP)",
        summary="Revenu fiscal de référence d'un avis d'impôt sur le revenu",
        description="Données de l'avis d'impôt sur le revenu du foyer fiscal dont la personne est "
        "déclarante, pour l'année de revenus demandée (par défaut, le dernier avis).",
        parameters=(
            Parameter(
                "anneeRevenus",
                "Année des revenus (l'avis est établi l'année suivante)",
                {"type": "integer", "minimum": 1000, "maximum": 9999},
                required=False,
            ),
        ),  # fmt: skip
        example_login="angela",
        example_query={**ANGELA, "anneeRevenus": "2025"},
        fields={
            "declarant1": "Premier déclarant",
            "declarant2": "Second déclarant (null si aucun)",
            "foyerFiscal": "Foyer fiscal : année d'imposition et adresse",
            "situationFamille": "Situation de famille",
            "nombrePersonnesCharge": "Nombre de personnes à charge",
            "nombreParts": "Nombre de parts",
            "anneeRevenus": "Année des revenus",
            "anneeImpots": "Année d'imposition",
            "revenuFiscalReference": "Revenu fiscal de référence en euros",
            "revenuBrutGlobal": "Revenu brut global en euros",
            "revenuImposable": "Revenu imposable en euros",
            "impotRevenuNetAvantCorrections": "Impôt sur le revenu net avant corrections en euros",
            "montantImpot": "Montant de l'impôt en euros (null si non imposable)",
            "dateEtablissement": "Date d'établissement de l'avis",
            "dateRecouvrement": "Date de mise en recouvrement",
        },
    ),
    Api(
        key="cnous",
        base="/cnous/v1",
        operation="/statut-etudiant-boursier",
        operation_id="getStatutEtudiantBoursier",
        title="Statut étudiant boursier CNOUS (bac à sable)",
        provider="Centre national des œuvres universitaires et scolaires (CNOUS)",
        summary="Statut de boursier sur critères sociaux de l'étudiant",
        description="Statut de boursier de l'étudiant pour l'année universitaire en cours, avec son "
        "échelon et son établissement. Seuls les étudiants ayant un dossier social étudiant sont connus.",
        parameters=(),
        example_login="tomasz",
        example_query=TOMASZ,
        fields={
            "nom": "Nom",
            "prenom": "Premier prénom",
            "prenoms": "Prénoms",
            "dateNaissance": "Date de naissance",
            "lieuNaissance": "Lieu de naissance",
            "sexe": "Sexe",
            "boursier": "Boursier sur critères sociaux",
            "echelonBourse": "Échelon de la bourse (0bis à 7)",
            "statut": "Statut de la bourse : 0 définitif, 1 provisoire",
            "statutLibelle": "Libellé du statut",
            "anneeUniversitaire": "Année universitaire",
            "dateDeRentree": "Date de rentrée",
            "dureeVersement": "Nombre de mensualités versées",
            "etablissement": "Établissement d'inscription",
            "ville": "Ville d'études",
            "email": "Adresse électronique de l'étudiant",
        },  # fmt: skip
    ),
)
APIS_BY_PATH = {api.path: api for api in APIS}
OPENAPI_PATHS = {f"/{api.key}/openapi.json": api for api in APIS}


def _single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise invalid(name, "is given more than once")
    return values[0].strip()


def _name(query: dict[str, list[str]], name: str, *, repeatable: bool = False) -> str:
    values = query.get(name, []) if repeatable else [_single(query, name) or ""]
    value = " ".join(" ".join(values).split())
    if not value:
        raise missing(name)
    if len(value) > MAX_NAME_LENGTH:
        raise invalid(name, "is too long")
    return value


def pivot_from_query(query: dict[str, list[str]]) -> tuple[str, ...]:
    """The pivot key of the person designated by the query string, or a 400 Refusal naming the field."""
    nom, prenoms = _name(query, "nomNaissance"), _name(query, "prenoms", repeatable=True)
    birthdate = _single(query, "dateNaissance")
    if not birthdate:
        raise missing("dateNaissance")
    try:
        if not _DATE.match(birthdate):
            raise ValueError(birthdate)
        date.fromisoformat(birthdate)
    except ValueError:
        raise invalid("dateNaissance", "must be a date, YYYY-MM-DD") from None
    sexe = (_single(query, "sexe") or "").upper()
    if not sexe:
        raise missing("sexe")
    if sexe not in {"M", "F"}:
        raise invalid("sexe", "must be M or F")
    country = _single(query, "codePaysNaissance")
    if not country:
        raise missing("codePaysNaissance")
    if not _COUNTRY.match(country):
        raise invalid("codePaysNaissance", "must be an INSEE country code (99xxx, 99100 for France)")
    place = (_single(query, "codeLieuNaissance") or "").upper()
    if country == FRANCE and not place:
        raise missing("codeLieuNaissance", "codeLieuNaissance is required for people born in France")
    if country == FRANCE and not _COMMUNE.match(place):
        raise invalid("codeLieuNaissance", "must be an INSEE commune code")
    if country != FRANCE and place:
        raise invalid("codeLieuNaissance", "must be empty for people born abroad")
    return pivot_key(nom, prenoms, birthdate, sexe, place, country)


def period_from_query(api: Api, query: dict[str, list[str]]) -> str | None:
    """The period asked for ("2026-10", "2025"), None for the latest; a 400 Refusal when invalid."""
    if api.key == "caf":
        year, month = _single(query, "annee"), _single(query, "mois")
        if year is None and month is None:
            return None
        if not year:
            raise missing("annee", "annee is required with mois")
        if not month:
            raise missing("mois", "mois is required with annee")
        if not _YEAR.match(year):
            raise invalid("annee", "must be a year, YYYY")
        if not _MONTH.match(month):
            raise invalid("mois", "must be a month, 1 to 12")
        return f"{year}-{int(month):02d}"
    if api.key == "dgfip":
        year = _single(query, "anneeRevenus")
        if year is None:
            return None
        if not _YEAR.match(year):
            raise invalid("anneeRevenus", "must be a year, YYYY")
        return year
    return None


# --- OpenAPI ---------------------------------------------------------------------------------------------


def _schema_of(values: list) -> dict:
    """A JSON schema covering every sample value (the records are the specification)."""
    present = [value for value in values if value is not None]
    nullable = len(present) < len(values)
    if not present:
        schema = {"type": "string"}
    elif all(isinstance(value, bool) for value in present):
        schema = {"type": "boolean"}
    elif all(isinstance(value, int) and not isinstance(value, bool) for value in present):
        schema = {"type": "integer"}
    elif all(isinstance(value, int | float) and not isinstance(value, bool) for value in present):
        schema = {"type": "number"}
    elif all(isinstance(value, list) for value in present):
        items = [item for value in present for item in value]
        schema = {"type": "array", "items": _schema_of(items) if items else {"type": "object"}}
    elif all(isinstance(value, dict) for value in present):
        names = list(dict.fromkeys(name for value in present for name in value))
        schema = {
            "type": "object",
            "properties": {name: _schema_of([value.get(name) for value in present]) for name in names},
            "required": [name for name in names if all(name in value for value in present)],
        }
    else:
        schema = {"type": "string"}
    if nullable:
        schema["nullable"] = True
    return schema


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "reason", "detail"],
    "properties": {
        "error": {"type": "string", "description": "Classe d'erreur"},
        "reason": {"type": "string", "description": "Cause, stable"},
        "detail": {"type": "string", "description": "Explication lisible"},
        "parameter": {"type": "string", "description": "Paramètre manquant ou invalide (400)"},
    },
}


def _error(description: str, example: dict) -> dict:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Erreur"}, "example": example}
        },
    }


def _typed(parameter: Parameter, value: str) -> str | int:
    return int(value) if parameter.schema["type"] == "integer" else value


def openapi_document(api: Api, base_url: str) -> dict:
    records = [record for by_period in RECORDS[api.key].values() for record in by_period.values()]
    latest = max(RECORDS[api.key][api.example_login])
    schema = _schema_of(records)
    schema["properties"]["id"]["description"] = "Identifiant stable de l'enregistrement"
    for name, description in api.fields.items():
        schema["properties"][name]["description"] = description
    parameters = [
        {"name": p.name, "in": "query", "required": p.required, "description": p.description,
         "schema": p.schema, "example": _typed(p, api.example_query[p.name])}
        for p in (*PIVOT_PARAMETERS, *api.parameters)
    ]  # fmt: skip
    faults = (
        "Bac à sable : l'en-tête X-Sandbox-Fault provoque une panne (slow avec X-Sandbox-Delay en "
        "secondes, error, invalid-json, flaky avec X-Sandbox-Fault-Key et X-Sandbox-Fault-Count)."
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": api.title,
            "version": "1.0.0",
            "description": f"{api.description}\n\n{faults}",
            "x-provider": api.provider,
        },
        "servers": [{"url": base_url.rstrip("/") + api.base}],
        "security": [{"bearer": []}],
        "paths": {
            api.operation: {
                "get": {
                    "operationId": api.operation_id,
                    "summary": api.summary,
                    "description": api.description,
                    "parameters": parameters,
                    "x-maillage-scopes": {
                        name: {"label": scope.label, "fields": list(scope.fields)}
                        for name, scope in SCOPES[api.key].items()
                    },
                    "responses": {
                        "200": {
                            "description": "La personne et ses données",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Reponse"},
                                    "example": RECORDS[api.key][api.example_login][latest],
                                }
                            },
                        },  # fmt: skip
                        "400": _error("Paramètre manquant ou invalide", missing("dateNaissance").body),
                        "401": _error("Jeton absent ou invalide", _unauthorized("invalid_token").body),
                        "404": _error(
                            "Personne inconnue, ou sans données", _not_found("unknown_person").body
                        ),
                        "503": _error("Fournisseur indisponible", _unavailable().body),
                    },
                }
            }
        },
        "components": {
            "schemas": {"Reponse": schema, "Erreur": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


# --- the WSGI application --------------------------------------------------------------------------------


def _unauthorized(reason: str) -> Refusal:
    # RFC 6750, 3.1: no error code in the challenge when the request carried no credentials.
    if reason == "missing_token":
        detail, challenge = "Authorization: Bearer <token> is required", 'Bearer realm="sandbox-providers"'
    else:
        detail, challenge = (
            "the token is not valid",
            'Bearer realm="sandbox-providers", error="invalid_token"',
        )
    return Refusal(401, "unauthorized", reason, detail, headers=[("WWW-Authenticate", challenge)])


def _not_found(reason: str, detail: str = "no person matches this pivot identity") -> Refusal:
    return Refusal(404, "not_found", reason, detail)


def _unavailable() -> Refusal:
    return Refusal(503, "service_unavailable", "sandbox_fault", "the provider is unavailable (sandbox fault)")


_JSON = "application/json; charset=utf-8"
_NO_STORE = ("Cache-Control", "no-store")


def _encode(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class SandboxProviders:
    """The WSGI application."""

    def __init__(self, token: str, public_url: str = "", latency_ms: int = 0):
        if len(token) < 16:
            raise ValueError("the bearer token must be at least 16 characters")
        if not 0 <= latency_ms <= MAX_LATENCY_MS:
            raise ValueError(f"the latency must be from 0 to {MAX_LATENCY_MS} ms")
        self._token = token.encode("utf-8")
        # A real provider's own processing time, added to every data answer (0: answer at once).
        self.latency = latency_ms / 1000
        self.public_url = public_url.rstrip("/")
        # Pre-serialised answers: api -> login -> period -> body; a call is two dictionary lookups.
        self._answers = {
            api: {login: {period: _encode(record) for period, record in by_period.items()}
                  for login, by_period in by_person.items()}
            for api, by_person in RECORDS.items()
        }  # fmt: skip
        self._lock = threading.Lock()
        self._flaky: dict[str, int] = {}  # fault key -> calls seen

    def __call__(self, environ, start_response):
        try:
            status, headers, body = self.handle(environ)
        except Refusal as refusal:
            status, headers, body = refusal.status, refusal.headers, _encode(refusal.body)
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [("Content-Type", _JSON), ("Content-Length", str(len(body))), _NO_STORE, *headers],
        )
        return [body]

    def handle(self, environ) -> tuple[int, list, bytes]:
        path = environ.get("PATH_INFO", "")
        api = APIS_BY_PATH.get(path)
        if api is None and path not in OPENAPI_PATHS and path not in {"/", "/healthz"}:
            raise _not_found("unknown_path", f"no API at {path}")
        if environ.get("REQUEST_METHOD") != "GET":
            raise Refusal(405, "method_not_allowed", "method_not_allowed", "only GET is allowed",
                          headers=[("Allow", "GET")])  # fmt: skip
        if path == "/healthz":
            return 200, [], b'{"status":"ok"}'
        if path == "/":
            return 200, [], _encode(self.index())
        if api is None:
            return 200, [], _encode(openapi_document(OPENAPI_PATHS[path], self.base_url(environ)))
        self.authenticate(environ)
        fault = self.fault(environ)
        if self.latency:
            time.sleep(self.latency)
        if fault == "error":
            raise _unavailable()
        status, body = self.answer(api, environ)
        if fault == "invalid-json":
            return 200, [], body[: len(body) // 2]  # as if the connection dropped mid-answer
        return status, [], body

    def base_url(self, environ) -> str:
        if self.public_url:
            return self.public_url
        host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
        return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"

    def index(self) -> dict:
        return {
            "description": "Fournisseurs de données du bac à sable Maillage",
            "apis": [
                {"key": api.key, "title": api.title, "provider": api.provider, "path": api.path,
                 "openapi": f"/{api.key}/openapi.json"}
                for api in APIS
            ],
        }  # fmt: skip

    def authenticate(self, environ) -> None:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise _unauthorized("missing_token")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode("utf-8"), self._token):
            raise _unauthorized("invalid_token")

    def fault(self, environ) -> str | None:
        """Applies the fault asked for by X-Sandbox-Fault: sleeps, raises a 503, or returns its name."""
        fault = environ.get("HTTP_X_SANDBOX_FAULT")
        if fault is None:
            return None
        fault = fault.strip().lower()
        if fault == "slow":
            raw = environ.get("HTTP_X_SANDBOX_DELAY", "").strip()
            try:
                delay = float(raw) if raw else DEFAULT_DELAY
            except ValueError:
                delay = math.nan
            if not math.isfinite(delay) or delay < 0:
                raise invalid("X-Sandbox-Delay", "must be a number of seconds")
            time.sleep(min(delay, MAX_DELAY))
            return None
        if fault == "flaky":
            key = environ.get("HTTP_X_SANDBOX_FAULT_KEY", "").strip()
            if not key:
                raise missing("X-Sandbox-Fault-Key", "X-Sandbox-Fault-Key is required with flaky")
            raw = environ.get("HTTP_X_SANDBOX_FAULT_COUNT", "").strip() or "1"
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_FLAKY_COUNT:
                raise invalid("X-Sandbox-Fault-Count", f"must be an integer from 1 to {MAX_FLAKY_COUNT}")
            with self._lock:
                seen = self._flaky.pop(key, 0) + 1
                self._flaky[key] = seen  # re-inserted: the dictionary's order is the least recent first
                if len(self._flaky) > MAX_FLAKY_KEYS:
                    del self._flaky[next(iter(self._flaky))]
            if seen <= int(raw):
                raise _unavailable()
            return None
        if fault in {"error", "invalid-json"}:
            return fault
        raise invalid("X-Sandbox-Fault", "must be slow, error, invalid-json or flaky")

    def answer(self, api: Api, environ) -> tuple[int, bytes]:
        try:
            query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True,
                             max_num_fields=MAX_QUERY_FIELDS)  # fmt: skip
        except ValueError:
            raise invalid("query", f"has more than {MAX_QUERY_FIELDS} parameters") from None
        key = pivot_from_query(query)
        period = period_from_query(api, query)
        login = find_person(key)
        if login is None:
            raise _not_found("unknown_person")
        by_period = self._answers[api.key].get(login)
        if by_period is None:
            raise _not_found("no_data", f"the {api.key.upper()} has no record about this person")
        if period is None:
            period = max(by_period)
        body = by_period.get(period)
        if body is None:
            raise _not_found("no_data", f"the {api.key.upper()} has no record about this person for {period}")
        return 200, body


def token_from_file(path: str) -> str:
    if not path:
        raise RuntimeError("SANDBOX_PROVIDERS_TOKEN_FILE (a file holding the bearer token) is required")
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise RuntimeError(f"SANDBOX_PROVIDERS_TOKEN_FILE cannot be read: {error}") from None
    if len(token) < 16:
        raise RuntimeError(
            f"SANDBOX_PROVIDERS_TOKEN_FILE ({path}) must hold a token of 16 characters or more"
        )
    return token


def application_from_env() -> SandboxProviders:
    latency = os.environ.get("SANDBOX_PROVIDERS_LATENCY_MS", "").strip() or "0"
    if not latency.isdigit():
        raise ValueError(f"SANDBOX_PROVIDERS_LATENCY_MS must be a number of milliseconds, not {latency!r}")
    return SandboxProviders(
        token_from_file(os.environ.get("SANDBOX_PROVIDERS_TOKEN_FILE", "")),
        os.environ.get("SANDBOX_PROVIDERS_URL", ""),
        int(latency),
    )
