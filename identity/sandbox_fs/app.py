"""The demo service provider ("FS"): "Mairie de démonstration", a small OpenID Connect relying party.

It plays a town hall website that signs its users in with Maillage's OpenID provider (FranceConnect v2
compatible, ``PUBLIC_URL/api/v2``), so that the provider side of the platform can be tried end to end
on one machine. It is a standalone WSGI application (no Django, no database) served by gunicorn, like
identity/sandbox_idp, and behaves like a real relying party:

- ``/``: the home page; once signed in, the claims received from ``userinfo`` and those of the ID token
  (``acr``, ``amr``, ``idp_id``, ``auth_time``), and a sign-out button;
- ``/login``: reads the issuer's discovery document (cached), keeps ``state``, ``nonce`` and a PKCE S256
  verifier in the browser's session and redirects to the authorization endpoint (``prompt`` and
  ``idp_hint`` given to ``/login`` are passed on);
- ``/callback``: checks ``state`` (single use) and ``iss`` when present (RFC 9207), shows the provider's
  ``error`` readably, exchanges the code (``client_secret_basic`` + ``code_verifier``), verifies the ID
  token (ES256 or RS256 only, key from ``jwks_uri`` by ``kid``, refetched for an unknown ``kid``;
  ``iss``, ``aud``, ``nonce``, ``exp``) and reads ``userinfo``: a JWT verified the same way when the
  provider answers ``application/jwt`` (FranceConnect v2), plain JSON when it answers
  ``application/json`` (the sandbox identity provider); its ``sub`` must be the ID token's;
- ``POST /logout`` → the provider's ``end_session_endpoint`` (``id_token_hint``, ``state``) →
  ``/logged-out``, which checks ``state`` and ends the session;
- ``/healthz``, ``/static/style.css``; any failure of the provider gives a readable 502 page.

Sessions live in memory, keyed by a random, HMAC-signed cookie: run one gunicorn worker (threads are
fine). The cookie has a name of its own: cookies ignore ports, and on 127.0.0.1 the platform's are
sent here too.

Configuration, from the environment: ``DEMO_FS_ISSUER`` (the provider's issuer, e.g.
``http://127.0.0.1:8000/api/v2``), ``DEMO_FS_PUBLIC_URL`` (this app's base URL; its redirect URIs are
``{DEMO_FS_PUBLIC_URL}/callback`` and ``{DEMO_FS_PUBLIC_URL}/logged-out``), ``DEMO_FS_CLIENT_ID``
(``mairie-demo``), ``DEMO_FS_CLIENT_SECRET_FILE`` (required: a file holding the client secret),
``DEMO_FS_SCOPES`` (``openid profile birth email``), ``DEMO_FS_ACR`` (``eidas1``),
``DEMO_FS_COOKIE_SECRET`` (random at each start when unset, which signs everyone out) and, for
"dites-le-nous une fois", ``DEMO_FS_DATA_URL`` (a gateway address called with the person's access token
right after sign-in, e.g. ``…/api/v1/gateway/caf-quotient-familial/v1/quotient-familial``; its data
are shown on the home page) with ``DEMO_FS_DATA_LABEL``, their heading.
"""

import base64
import hashlib
import hmac
import html
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

import httpx
from jwcrypto import jwk, jwt
from jwcrypto.common import JWException

logger = logging.getLogger("identity.sandbox_fs")

KEY_TYPES = {"ES256": "EC", "RS256": "RSA"}  # the only signature algorithms accepted
DISCOVERY_TTL = 300
JWKS_REFRESH_INTERVAL = 10  # at most one refetch of the keys for an unknown kid every 10 s
LOGIN_LIFETIME = 600  # a pending sign-in, or a session nobody signed in to
SESSION_LIFETIME = 8 * 3600
MAX_SESSIONS = 10_000
MAX_PENDING_LOGINS = 5  # per browser: a few tabs
MAX_BODY = 65_536
COOKIE_NAME = "mairie_demo_session"
PROMPTS = {"none", "login", "consent", "select_account"}

CLAIM_LABELS = {
    "sub": "Identifiant de l'usager pour ce service",
    "given_name": "Prénoms",
    "family_name": "Nom de naissance",
    "preferred_username": "Nom d'usage",
    "birthdate": "Date de naissance",
    "gender": "Sexe",
    "birthplace": "Lieu de naissance (code INSEE)",
    "birthcountry": "Pays de naissance (code INSEE)",
    "email": "Adresse électronique",
    "phone_number": "Téléphone",
    "address": "Adresse postale",
    "idp_id": "Fournisseur d'identité utilisé",
    "acr": "Niveau d'authentification (eIDAS)",
    "amr": "Méthodes d'authentification",
    "auth_time": "Heure de l'authentification",
}
ID_TOKEN_CLAIMS = ("acr", "amr", "idp_id", "auth_time")

OP_ERRORS = {
    "access_denied": "L'identification a été annulée, ou refusée par le fournisseur d'identité.",
    "login_required": "Vous n'êtes pas identifié auprès de Maillage (connexion sans interaction demandée).",
    "interaction_required": "Maillage a besoin de votre intervention pour vous identifier.",
    "consent_required": "Maillage a besoin de votre accord pour transmettre vos données.",
    "invalid_scope": "Les données demandées ne sont pas autorisées pour ce service.",
    "invalid_request": "La demande d'identification envoyée par la mairie est incorrecte.",
    "unauthorized_client": "Ce service n'est pas autorisé à utiliser Maillage de cette façon.",
    "server_error": "Maillage a rencontré une erreur.",
    "temporarily_unavailable": "Maillage est momentanément indisponible.",
}


class PageError(Exception):
    """Ends the request with a readable error page."""

    def __init__(self, status: int, title: str, message: str, *, detail: str = "", retry: bool = False):
        super().__init__(f"{title}: {detail or message}")
        self.status, self.title, self.message, self.detail, self.retry = status, title, message, detail, retry


class Upstream(PageError):
    """The provider is unreachable, or answered something this relying party cannot trust: a 502."""

    def __init__(self, message: str, detail: str):
        super().__init__(502, "Le service d'identité ne répond pas correctement", message, detail=detail)


@dataclass(frozen=True)
class Config:
    issuer: str
    public_url: str
    client_id: str
    client_secret: str
    scopes: str = "openid profile birth email"
    acr: str = "eidas1"
    cookie_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # "Dites-le-nous une fois": a gateway address the service calls with the person's access token.
    data_url: str = ""
    data_label: str = ""

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.public_url}/logged-out"


def _b64url_sha256(value: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()).rstrip(b"=").decode()


def _jose_header(token: str) -> dict:
    """The protected header of a compact JWS, read before choosing the key (three parts: no JWE)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    if not isinstance(header, dict):
        raise ValueError("the JOSE header is not an object")
    return header


def _first_values(encoded: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(encoded, keep_blank_values=True).items()}


def _with_query(url: str, params: dict) -> str:
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


# --- the OpenID provider, seen from the relying party -----------------------------------------------


class OpenIdClient:
    """Discovery, keys, token and userinfo requests to one issuer; thread-safe caches."""

    def __init__(self, config: Config, http: httpx.Client | None = None):
        self.config = config
        self.http = http or httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0), follow_redirects=False)
        self._lock = threading.Lock()
        self._configuration: tuple[float, dict] | None = None
        self._keys: list[jwk.JWK] = []
        self._keys_fetched: float | None = None

    def _json(self, response: httpx.Response, what: str) -> dict:
        try:
            value = response.json()
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise Upstream(f"La réponse reçue ({what}) n'est pas un objet JSON.", f"{response.url}: not JSON")
        return value

    def _get(self, url: str, what: str, **kwargs) -> httpx.Response:
        try:
            return self.http.get(url, **kwargs)
        except httpx.HTTPError as error:
            raise Upstream(
                f"Le service d'identité est injoignable ({what}).", f"GET {url}: {error!r}"
            ) from None

    def configuration(self) -> dict:
        now = time.monotonic()
        with self._lock:
            cached = self._configuration
        if cached and cached[0] > now:
            return cached[1]
        url = f"{self.config.issuer}/.well-known/openid-configuration"
        response = self._get(url, "document de découverte", headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise Upstream(
                "Le document de découverte du service d'identité est indisponible.",
                f"GET {url}: HTTP {response.status_code}",
            )
        document = self._json(response, "document de découverte")
        if document.get("issuer") != self.config.issuer:
            # OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was read from.
            raise Upstream(
                "Le document de découverte annonce un autre émetteur que celui configuré.",
                f"issuer {document.get('issuer')!r} != {self.config.issuer!r}",
            )
        for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
            value = document.get(name)
            if not isinstance(value, str) or urlsplit(value).scheme not in {"http", "https"}:
                raise Upstream(f"Le document de découverte n'indique pas « {name} ».", f"{name}: {value!r}")
        with self._lock:
            self._configuration = (now + DISCOVERY_TTL, document)
        return document

    # --- signatures ---

    def _refresh_keys(self) -> None:
        url = self.configuration()["jwks_uri"]
        response = self._get(url, "clés publiques", headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise Upstream(
                "Les clés publiques du service d'identité sont indisponibles.",
                f"GET {url}: HTTP {response.status_code}",
            )
        document = self._json(response, "clés publiques")
        try:
            keys = list(jwk.JWKSet.from_json(json.dumps(document))["keys"])
        except (JWException, ValueError, KeyError, TypeError) as error:
            raise Upstream("Les clés publiques du service d'identité sont illisibles.", repr(error)) from None
        with self._lock:
            self._keys, self._keys_fetched = keys, time.monotonic()

    def _find_key(self, alg: str, kid: str | None) -> jwk.JWK | None:
        with self._lock:
            keys = list(self._keys)
        candidates = [
            key
            for key in keys
            if key.get("kty") == KEY_TYPES[alg]
            and key.get("use", "sig") == "sig"
            and key.get("alg", alg) == alg
        ]
        if kid is not None:
            candidates = [key for key in candidates if key.get("kid") == kid]
        return candidates[0] if len(candidates) == 1 else None

    def _key_for(self, header: dict) -> jwk.JWK:
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in KEY_TYPES:
            raise Upstream("Le jeton reçu est signé avec un algorithme refusé.", f"alg {alg!r}")
        key = self._find_key(alg, kid)
        with self._lock:
            fetched = self._keys_fetched
        if key is None and (fetched is None or time.monotonic() - fetched >= JWKS_REFRESH_INTERVAL):
            self._refresh_keys()  # a rotation on the provider's side: its new key is not known yet
            key = self._find_key(alg, kid)
        if key is None:
            raise Upstream("Le jeton reçu est signé avec une clé inconnue.", f"no {alg} key with kid {kid!r}")
        return key

    def verify(self, token: str, what: str, check_claims: dict) -> dict:
        """The claims of a signed JWT from the provider, or Upstream."""
        try:
            header = _jose_header(token)
        except ValueError as error:
            raise Upstream(f"{what} est illisible.", repr(error)) from None
        key = self._key_for(header)
        try:
            verified = jwt.JWT(
                jwt=token, key=key, algs=[header["alg"]], check_claims=check_claims, expected_type="JWS"
            )
            claims = json.loads(verified.claims)
        except (JWException, ValueError) as error:
            raise Upstream(f"{what} est invalide.", repr(error)) from None
        if not isinstance(claims, dict):
            raise Upstream(f"{what} est invalide.", "the claims are not an object")
        return claims

    def verify_id_token(self, token: str, nonce: str) -> dict:
        config = self.config
        # A None value: the claim must be there (exp is also checked against the clock, 60 s leeway).
        expected = {"iss": config.issuer, "aud": config.client_id, "nonce": nonce, "exp": None, "iat": None}
        claims = self.verify(token, "Le jeton d'identité", {**expected, "sub": None})
        audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audience) > 1 and claims.get("azp") != config.client_id:
            raise Upstream("Le jeton d'identité est invalide.", "several audiences and azp is not the client")
        return claims

    # --- token and userinfo ---

    def exchange(self, code: str, verifier: str) -> dict:
        config = self.config
        endpoint = self.configuration()["token_endpoint"]
        # RFC 6749, 2.3.1: both parts form-encoded before Basic.
        credentials = f"{quote_plus(config.client_id)}:{quote_plus(config.client_secret)}".encode()
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": config.redirect_uri,
            "code_verifier": verifier,
        }
        headers = {
            "Authorization": f"Basic {base64.b64encode(credentials).decode()}",
            "Accept": "application/json",
        }
        try:
            response = self.http.post(endpoint, data=data, headers=headers)
        except httpx.HTTPError as error:
            raise Upstream(
                "Le service d'identité est injoignable (jetons).", f"POST {endpoint}: {error!r}"
            ) from None
        answer = self._json(response, "jetons")
        if response.status_code != 200:
            error = str(answer.get("error", ""))
            description = str(answer.get("error_description", ""))
            raise Upstream(
                "Le service d'identité a refusé de délivrer les jetons.",
                f"HTTP {response.status_code} {error} {description}".strip(),
            )
        if not isinstance(answer.get("id_token"), str) or not isinstance(answer.get("access_token"), str):
            raise Upstream(
                "La réponse du service d'identité ne contient pas les jetons attendus.", str(answer.keys())
            )
        if str(answer.get("token_type", "")).lower() != "bearer":
            raise Upstream("Le jeton d'accès reçu n'est pas de type Bearer.", repr(answer.get("token_type")))
        return answer

    def person_data(self, access_token: str) -> dict:
        """The provider's data about the signed-in person, through Maillage's gateway with their access
        token: ``{"values": {...}}``, or ``{"message": ...}`` saying why there are none."""
        try:
            response = self.http.get(
                self.config.data_url,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as error:
            logger.warning("data request failed: %r", error)
            return {"message": "La passerelle de Maillage est injoignable."}
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict):
            return {"values": {key: value for key, value in body.items() if key != "id"}}
        if response.status_code == 404:
            return {"message": "L'administration ne connaît pas de données à votre nom."}
        detail = body.get("detail") if isinstance(body, dict) else None
        return {"message": str(detail or f"Données non obtenues (HTTP {response.status_code}).")}

    def userinfo(self, access_token: str, subject: str) -> dict:
        endpoint = self.configuration()["userinfo_endpoint"]
        response = self._get(
            endpoint,
            "données de l'usager",
            headers={
                "Authorization": f"Bearer {access_token}",
                "Accept": "application/jwt, application/json",
            },
        )
        if response.status_code != 200:
            raise Upstream(
                "Le service d'identité n'a pas transmis les données de l'usager.",
                f"GET {endpoint}: HTTP {response.status_code}",
            )
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/jwt":
            # Signed like the ID token (FranceConnect v2); iss and aud are checked when present.
            claims = self.verify(response.text.strip(), "La réponse userinfo", {"sub": subject})
            audience = claims.get("aud", self.config.client_id)
            audience = audience if isinstance(audience, list) else [audience]
            if (
                claims.get("iss", self.config.issuer) != self.config.issuer
                or self.config.client_id not in audience
            ):
                raise Upstream("La réponse userinfo est invalide.", "iss or aud is not ours")
        elif content_type == "application/json":
            claims = self._json(response, "données de l'usager")
            if claims.get("sub") != subject:
                raise Upstream("La réponse userinfo est invalide.", "its sub differs from the ID token's")
        else:
            raise Upstream("La réponse userinfo est d'un type inattendu.", f"Content-Type {content_type!r}")
        return claims


# --- sessions ---------------------------------------------------------------------------------------


@dataclass
class Session:
    id: str
    csrf: str
    expires: float
    pending: dict[str, dict] = field(default_factory=dict)  # state -> nonce, verifier, expires
    logout_state: str = ""
    id_token: str = ""
    id_claims: dict = field(default_factory=dict)
    claims: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)  # person_data's answer, when the service asks for data

    @property
    def signed_in(self) -> bool:
        return bool(self.id_token)


class SessionStore:
    """Sessions in memory, found by a random id in a cookie signed with the cookie secret."""

    def __init__(self, secret: bytes, secure: bool):
        self._secret, self._secure = secret, secure
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def _signature(self, session_id: str) -> str:
        return hmac.new(self._secret, session_id.encode(), hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def _lifetime(session: Session) -> float:
        return SESSION_LIFETIME if session.signed_in else LOGIN_LIFETIME

    def load(self, environ) -> Session | None:
        value = ""
        for item in environ.get("HTTP_COOKIE", "").split(";"):
            name, _, content = item.strip().partition("=")
            if name == COOKIE_NAME:
                value = content
        session_id, _, signature = value.partition(".")
        if not session_id or not hmac.compare_digest(signature, self._signature(session_id)):
            return None
        now = time.time()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or session.expires < now:
                self._sessions.pop(session_id, None)
                return None
            session.expires = now + self._lifetime(session)
        return session

    def create(self) -> Session:
        now = time.time()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now + LOGIN_LIFETIME)
        with self._lock:
            for expired in [key for key, value in self._sessions.items() if value.expires < now]:
                del self._sessions[expired]
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = sorted(self._sessions.values(), key=lambda s: s.expires)[: MAX_SESSIONS // 10]
                for old in oldest:
                    del self._sessions[old.id]
            self._sessions[session.id] = session
        return session

    def renew(self, session: Session) -> Session:
        """The same session under a new id (after sign-in: an id known before it is worthless)."""
        with self._lock:
            self._sessions.pop(session.id, None)
            session.id = secrets.token_urlsafe(32)
            session.csrf = secrets.token_urlsafe(32)
            session.expires = time.time() + self._lifetime(session)
            self._sessions[session.id] = session
        return session

    def drop(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)

    def pop_pending(self, session: Session | None, state: str) -> dict | None:
        if session is None or not state:
            return None
        with self._lock:
            pending = session.pending.pop(state, None)
        return pending if pending and pending["expires"] >= time.time() else None

    def cookie(self, session: Session | None) -> tuple[str, str]:
        secure = "; Secure" if self._secure else ""
        if session is None:
            return "Set-Cookie", f"{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"
        value = f"{session.id}.{self._signature(session.id)}"
        # Lax: the provider's redirect back to /callback is a top-level GET that must carry it.
        return "Set-Cookie", f"{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Lax{secure}"


# --- the web application ----------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    session: Session | None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "text/html; charset=utf-8"
    cache: str = "no-store"


def redirect(url: str, status: int = 302) -> Response:
    return Response(status, headers=[("Location", url)])


class DemoServiceProvider:
    """The WSGI application."""

    def __init__(self, config: Config, client: OpenIdClient | None = None):
        self.config = config
        self.client = client or OpenIdClient(config)
        self.sessions = SessionStore(config.cookie_secret, secure=config.public_url.startswith("https://"))
        # No form-action: browsers apply it to every redirect a form's answer leads to, and the
        # sign-out form leads to Maillage, then to the person's identity provider (unknown here), then back.
        self.csp = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"
        self.routes = {
            "/": ("GET", self.home),
            "/login": ("GET", self.login),
            "/callback": ("GET", self.callback),
            "/logout": ("POST", self.logout),
            "/logged-out": ("GET", self.logged_out),
            "/healthz": ("GET", self.healthz),
            "/static/style.css": ("GET", self.stylesheet),
        }

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"
        try:
            response = self.dispatch(environ, method, path)
        except PageError as error:
            if error.status >= 500:
                logger.warning("%s %s: %s", method, path, error)
            response = self.error_page(error)
        except Exception:
            logger.exception("%s %s failed", method, path)
            response = self.error_page(
                PageError(500, "Erreur inattendue", "La mairie de démonstration a rencontré une erreur.")
            )
        headers = [
            *response.headers,
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            ("Cache-Control", response.cache),
            ("Content-Security-Policy", self.csp),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            # The callback's URL holds the authorization code: never send it on.
            ("Referrer-Policy", "no-referrer"),
        ]
        start_response(f"{response.status} {HTTPStatus(response.status).phrase}", headers)
        return [b"" if method == "HEAD" else response.body]

    def dispatch(self, environ, method: str, path: str) -> Response:
        if path == "/favicon.ico":
            return Response(204, cache="max-age=86400")
        route = self.routes.get(path)
        if route is None:
            raise PageError(404, "Page introuvable", "La page demandée n'existe pas sur ce site.")
        allowed, handler = route
        if method != allowed and not (method == "HEAD" and allowed == "GET"):
            response = self.error_page(
                PageError(405, "Méthode non autorisée", "Cette page ne s'utilise pas de cette façon.")
            )
            response.headers.append(("Allow", allowed))
            return response
        query = _first_values(environ.get("QUERY_STRING", ""))
        form = {}
        if method == "POST":
            try:
                length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
            except ValueError:
                length = 0
            form = _first_values(environ["wsgi.input"].read(length).decode("utf-8", "replace"))
        return handler(Request(method, path, query, form, self.sessions.load(environ)))

    # --- pages ---

    def home(self, request: Request) -> Response:
        session = request.session
        if session is None or not session.signed_in:
            return self.page(200, "Accueil", self._signed_out_content())
        claims = session.claims
        name = " ".join(str(claims.get(k, "")) for k in ("given_name", "family_name")).strip()
        greeting = f"Bonjour {html.escape(name)}, vous" if name else "Vous"
        id_rows = "".join(self._row(claim, session.id_claims.get(claim)) for claim in ID_TOKEN_CLAIMS)
        content = f"""<h1>Mairie de démonstration</h1>
<p class="notice">{greeting} êtes identifié avec Maillage.</p>
<h2>Données reçues</h2>
<table>
<caption>Données transmises par Maillage (userinfo) avec votre accord</caption>
<thead><tr><th scope="col">Donnée</th><th scope="col">Valeur</th></tr></thead>
<tbody>{"".join(self._row(claim, value) for claim, value in claims.items())}</tbody>
</table>
{self._data_content(session)}
<h2>Authentification</h2>
<table>
<caption>Informations du jeton d'identité</caption>
<thead><tr><th scope="col">Donnée</th><th scope="col">Valeur</th></tr></thead>
<tbody>{id_rows}</tbody>
</table>
<form method="post" action="/logout">
<input type="hidden" name="csrf" value="{html.escape(session.csrf)}">
<button type="submit" class="button">Se déconnecter</button>
</form>"""
        return self.page(200, "Vous êtes identifié", content)

    def _data_content(self, session: Session) -> str:
        if not self.config.data_url:
            return ""
        title = html.escape(self.config.data_label or "Données obtenues auprès d'une administration")
        intro = (
            "<p>Obtenues par la mairie auprès de l'administration qui les détient, grâce à Maillage et avec "
            "votre accord : vous n'avez pas eu de justificatif à fournir. Cette consultation figure dans "
            "votre espace Maillage.</p>"
        )
        values = session.data.get("values")
        if values is None:
            message = html.escape(str(session.data.get("message", "Données non obtenues.")))
            return f'<h2>{title}</h2>{intro}<p class="notice" id="data-message">{message}</p>'
        rows = "".join(self._row(name, value) for name, value in values.items())
        return f"""<h2>{title}</h2>{intro}
<table id="person-data">
<caption>{title}</caption>
<thead><tr><th scope="col">Donnée</th><th scope="col">Valeur</th></tr></thead>
<tbody>{rows}</tbody>
</table>"""

    def _signed_out_content(self) -> str:
        config = self.config
        return f"""<h1>Mairie de démonstration</h1>
<p class="lead">Ce site est un service de démonstration (bac à sable). Il joue le site d'une mairie qui
identifie ses usagers avec Maillage, comme avec FranceConnect : aucune démarche n'y est réelle, et les
données reçues ne sont gardées qu'en mémoire, le temps de votre visite.</p>
<p><a class="button" href="/login">S'identifier avec Maillage</a></p>
<p><a href="/login?prompt=login">S'identifier en demandant une nouvelle authentification</a></p>
<h2>Configuration</h2>
<dl>
<dt>Fournisseur OpenID Connect</dt><dd><code>{html.escape(config.issuer)}</code></dd>
<dt>Identifiant du service (client_id)</dt><dd><code>{html.escape(config.client_id)}</code></dd>
<dt>Données demandées (scope)</dt><dd><code>{html.escape(config.scopes)}</code></dd>
<dt>Niveau demandé (acr_values)</dt><dd><code>{html.escape(config.acr)}</code></dd>
<dt>Adresse de retour (redirect_uri)</dt><dd><code>{html.escape(config.redirect_uri)}</code></dd>
</dl>"""

    @staticmethod
    def _row(claim: str, value) -> str:
        if value is None:
            shown = "—"
        elif claim == "auth_time" and isinstance(value, int | float):
            shown = datetime.fromtimestamp(value, tz=UTC).strftime("%d/%m/%Y %H:%M:%S UTC")
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            shown = ", ".join(value)
        elif isinstance(value, str):
            shown = value or "(vide)"
        else:
            shown = json.dumps(value, ensure_ascii=False)
        label = CLAIM_LABELS.get(claim)
        label_html = f' <span class="label">{html.escape(label)}</span>' if label else ""
        return (
            f'<tr><th scope="row"><code>{html.escape(claim)}</code>{label_html}</th>'
            f"<td>{html.escape(shown)}</td></tr>"
        )

    def login(self, request: Request) -> Response:
        prompt = request.query.get("prompt")
        idp_hint = request.query.get("idp_hint")
        if prompt is not None and (not prompt.split() or not set(prompt.split()) <= PROMPTS):
            raise PageError(400, "Demande incorrecte", "La valeur de « prompt » n'est pas reconnue.")
        if idp_hint is not None and not 0 < len(idp_hint) <= 200:
            raise PageError(400, "Demande incorrecte", "La valeur de « idp_hint » est incorrecte.")
        configuration = self.client.configuration()
        session, new = request.session, request.session is None
        if session is None:
            session = self.sessions.create()
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43 to 128
        pending = dict(sorted(session.pending.items(), key=lambda item: item[1]["expires"]))
        while len(pending) >= MAX_PENDING_LOGINS:
            pending.pop(next(iter(pending)))
        pending[state] = {"nonce": nonce, "verifier": verifier, "expires": time.time() + LOGIN_LIFETIME}
        session.pending = pending
        params = {
            "client_id": self.config.client_id,
            "response_type": "code",
            "redirect_uri": self.config.redirect_uri,
            "scope": self.config.scopes,
            "state": state,
            "nonce": nonce,
            "acr_values": self.config.acr,
            "code_challenge": _b64url_sha256(verifier),
            "code_challenge_method": "S256",
        }
        if prompt is not None:
            params["prompt"] = prompt
        if idp_hint is not None:
            params["idp_hint"] = idp_hint
        response = redirect(_with_query(configuration["authorization_endpoint"], params))
        if new:
            response.headers.append(self.sessions.cookie(session))
        return response

    def callback(self, request: Request) -> Response:
        query = request.query
        pending = self.sessions.pop_pending(request.session, query.get("state", ""))
        if "error" in query:
            error = query["error"]
            description = query.get("error_description", "")
            detail = f"{error} — {description}" if description else error
            raise PageError(
                400,
                "Identification interrompue",
                OP_ERRORS.get(error, "Le service d'identité a interrompu l'identification."),
                detail=detail,
                retry=True,
            )
        if pending is None:
            raise PageError(
                400,
                "Demande de connexion inconnue ou expirée",
                "Cette réponse ne correspond à aucune identification en cours dans ce navigateur "
                "(déjà utilisée, expirée, ou commencée ailleurs).",
                retry=True,
            )
        if "iss" in query and query["iss"] != self.config.issuer:
            # RFC 9207: the answer comes from another provider than the one the request went to.
            raise PageError(
                400,
                "Réponse d'un autre fournisseur",
                "La réponse ne vient pas du service d'identité auquel la demande a été envoyée.",
                detail=f"iss {query['iss']}",
                retry=True,
            )
        if not query.get("code"):
            message = "La réponse du service d'identité n'a pas de code."
            raise PageError(400, "Réponse incomplète", message, retry=True)
        tokens = self.client.exchange(query["code"], pending["verifier"])
        id_claims = self.client.verify_id_token(tokens["id_token"], pending["nonce"])
        claims = self.client.userinfo(tokens["access_token"], id_claims["sub"])
        # The access token lives a minute: the data are fetched now, once, and kept with the session.
        data = self.client.person_data(tokens["access_token"]) if self.config.data_url else {}
        session = self.sessions.renew(request.session)
        session.pending.clear()
        session.id_token, session.id_claims, session.claims = tokens["id_token"], id_claims, claims
        session.data = data
        session.expires = time.time() + SESSION_LIFETIME
        response = redirect("/")
        response.headers.append(self.sessions.cookie(session))
        return response

    def logout(self, request: Request) -> Response:
        session = request.session
        if session is None or not session.signed_in:
            return redirect("/", 303)
        if not hmac.compare_digest(request.form.get("csrf", ""), session.csrf):
            raise PageError(400, "Formulaire expiré", "Rechargez la page d'accueil puis recommencez.")
        end_session = self.client.configuration().get("end_session_endpoint")
        id_token = session.id_token
        # Signed out here first, whatever the provider does next.
        session.id_token, session.id_claims, session.claims = "", {}, {}
        if not isinstance(end_session, str) or not end_session:
            self.sessions.drop(session)
            return self._logged_out_page()
        session.logout_state = secrets.token_urlsafe(32)
        params = {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": self.config.post_logout_redirect_uri,
            "state": session.logout_state,
        }
        return redirect(_with_query(end_session, params), 303)

    def logged_out(self, request: Request) -> Response:
        session = request.session
        state = request.query.get("state", "")
        expected = session.logout_state if session else ""
        if not expected or not hmac.compare_digest(state, expected):
            raise PageError(
                400,
                "Déconnexion inconnue ou expirée",
                "Cette réponse ne correspond à aucune déconnexion en cours dans ce navigateur.",
            )
        self.sessions.drop(session)
        return self._logged_out_page()

    def _logged_out_page(self) -> Response:
        content = """<h1>Vous êtes déconnecté</h1>
<p>Votre session est terminée, à la mairie comme auprès de Maillage.</p>
<p><a class="button" href="/">Retour à l'accueil</a></p>"""
        response = self.page(200, "Vous êtes déconnecté", content)
        response.headers.append(self.sessions.cookie(None))
        return response

    def healthz(self, request: Request) -> Response:
        return Response(200, b"ok", content_type="text/plain; charset=utf-8")

    def stylesheet(self, request: Request) -> Response:
        return Response(200, STYLESHEET.encode(), content_type="text/css; charset=utf-8", cache="max-age=600")

    # --- rendering ---

    def error_page(self, error: PageError) -> Response:
        detail = (
            f'<p class="detail">Détail : <code>{html.escape(error.detail)}</code></p>' if error.detail else ""
        )
        action = (
            '<a class="button" href="/login">Recommencer l\'identification</a> <a href="/">Accueil</a>'
            if error.retry
            else '<a class="button" href="/">Retour à l\'accueil</a>'
        )
        content = f"""<h1>{html.escape(error.title)}</h1>
<p class="error">{html.escape(error.message)}</p>
{detail}
<p>{action}</p>"""
        return self.page(error.status, error.title, content)

    def page(self, status: int, title: str, content: str) -> Response:
        document = f"""<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} — Mairie de démonstration</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header><div class="wrap"><p class="brand">République Française</p>
<p class="service"><a href="/">Mairie de démonstration</a></p>
<p class="tag">Bac à sable — service fictif</p></div></header>
<main class="wrap">
{content}
</main>
<footer><div class="wrap">Service de démonstration de Maillage : aucune démarche réelle.</div></footer>
</body>
</html>
"""
        return Response(status, document.encode())


STYLESHEET = """\
*{box-sizing:border-box}
body{margin:0;font-family:Marianne,Arial,sans-serif;color:#161616;background:#fff;line-height:1.5}
.wrap{max-width:56rem;margin:0 auto;padding:0 1rem}
header{border-bottom:1px solid #ddd;box-shadow:0 2px 4px rgba(0,0,18,.08)}
header .wrap{padding-top:1rem;padding-bottom:1rem}
.brand{margin:0;font-weight:700;text-transform:uppercase;font-size:.8rem;line-height:1.1}
.service{margin:.25rem 0 0;font-size:1.25rem;font-weight:700}
.service a{color:#161616;text-decoration:none}
.tag{margin:.25rem 0 0;font-size:.875rem;color:#666}
main{padding-top:2rem;padding-bottom:3rem}
h1{font-size:2rem;line-height:1.25;margin:0 0 1.5rem}
h2{font-size:1.5rem;margin:2rem 0 1rem}
.lead{font-size:1.125rem}
a{color:#000091}
.button{display:inline-block;font:inherit;font-weight:500;padding:.5rem 1.5rem;border:0;background:#000091;
color:#fff;text-decoration:none;cursor:pointer}
.button:hover{background:#1212ff}
a:focus,.button:focus{outline:2px solid #0a76f6;outline-offset:2px}
.notice{padding:1rem;border-left:4px solid #000091;background:#f5f5fe}
.error{padding:1rem;border-left:4px solid #ce0500;background:#ffe9e9}
.detail{color:#666;font-size:.875rem}
table{border-collapse:collapse;width:100%;margin-bottom:1rem}
caption{text-align:left;font-weight:700;padding:.5rem 0}
th,td{text-align:left;vertical-align:top;padding:.5rem .75rem;border-bottom:1px solid #ddd}
thead th{background:#f6f6f6}
.label{display:block;font-weight:400;color:#666;font-size:.875rem}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.875rem;word-break:break-all}
dt{font-weight:700;margin-top:.5rem}dd{margin:0}
footer{border-top:2px solid #000091;padding:1rem 0;font-size:.875rem;color:#666}
"""


def _required_url(name: str, default: str) -> str:
    value = os.environ.get(name, default).rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise RuntimeError(f"{name} must be an absolute http(s) URL without query or fragment, not {value!r}")
    return value


def config_from_env() -> Config:
    secret_file = os.environ.get("DEMO_FS_CLIENT_SECRET_FILE", "")
    if not secret_file:
        raise RuntimeError("DEMO_FS_CLIENT_SECRET_FILE (a file holding the client secret) is required")
    try:
        client_secret = Path(secret_file).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise RuntimeError(f"DEMO_FS_CLIENT_SECRET_FILE cannot be read: {error}") from None
    if not client_secret:
        raise RuntimeError(f"DEMO_FS_CLIENT_SECRET_FILE ({secret_file}) is empty")
    scopes = os.environ.get("DEMO_FS_SCOPES", "") or "openid profile birth email"
    if "openid" not in scopes.split():
        raise RuntimeError(f"DEMO_FS_SCOPES must contain openid, not {scopes!r}")
    cookie_secret = os.environ.get("DEMO_FS_COOKIE_SECRET", "")
    return Config(
        issuer=_required_url("DEMO_FS_ISSUER", "http://127.0.0.1:8000/api/v2"),
        public_url=_required_url("DEMO_FS_PUBLIC_URL", "http://127.0.0.1:8002"),
        client_id=os.environ.get("DEMO_FS_CLIENT_ID", "") or "mairie-demo",
        client_secret=client_secret,
        scopes=scopes,
        acr=os.environ.get("DEMO_FS_ACR", "") or "eidas1",
        cookie_secret=cookie_secret.encode() if cookie_secret else secrets.token_bytes(32),
        data_url=_required_url("DEMO_FS_DATA_URL", "") if os.environ.get("DEMO_FS_DATA_URL") else "",
        data_label=os.environ.get("DEMO_FS_DATA_LABEL", ""),
    )


def application_from_env() -> DemoServiceProvider:
    return DemoServiceProvider(config_from_env())
