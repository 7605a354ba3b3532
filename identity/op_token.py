"""The code-for-token exchange of a confidential service provider, without oauthlib's machinery.

oauthlib's grant (request parsing, a dozen validator hooks) and django-oauth-toolkit's token saving cost
a token request about 10 ms of CPU and 14 SQL statements; this does the same in 4 (two reads, the
code's row lock included; one statement writing the ID token, the access token, the redemption and
deleting the code; the journal's entry at commit). It only ever answers a request it can grant: every
rule of oauthlib's path is checked here too, and any request that breaks one, or that uses something
this path does not handle (private_key_jwt, public clients, RFC 8707 resources, CORS, duplicated or
extra parameters), returns None without writing anything, and the view runs oauthlib's path, which
gives the error its usual answer (RFC 6749 §5.2) and journals a replayed code.

Rules held for what this path grants (as identity/op.py's validator does for oauthlib):

- client_secret_basic or client_secret_post (not both), the secret checked against its keyed hash,
  for a confidential client of the authorization code grant whose service provider is registered
  for a secret;
- the code exists for this client, locked until commit (a concurrent redemption waits, then finds it
  deleted, and oauthlib's path treats it as a replay), not expired, its Authorization not redeemed;
- redirect_uri present and equal to the one of the authorization request;
- PKCE: with a challenge, S256 and a matching code_verifier; without one, no code_verifier;
- the code's scopes (openid among them) are the token's; no refresh token;
- ID token claims and signature from identity.op.id_token_for, as oauthlib's path; token.issued
  journaled in the transaction of the writes.
"""

import base64
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpResponse
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, IDToken
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import generate_token

from identity import events, op
from identity.hashers import ALGORITHM, ClientSecretHasher
from identity.models import Authorization, CitizenIdentity, ClientAuthMethod
from platform_core.db.compiled import CompiledQuery
from protection import journal
from protection.fields import EncryptedTextField
from protection.pseudonyms import pseudonym_for

# The forms Django parses into request.POST, as django-oauth-toolkit reads the body.
FORMS = {"application/x-www-form-urlencoded", "multipart/form-data"}
_PARAMETERS = {"grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier"}
_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"}

_GRANT_READ = CompiledQuery(
    lambda code, client_id: (
        Grant.objects.select_related("application")
        .select_for_update(of=("self",))
        .filter(code=code, application__client_id=client_id)
    ),
    "code",
    "client_id",
)
# The ID token needs the pivot identity's hash only (the pairwise sub): its encrypted fields stay unread.
_ENCRYPTED = [f"user__pivot_identity__{field.name}" for field in CitizenIdentity._meta.concrete_fields
              if isinstance(field, EncryptedTextField)]  # fmt: skip
_AUTHORIZATION_READ = CompiledQuery(
    lambda code_hash: (
        Authorization.objects.select_related(
            "service_provider__organisation", "provider", "user__pivot_identity"
        )
        .defer(*_ENCRYPTED)
        .filter(code_hash=code_hash)
    ),
    "code_hash",
)


def _write_sql() -> str:
    """The ID token, the access token (its value never stored: RFC 9700 storage, as
    django-oauth-toolkit's set_token_value, the checksum only), the redemption and the code's deletion,
    in one statement. Table names from the models, never from input."""
    id_tokens, access_tokens = IDToken._meta.db_table, AccessToken._meta.db_table
    authorizations, grants = Authorization._meta.db_table, Grant._meta.db_table
    return f"""
WITH id_token AS (
  INSERT INTO {id_tokens} (jti, expires, scope, created, updated, application_id, user_id)
  VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id
), access AS (
  INSERT INTO {access_tokens} (token, token_checksum, expires, scope, application_id, user_id,
                               created, updated, source_refresh_token_id, id_token_id, resource)
  SELECT '', %s, %s, %s, %s, %s, %s, %s, NULL, id_token.id, '[]'::jsonb FROM id_token RETURNING id
), redeemed AS (
  UPDATE {authorizations} SET access_token_id = access.id, redeemed_at = %s FROM access
   WHERE {authorizations}.id = %s
)
DELETE FROM {grants} WHERE id = %s"""  # noqa: S608


_WRITE_SQL = _write_sql()


class _NotHere(Exception):
    """A rule this path does not grant on: oauthlib's path answers the request."""


def _client(request) -> tuple[str, str] | None:
    """(client_id, secret) of client_secret_basic or client_secret_post, or None."""
    params = request.POST
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
        return (client_id, secret) if client_id and secret else None
    if not header.startswith("Basic ") or "client_secret" in params:
        return None
    presented = op.basic_credentials(header[6:])
    if presented is None or not all(presented) or params.get("client_id", presented[0]) != presented[0]:
        return None
    return presented


def _pkce_holds(grant: Grant, verifier: str | None) -> bool:
    if not grant.code_challenge:
        return verifier is None
    if grant.code_challenge_method != "S256" or not verifier:
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == grant.code_challenge


def _at_hash(access_token: str) -> str:
    """OpenID Connect Core §3.1.3.6 (as oauthlib's id_token_hash): left half of SHA-256, base64url."""
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def redeem(request) -> HttpResponse | None:
    """The token response for a code this path may grant (see the module docstring), or None."""
    params = request.POST
    if (
        not oauth2_settings.COMPLIANT_BCP_RFC9700_TOKEN_STORAGE  # tokens stored as django-oauth-toolkit would
        or oauth2_settings.ACCESS_TOKEN_GENERATOR  # and generated as its server would
        or request.method != "POST"
        or request.content_type not in FORMS
        or request.FILES
        or request.META.get("QUERY_STRING")
        or "HTTP_ORIGIN" in request.META
        or params.get("grant_type") != "authorization_code"
        or not set(params) <= _PARAMETERS
        or any(len(values) != 1 for _name, values in params.lists())
    ):
        return None
    client = _client(request)
    code, redirect_uri = params.get("code", ""), params.get("redirect_uri", "")
    if client is None or not code or not redirect_uri:
        return None
    try:
        with transaction.atomic():
            body = _redeem(client, code, redirect_uri, params.get("code_verifier"))
    except _NotHere:
        return None
    response = HttpResponse(body, status=200)
    for key, value in _HEADERS.items():
        response[key] = value
    return response


def _redeem(client: tuple[str, str], code: str, redirect_uri: str, verifier: str | None) -> str:
    client_id, secret = client
    grant = _GRANT_READ.first(code=code, client_id=client_id)
    if grant is None:
        raise _NotHere  # unknown client or code, or a code redeemed already (a replay)
    application = grant.application
    if (
        application.client_type != "confidential"
        or application.authorization_grant_type != "authorization-code"
        or application.cimd_expires_at is not None
        or not application.client_secret.startswith(f"{ALGORITHM}$")
        or not ClientSecretHasher().verify(secret, application.client_secret)
    ):
        raise _NotHere
    authorization = _AUTHORIZATION_READ.first(code_hash=op.code_hash(code))
    if authorization is None:
        raise _NotHere
    service = authorization.service_provider
    scopes = grant.scope.split(" ")
    if (
        service.application_id != application.pk
        or service.auth_method not in (ClientAuthMethod.SECRET_BASIC, ClientAuthMethod.SECRET_POST)
        or authorization.redeemed_at is not None
        or authorization.user_id != grant.user_id
        or grant.is_expired()
        or grant.redirect_uri != redirect_uri
        or grant.resource
        or "openid" not in scopes
        or not _pkce_holds(grant, verifier)
    ):
        raise _NotHere
    service.application = application
    user = authorization.user
    now = timezone.now()
    lifetimes = settings.OAUTH2_PROVIDER
    access_token = generate_token()
    expires_in = lifetimes["ACCESS_TOKEN_EXPIRE_SECONDS"]
    id_expires = now + timedelta(seconds=lifetimes["ID_TOKEN_EXPIRE_SECONDS"])
    # What oauthlib's grant puts in the ID token before identity.op completes it.
    claims = {"aud": client_id, "iat": int(now.timestamp())}
    if grant.nonce:
        claims["nonce"] = grant.nonce
    claims["at_hash"] = _at_hash(access_token)
    id_token = op.id_token_for(
        claims, authorization, user, nonce=grant.nonce or None, issued_at=now, expires=id_expires
    )
    scope = " ".join(scopes)
    connection = connections[DEFAULT_DB_ALIAS]
    with connection.prepared_cursor() as cursor:
        cursor.execute(
            _WRITE_SQL,
            [
                claims["jti"], id_expires, scope, now, now, application.pk, user.pk,
                hashlib.sha256(access_token.encode()).hexdigest(), now + timedelta(seconds=expires_in), scope,
                application.pk, user.pk, now, now,
                now, authorization.pk,
                grant.pk,
            ],
        )  # fmt: skip
    journal.record(
        events.TOKEN_ISSUED.code,
        actor=application,
        organisation=service.organisation,
        subject=pseudonym_for(str(user.public_id)),
        data={**op.journal_context(authorization), "scopes": sorted(scopes)},
    )
    return json.dumps(
        {
            "access_token": access_token,
            "expires_in": expires_in,
            "token_type": "Bearer",
            "scope": scope,
            "id_token": id_token,
        }
    )
