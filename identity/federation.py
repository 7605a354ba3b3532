"""Maillage as a client of the identity providers it federates ("FI"): discovery, keys, ID tokens.

Everything an FI needs beyond its IdentityProvider record is read from its discovery document, so
adding a standards-compliant FI in the admin is enough. What this module guarantees:

- the discovery document must name exactly the configured issuer, and its endpoints must be https
  (plain http only on loopback, for the sandbox provider and tests);
- metadata and JWKS are cached per process (METADATA_TTL); an ID token whose ``kid`` is unknown makes
  the JWKS be fetched again, at most once every JWKS_MIN_REFRESH seconds per FI (key rotation works,
  a flood of made-up kids does not turn into a flood of requests);
- an ID token is accepted only if signed with an asymmetric algorithm by a key of the FI's JWKS, with
  ``iss`` equal to the FI's issuer, ``aud`` containing our client id (``azp`` checked when there are
  several audiences), the expected ``nonce``, and ``exp``/``iat`` within CLOCK_LEEWAY.

HTTP goes through one pooled httpx client with short timeouts. Failures raise FederationError with a
stable ``code``, which the sign-in views journal and turn into a readable page.
"""

import atexit
import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import httpx
from jwcrypto import jwk, jws, jwt
from jwcrypto.common import JWException

METADATA_TTL = 3600  # seconds
JWKS_MIN_REFRESH = 30  # seconds between two fetches of one FI's JWKS
CLOCK_LEEWAY = 30  # seconds
ASYMMETRIC_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
TIMEOUT = httpx.Timeout(5.0, connect=3.0)


class FederationError(Exception):
    """A failure talking to an FI or checking what it sent; ``code`` is stable, for journal and pages."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    token_auth_methods: tuple[str, ...]
    iss_parameter_supported: bool


_client: httpx.Client | None = None
_lock = threading.Lock()
_metadata: dict[tuple, tuple[float, ProviderMetadata]] = {}
_keys: dict[str, tuple[float, jwk.JWKSet]] = {}  # by jwks_uri: (fetched at, keys)


def http() -> httpx.Client:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = httpx.Client(timeout=TIMEOUT, follow_redirects=False)
                atexit.register(_client.close)  # its pooled connections, closed cleanly
    return _client


def clear_caches() -> None:
    with _lock:
        _metadata.clear()
        _keys.clear()


def _check_url(url, what: str) -> str:
    if not isinstance(url, str):
        raise FederationError("discovery_invalid", f"{what} is missing from the discovery document")
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return url
    raise FederationError("discovery_invalid", f"{what} must be an https URL (got {url!r})")


def _get_json(url: str, code: str) -> dict:
    try:
        response = http().get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as error:
        raise FederationError(code, f"{url}: {error.__class__.__name__}") from None
    if response.status_code != 200:
        raise FederationError(code, f"{url} answered {response.status_code}")
    try:
        value = response.json()
    except ValueError:
        raise FederationError(code, f"{url} did not answer JSON") from None
    if not isinstance(value, dict):
        raise FederationError(code, f"{url} did not answer a JSON object")
    return value


def metadata(provider) -> ProviderMetadata:
    """The FI's endpoints, from its discovery document (cached; a changed record is read again)."""
    cache_key = (provider.pk, provider.issuer, provider.discovery_document_url, provider.updated_at)
    now = time.monotonic()
    cached = _metadata.get(cache_key)
    if cached and cached[0] > now:
        return cached[1]
    document = _get_json(_check_url(provider.discovery_document_url, "the discovery URL"), "discovery_failed")
    if document.get("issuer") != provider.issuer:
        raise FederationError(
            "issuer_mismatch",
            f"the discovery document names issuer {document.get('issuer')!r}, not {provider.issuer!r}",
        )
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    found = ProviderMetadata(
        issuer=provider.issuer,
        authorization_endpoint=_check_url(document.get("authorization_endpoint"), "authorization_endpoint"),
        token_endpoint=_check_url(document.get("token_endpoint"), "token_endpoint"),
        jwks_uri=_check_url(document.get("jwks_uri"), "jwks_uri"),
        userinfo_endpoint=document.get("userinfo_endpoint")
        and _check_url(document["userinfo_endpoint"], "userinfo_endpoint"),
        end_session_endpoint=document.get("end_session_endpoint")
        and _check_url(document["end_session_endpoint"], "end_session_endpoint"),
        token_auth_methods=tuple(m for m in methods if isinstance(m, str)),
        iss_parameter_supported=document.get("authorization_response_iss_parameter_supported") is True,
    )
    with _lock:
        _metadata[cache_key] = (now + METADATA_TTL, found)
    return found


def _fetch_keys(jwks_uri: str) -> jwk.JWKSet:
    document = _get_json(jwks_uri, "jwks_failed")
    try:
        keys = jwk.JWKSet.from_json(json.dumps(document))
    except (JWException, ValueError, TypeError):
        raise FederationError("jwks_failed", f"{jwks_uri} is not a valid JWK set") from None
    with _lock:
        _keys[jwks_uri] = (time.monotonic(), keys)
    return keys


def signing_key(meta: ProviderMetadata, kid: str | None) -> jwk.JWK:
    """The FI's key named ``kid``; the JWKS is fetched again (rate-limited) when it is not known."""
    cached = _keys.get(meta.jwks_uri)
    keys = cached[1] if cached else _fetch_keys(meta.jwks_uri)
    key = _pick(keys, kid)
    if key is None and cached and time.monotonic() - cached[0] >= JWKS_MIN_REFRESH:
        key = _pick(_fetch_keys(meta.jwks_uri), kid)
    if key is None:
        raise FederationError("unknown_kid", f"no key {kid!r} in the identity provider's JWKS")
    return key


def _pick(keys: jwk.JWKSet, kid: str | None) -> jwk.JWK | None:
    candidates = [key for key in keys if key.get("use", "sig") == "sig"]
    if kid is None:
        return candidates[0] if len(candidates) == 1 else None
    return next((key for key in candidates if key.get("kid") == kid), None)


def _header(token: str) -> dict:
    try:
        encoded = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, IndexError):
        raise FederationError("malformed_token", "the ID token is not a compact JWS") from None
    if not isinstance(header, dict):
        raise FederationError("malformed_token", "the ID token header is not an object")
    return header


def validate_id_token(provider, meta: ProviderMetadata, token: str, *, nonce: str) -> dict:
    """The claims of an ID token the FI issued for us in this sign-in; FederationError otherwise."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise FederationError("malformed_token", "the ID token is not a compact JWS")
    header = _header(token)
    alg = header.get("alg")
    if alg not in ASYMMETRIC_ALGS:
        raise FederationError("bad_algorithm", f"ID tokens must be signed asymmetrically (got {alg!r})")
    key = signing_key(meta, header.get("kid"))
    try:
        verified = jwt.JWT(jwt=token, key=key, algs=[alg], check_claims=False)
        claims = json.loads(verified.claims)
    except (jws.InvalidJWSSignature, jwt.JWTExpired, JWException, ValueError):
        raise FederationError("bad_signature", "the ID token's signature does not verify") from None
    if not isinstance(claims, dict):
        raise FederationError("malformed_token", "the ID token's claims are not an object")
    if claims.get("iss") != provider.issuer:
        raise FederationError("wrong_issuer", f"the ID token was issued by {claims.get('iss')!r}")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if provider.client_id not in audiences:
        raise FederationError("wrong_audience", "the ID token is not meant for Maillage")
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise FederationError("wrong_audience", "several audiences and azp is not Maillage")
    now = time.time()
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or exp < now - CLOCK_LEEWAY:
        raise FederationError("expired", "the ID token has expired")
    if not isinstance(iat, int | float) or iat > now + CLOCK_LEEWAY:
        raise FederationError("bad_iat", "the ID token's issue time is missing or in the future")
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise FederationError("wrong_nonce", "the ID token's nonce is not the one of this sign-in")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise FederationError("malformed_token", "the ID token has no subject")
    return claims


def new_pkce() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(
    provider,
    meta: ProviderMetadata,
    *,
    redirect_uri: str,
    state: str,
    nonce: str,
    code_challenge: str,
    acr_values: str | None = None,
    prompt: str | None = None,
) -> str:
    params = {
        "client_id": provider.client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": provider.scopes,
        "state": state,
        "nonce": nonce,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    if acr_values:
        params["acr_values"] = acr_values
    if prompt:
        params["prompt"] = prompt
    return with_query(meta.authorization_endpoint, params)


def origin(url: str) -> str:
    """scheme://host[:port] of a URL (what a CSP source names)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def with_query(url: str, params: dict) -> str:
    """``url`` with ``params`` added to its query string (an FI's endpoint may already have one)."""
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


def exchange_code(
    provider, meta: ProviderMetadata, *, code: str, redirect_uri: str, code_verifier: str
) -> dict:
    """The FI's token response for ``code`` (access_token, id_token…)."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": code_verifier}  # fmt: skip
    auth = None
    if "client_secret_basic" in meta.token_auth_methods:
        auth = httpx.BasicAuth(provider.client_id, provider.client_secret)
    else:
        data.update(client_id=provider.client_id, client_secret=provider.client_secret)
    try:
        response = http().post(
            meta.token_endpoint, data=data, auth=auth, headers={"Accept": "application/json"}
        )
    except httpx.HTTPError as error:
        raise FederationError("token_failed", f"token endpoint: {error.__class__.__name__}") from None
    try:
        tokens = response.json()
    except ValueError:
        tokens = None
    if response.status_code != 200 or not isinstance(tokens, dict):
        error = tokens.get("error") if isinstance(tokens, dict) else None
        raise FederationError("token_failed", f"token endpoint answered {response.status_code} ({error})")
    if not isinstance(tokens.get("id_token"), str) or not isinstance(tokens.get("access_token"), str):
        raise FederationError("token_failed", "the token response lacks id_token or access_token")
    return tokens


def fetch_userinfo(provider, meta: ProviderMetadata, access_token: str, *, subject: str) -> dict:
    """The FI's userinfo claims (JSON, or a JWT signed with the FI's keys); ``sub`` must match."""
    if not meta.userinfo_endpoint:
        return {}
    try:
        response = http().get(meta.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"})
    except httpx.HTTPError as error:
        raise FederationError("userinfo_failed", f"userinfo: {error.__class__.__name__}") from None
    if response.status_code != 200:
        raise FederationError("userinfo_failed", f"userinfo answered {response.status_code}")
    if response.headers.get("content-type", "").split(";")[0].strip() == "application/jwt":
        token = response.text.strip()
        header = _header(token)
        if header.get("alg") not in ASYMMETRIC_ALGS:
            raise FederationError("bad_algorithm", "userinfo JWTs must be signed asymmetrically")
        try:
            claims = json.loads(
                jwt.JWT(jwt=token, key=signing_key(meta, header.get("kid")), algs=[header["alg"]]).claims
            )
        except (JWException, ValueError):
            raise FederationError("bad_signature", "the userinfo JWT's signature does not verify") from None
    else:
        try:
            claims = response.json()
        except ValueError:
            raise FederationError("userinfo_failed", "userinfo is neither JSON nor a JWT") from None
    if not isinstance(claims, dict) or claims.get("sub") != subject:
        raise FederationError("userinfo_failed", "userinfo is about someone else than the ID token")
    return claims
