"""The sandbox identity provider: a small, standalone OpenID Connect provider for `make run` and tests.

It plays the upstream identity providers ("FI") Maillage federates, so that the whole sign-in journey
runs on one machine without the internet. One process serves three realms, each an issuer of its own
(``{base}/usagers``, ``{base}/agents``, ``{base}/entreprises``) with the test accounts of
identity/sandbox_idp/accounts.py. Per realm:

- ``/.well-known/openid-configuration`` and ``/jwks`` (one RS256 key; ES256 with ``SANDBOX_IDP_ALG``);
- ``/authorize``: authorization code flow only; ``client_id``, exact ``redirect_uri``, ``scope`` with
  ``openid``, ``state`` and ``nonce`` required; PKCE S256 required, ``plain`` refused. The page lists
  the realm's accounts (no password: it is a sandbox); choosing one redirects with ``code``, ``state``
  and ``iss`` (RFC 9207, so that a client can tell which provider answered);
- ``/token``: ``client_secret_basic`` or ``client_secret_post``; codes live 30 s and are single-use;
  the ID token (``iss``, ``aud``, ``sub``, ``nonce``, ``acr``, ``amr``, ``auth_time``, ``iat``,
  ``exp``) is signed with the key of ``/jwks``;
- ``/userinfo``: the account's claims as JSON, for a bearer access token (60 s);
- ``/session/end``: ends the session and returns to a registered ``post_logout_redirect_uri`` with
  ``state``.

Beside the realms, ``POST /registre/verification`` plays the civil registry (RNIPP-like): given the
six pivot fields as JSON, it answers ``{"status": "found" | "deceased" | "unknown"}``.

It is not Maillage's own provider (that is django-oauth-toolkit, for service providers): it keeps its
state in memory, so it runs as one process (threads allowed). Configuration, from the environment:
``SANDBOX_IDP_PUBLIC_URL`` (its base URL), ``SANDBOX_IDP_CLIENTS`` (JSON: ``{client_id: {"secret":
…, "redirect_uris": […], "post_logout_redirect_uris": […]}}``), ``SANDBOX_IDP_KEY_FILE`` (a JWK
kept between runs; generated when missing) and ``SANDBOX_IDP_ALG``.
"""

import base64
import hashlib
import hmac
import html
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

from jwcrypto import jwk, jwt

from identity.sandbox_idp.accounts import CITIZENS, REALMS, Account, accounts_of, find, subject_of

CODE_LIFETIME = 30
TOKEN_LIFETIME = 60
SCOPES = ("openid", "profile", "email", "birth", "identite_pivot", "given_name", "family_name",
          "birthdate", "gender", "birthplace", "birthcountry", "preferred_username", "uid", "siret",
          "siren", "usual_name")  # fmt: skip


@dataclass
class Client:
    client_id: str
    secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)


@dataclass
class Grant:
    realm: str
    client_id: str
    redirect_uri: str
    account: Account
    nonce: str
    code_challenge: str
    acr: str
    expires: float


class Problem(Exception):
    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def _b64url_sha256(value: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()).rstrip(b"=").decode()


def load_key(path: str | None, alg: str) -> jwk.JWK:
    """The signing key: read from ``path`` when it exists, else generated (and written there)."""
    if path and Path(path).exists():
        return jwk.JWK.from_json(Path(path).read_text())
    if alg == "ES256":
        key = jwk.JWK.generate(kty="EC", crv="P-256")
    else:
        key = jwk.JWK.generate(kty="RSA", size=2048)
    key.update(kid=key.thumbprint(), use="sig", alg=alg)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(key.export_private())
        os.chmod(path, 0o600)
    return key


class SandboxProvider:
    """The WSGI application."""

    def __init__(self, public_url: str, clients: dict[str, Client], key: jwk.JWK):
        self.public_url = public_url.rstrip("/")
        self.clients = clients
        self.key = key
        self.alg = key.get("alg") or ("ES256" if key.get("kty") == "EC" else "RS256")
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[float, dict]] = {}  # authorization requests awaiting an account
        self._codes: dict[str, Grant] = {}
        self._tokens: dict[str, tuple[float, str, Account]] = {}

    # --- plumbing -----------------------------------------------------------------------------------

    def issuer(self, realm: str) -> str:
        return f"{self.public_url}/{realm}"

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        realm, _, endpoint = path.strip("/").partition("/")
        if path == "/favicon.ico":  # browsers ask for it on the account page
            start_response("204 No Content", [("Cache-Control", "max-age=86400")])
            return [b""]
        try:
            if path == REGISTRY_PATH:
                status, headers, body = self.registry(environ)
                start_response(f"{status} {_REASONS.get(status, 'OK')}", headers)
                return [body]
            if realm not in REALMS:
                raise Problem(404, "not_found", "unknown realm")
            handler = {
                ".well-known/openid-configuration": self.discovery,
                "jwks": self.jwks,
                "authorize": self.authorize,
                "token": self.token,
                "userinfo": self.userinfo,
                "session/end": self.end_session,
            }.get(endpoint)
            if handler is None:
                raise Problem(404, "not_found", "unknown endpoint")
            status, headers, body = handler(realm, environ)
        except Problem as problem:
            status, headers, body = (
                problem.status,
                [("Content-Type", "application/json")],
                json.dumps({"error": problem.error, "error_description": problem.description}).encode(),
            )
        headers = [*headers, ("Cache-Control", "no-store")]
        start_response(f"{status} {_REASONS.get(status, 'OK')}", headers)
        return [body]

    @staticmethod
    def _query(environ) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}

    @staticmethod
    def _form(environ) -> dict[str, str]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(min(length, 65536)).decode("utf-8", "replace")
        return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

    @staticmethod
    def _json(status: int, value) -> tuple[int, list, bytes]:
        return status, [("Content-Type", "application/json")], json.dumps(value).encode()

    @staticmethod
    def _redirect(url: str, params: dict) -> tuple[int, list, bytes]:
        separator = "&" if urlsplit(url).query else "?"
        return 302, [("Location", url + separator + urlencode(params))], b""

    def _purge(self, now: float) -> None:
        for store in (self._pending, self._codes, self._tokens):
            expired = [k for k, v in store.items() if (v.expires if isinstance(v, Grant) else v[0]) < now]
            for key in expired:
                del store[key]

    # --- endpoints ----------------------------------------------------------------------------------

    def discovery(self, realm, environ):
        issuer = self.issuer(realm)
        return self._json(200, {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "jwks_uri": f"{issuer}/jwks",
            "end_session_endpoint": f"{issuer}/session/end",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.alg],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": list(SCOPES),
            "acr_values_supported": ["eidas1", "eidas2", "eidas3"],
            "authorization_response_iss_parameter_supported": True,
        })  # fmt: skip

    def jwks(self, realm, environ):
        return self._json(200, {"keys": [json.loads(self.key.export_public())]})

    def authorize(self, realm, environ):
        if environ["REQUEST_METHOD"] == "POST":
            return self._authorize_choice(realm, self._form(environ))
        params = self._query(environ)
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            raise Problem(400, "invalid_client", "unknown client_id")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise Problem(400, "invalid_request", "redirect_uri is not registered for this client")

        def refuse(error, description):
            state = params.get("state", "")
            return self._redirect(
                redirect_uri,
                {"error": error, "error_description": description, "state": state, "iss": self.issuer(realm)},
            )

        if params.get("response_type") != "code":
            return refuse("unsupported_response_type", "only response_type=code is supported")
        if "openid" not in params.get("scope", "").split():
            return refuse("invalid_scope", "scope must contain openid")
        if not params.get("state") or not params.get("nonce"):
            return refuse("invalid_request", "state and nonce are required")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return refuse("invalid_request", "PKCE with code_challenge_method=S256 is required")
        transaction = secrets.token_urlsafe(24)
        with self._lock:
            self._purge(time.time())
            self._pending[transaction] = (time.time() + 600, {**params, "realm": realm})
        return 200, [("Content-Type", "text/html; charset=utf-8")], self._choice_page(realm, transaction)

    def _choice_page(self, realm: str, transaction: str) -> bytes:
        items = "".join(
            f'<li><button type="submit" name="login" value="{html.escape(a.login)}">'
            f"{html.escape(a.login)}</button> — {html.escape(a.description)} ({a.acr})</li>"
            for a in accounts_of(realm)
        )
        page = f"""<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>Fournisseur d'identité de démonstration — {realm}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:Marianne,Arial,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;
color:#161616}}
h1{{font-size:1.6rem}}ul{{list-style:none;padding:0}}li{{margin:.5rem 0}}
button{{font:inherit;min-width:11rem;padding:.5rem 1rem;margin-right:.75rem;border:0;background:#000091;
color:#fff;cursor:pointer}}button:focus{{outline:2px solid #0a76f6;outline-offset:2px}}</style></head><body>
<main><h1>Fournisseur d'identité de démonstration ({html.escape(realm)})</h1>
<p>Bac à sable : choisissez un compte de test, aucun mot de passe n'est demandé.</p>
<form method="post"><input type="hidden" name="transaction" value="{transaction}"><ul>{items}</ul></form>
</main></body></html>"""
        return page.encode()

    def _authorize_choice(self, realm, form):
        with self._lock:
            pending = self._pending.pop(form.get("transaction", ""), None)
        if pending is None or pending[1]["realm"] != realm:
            raise Problem(400, "invalid_request", "unknown or expired authorization request")
        params = pending[1]
        account = find(realm, form.get("login", ""))
        if account is None:
            raise Problem(400, "invalid_request", "unknown test account")
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = Grant(realm, params["client_id"], params["redirect_uri"], account,
                                      params["nonce"], params["code_challenge"], account.acr,
                                      time.time() + CODE_LIFETIME)  # fmt: skip
        return self._redirect(params["redirect_uri"], {"code": code, "state": params["state"],
                                                       "iss": self.issuer(realm)})  # fmt: skip

    def _authenticate_client(self, environ, form) -> Client:
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header.startswith("Basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode()
            except ValueError:
                raise Problem(401, "invalid_client", "malformed Basic credentials") from None
            client_id, _, secret = decoded.partition(":")
            client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        client = self.clients.get(client_id)
        if client is None or secret is None or not hmac.compare_digest(client.secret, secret):
            raise Problem(401, "invalid_client", "client authentication failed")
        return client

    def token(self, realm, environ):
        if environ["REQUEST_METHOD"] != "POST":
            raise Problem(405, "invalid_request", "POST only")
        form = self._form(environ)
        client = self._authenticate_client(environ, form)
        if form.get("grant_type") != "authorization_code":
            raise Problem(400, "unsupported_grant_type", "only authorization_code")
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # single use, whatever comes next
        now = time.time()
        foreign = grant is not None and (grant.realm != realm or grant.client_id != client.client_id)
        if grant is None or grant.expires < now or foreign:
            raise Problem(400, "invalid_grant", "unknown, expired, reused or foreign code")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise Problem(400, "invalid_grant", "redirect_uri differs from the authorization request")
        if _b64url_sha256(form.get("code_verifier", "")) != grant.code_challenge:
            raise Problem(400, "invalid_grant", "PKCE verification failed")
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[access_token] = (now + TOKEN_LIFETIME, realm, grant.account)
        claims = {
            "iss": self.issuer(realm),
            "aud": client.client_id,
            "sub": self.subject(realm, grant.account),
            "nonce": grant.nonce,
            "acr": grant.acr,
            "amr": ["pwd"] if grant.acr == "eidas1" else ["pwd", "mfa"],
            "auth_time": int(now),
            "iat": int(now),
            "exp": int(now) + TOKEN_LIFETIME,
        }
        id_token = jwt.JWT(header={"alg": self.alg, "kid": self.key["kid"], "typ": "JWT"}, claims=claims)
        id_token.make_signed_token(self.key)
        return self._json(200, {"access_token": access_token, "token_type": "Bearer",
                                "expires_in": TOKEN_LIFETIME, "id_token": id_token.serialize(),
                                "scope": "openid"})  # fmt: skip

    def subject(self, realm: str, account: Account) -> str:
        return subject_of(realm, account.login)

    def userinfo(self, realm, environ):
        header = environ.get("HTTP_AUTHORIZATION", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        with self._lock:
            found = self._tokens.get(token)
        if found is None or found[0] < time.time() or found[1] != realm:
            challenge = ("WWW-Authenticate", 'Bearer error="invalid_token"')
            headers = [("Content-Type", "application/json"), challenge]
            return 401, headers, b'{"error":"invalid_token"}'
        account = found[2]
        return self._json(200, {"sub": self.subject(realm, account), **account.claims})

    def registry(self, environ):
        """The sandbox civil registry (RNIPP-like): is this pivot identity a living person it knows?"""
        if environ["REQUEST_METHOD"] != "POST":
            raise Problem(405, "invalid_request", "POST only")
        try:
            length = min(int(environ.get("CONTENT_LENGTH") or 0), 65536)
            query = json.loads(environ["wsgi.input"].read(length) or b"{}")
        except ValueError:
            raise Problem(400, "invalid_request", "a JSON object is expected") from None
        if not isinstance(query, dict):
            raise Problem(400, "invalid_request", "a JSON object is expected")
        return self._json(200, {"status": registry_status(query)})

    def end_session(self, realm, environ):
        params = self._query(environ)
        target = params.get("post_logout_redirect_uri")
        if target is None:
            page = "<!doctype html><html lang='fr'><meta charset='utf-8'><p>Vous êtes déconnecté.</p></html>"
            return 200, [("Content-Type", "text/html; charset=utf-8")], page.encode()
        if not any(target in client.post_logout_redirect_uris for client in self.clients.values()):
            raise Problem(400, "invalid_request", "post_logout_redirect_uri is not registered")
        return self._redirect(target, {"state": params.get("state", "")})


REGISTRY_PATH = "/registre/verification"
_REGISTRY_FIELDS = ("given_name", "family_name", "birthdate", "gender", "birthplace", "birthcountry")


def registry_status(query: dict) -> str:
    """``found``, ``deceased`` or ``unknown``: the sandbox citizens are the registry's population
    (the account "inconnu" excepted: it stands for a person the registry does not know)."""

    def key(claims: dict) -> tuple:
        return tuple(" ".join(str(claims.get(name, "")).split()).casefold() for name in _REGISTRY_FIELDS)

    wanted = key(query)
    for account in accounts_of(CITIZENS):
        if account.login != "inconnu" and key(account.claims) == wanted:
            return "deceased" if account.deceased else "found"
    return "unknown"


_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed"}  # fmt: skip


def clients_from_json(text: str) -> dict[str, Client]:
    raw = json.loads(text or "{}")
    return {
        client_id: Client(
            client_id,
            spec["secret"],
            list(spec.get("redirect_uris", [])),
            list(spec.get("post_logout_redirect_uris", [])),
        )  # fmt: skip
        for client_id, spec in raw.items()
    }


def application_from_env() -> SandboxProvider:
    alg = os.environ.get("SANDBOX_IDP_ALG", "RS256")
    return SandboxProvider(
        os.environ.get("SANDBOX_IDP_PUBLIC_URL", "http://127.0.0.1:8001"),
        clients_from_json(os.environ.get("SANDBOX_IDP_CLIENTS", "{}")),
        load_key(os.environ.get("SANDBOX_IDP_KEY_FILE"), alg),
    )
