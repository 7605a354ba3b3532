"""Maillage as the OpenID provider of service providers ("FS"): django-oauth-toolkit's validator,
extended where FranceConnect v2 asks more of it.

- Redirect URIs match exactly (trailing slash included); scopes are those the FS may ask for.
- Client authentication: ``client_secret_basic``/``client_secret_post`` (keyed hash, identity/hashers.py)
  and ``private_key_jwt`` (RFC 7523, the FS's registered JWKS, single-use ``jti``); a public FS uses
  PKCE S256 instead.
- A code is redeemed once, under a row lock; a replayed code revokes the tokens it gave (RFC 6749 §4.1.2).
- ID tokens are signed ES256 or RS256 (per FS) with the keyring of identity/op_keys.py, and carry
  ``acr``, ``amr``, ``idp_id``, ``auth_time`` and the pairwise ``sub``.
- Every token issued, replay and revocation is journaled in the transaction that writes it.
"""

import base64
import binascii
import hashlib
import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from jwcrypto import jwk, jwt
from jwcrypto.common import JWException
from oauth2_provider.models import AccessToken, Grant, IDToken, RefreshToken
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from oauthlib import openid

from identity import claims as claim_rules
from identity import data_scopes, events, op_keys
from identity.enums import UserKind
from identity.models import Authorization, CitizenIdentity, ClientAuthMethod, ServiceProvider, User
from identity.pivot import PivotIdentity
from platform_core.enums import MembershipRole
from platform_core.models import Membership
from protection import journal
from protection.pseudonyms import pseudonym_for

logger = logging.getLogger(__name__)
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_MAX_AGE = 300  # seconds a client assertion may live


def issuer() -> str:
    return f"{settings.PUBLIC_URL}/api/v2"


def basic_credentials(encoded: str) -> tuple[str, str] | None:
    """(client_id, secret) of an HTTP Basic value (RFC 6749 §2.3.1: each form-urlencoded), or None."""
    try:
        client_id, secret = base64.b64decode(encoded, validate=True).decode().split(":", 1)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return unquote_plus(client_id), unquote_plus(secret)


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign(claims: dict, alg: str) -> str:
    """A compact JWS of ``claims`` with the active key of ``alg`` (its kid in the header).

    Built here rather than by jwcrypto's JWT, which copies its header registries and rebuilds the
    cryptography key for every token (a third of userinfo's signing cost); verified by jwcrypto alike."""
    key = op_keys.keyring().active(alg)
    header = json.dumps({"alg": alg, "kid": key.kid, "typ": "JWT"}, separators=(",", ":"))
    signing_input = f"{_b64(header.encode())}.{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    return f"{signing_input}.{_b64(key.sign(signing_input.encode('ascii')))}"


class InvalidOwnToken(ValueError):
    pass


def verify_own(token: str, *, check_expiry: bool = True) -> dict:
    """The claims of a JWT Maillage signed (any published key, found by kid); InvalidOwnToken else."""
    published = jwk.JWKSet()
    for entry in op_keys.keyring().published():
        published.add(jwk.JWK(**entry))
    try:
        parsed = jwt.JWT(
            jwt=token,
            key=published,
            algs=list(op_keys.ALGORITHMS),
            check_claims={"exp": None} if check_expiry else False,
            expected_type="JWS",
        )
        claims = json.loads(parsed.claims)
    except (JWException, ValueError, TypeError) as error:
        raise InvalidOwnToken(str(error)) from error
    if not isinstance(claims, dict) or claims.get("iss") != issuer():
        raise InvalidOwnToken("not issued by Maillage")
    return claims


def pivot_identity_of(user: User) -> CitizenIdentity | None:
    """The citizen's pivot identity (the related row, when already loaded with select_related)."""
    if user.kind != "citizen":
        return None
    try:
        return user.pivot_identity
    except CitizenIdentity.DoesNotExist:
        return None


def subject_for(user: User, service: ServiceProvider) -> str:
    """The pairwise subject of a person at a service's sector (identity hash for citizens)."""
    identity = pivot_identity_of(user)
    basis = identity.identity_hash if identity is not None else f"account:{user.public_id}"
    return claim_rules.pairwise_subject(service.sector, basis)


def pivot_of(citizen: CitizenIdentity) -> PivotIdentity:
    return PivotIdentity(
        given_name=citizen.given_name,
        family_name=citizen.family_name,
        birthdate=citizen.birthdate,
        gender=citizen.gender,
        birthplace=citizen.birthplace,
        birthcountry=citizen.birthcountry,
        preferred_username=citizen.preferred_username,
        email=citizen.email,
    )


def claims_of(user: User, scopes: list[str], *, subject: str, amr: list[str]) -> dict:
    """What the granted scopes let the service read about this person, in FranceConnect formats (data
    scopes are not claims: the service fetches those data through the exchange gateway)."""
    scopes = [scope for scope in scopes if scope in claim_rules.CLAIMS_BY_SCOPE]
    identity = pivot_identity_of(user)
    if identity is not None:
        return claim_rules.claims_for(pivot_of(identity), scopes, subject=subject, amr=amr)
    # Agents and company representatives: the identity their FI vouched for (ProConnect-like claims);
    # uid is the pairwise subject, never an identifier another service could link.
    allowed = claim_rules.granted_claims(scopes)
    role = MembershipRole.AGENT if user.kind == UserKind.AGENT else MembershipRole.REPRESENTATIVE
    membership = (
        Membership.objects.filter(user=user, role=role).select_related("organisation").order_by("-pk").first()
    )
    organisation = membership.organisation if membership else None
    values = {
        "sub": subject,
        "uid": subject,
        "given_name": user.first_name,
        "family_name": user.last_name,
        "usual_name": user.last_name,
        "email": user.email,
        "amr": amr,
        "siret": organisation.siret if organisation and user.kind == UserKind.AGENT else None,
        "siren": organisation.siren if organisation else None,
    }
    return {claim: value for claim, value in values.items() if claim in allowed and value is not None}


def id_token_for(
    id_token: dict, authorization: Authorization, user: User, *, nonce, issued_at: datetime, expires: datetime
) -> str:
    """The signed ID token of a redeemed code: Maillage's claims over oauthlib's (aud, iat, nonce,
    at_hash), which ``id_token`` holds; it gets the jti too. ``iat`` is ``issued_at``, the instant
    ``expires`` was counted from, so that ``exp - iat`` is the configured lifetime to the second."""
    service = authorization.service_provider
    id_token.update(
        iss=issuer(),
        aud=service.client_id,
        sub=subject_for(user, service),
        iat=int(issued_at.timestamp()),
        exp=int(expires.timestamp()),
        auth_time=int(authorization.auth_time.timestamp()),
        acr=authorization.acr,
        amr=authorization.amr,
        idp_id=authorization.provider.slug if authorization.provider else "",
        jti=str(uuid.uuid4()),
    )
    if nonce:
        id_token["nonce"] = nonce
    return sign(id_token, service.signing_alg)


def journal_context(authorization: Authorization) -> dict:
    return {
        "fs": authorization.service_provider.client_id,
        "fi": authorization.provider.slug if authorization.provider else "",
        "acr": authorization.acr,
    }


def revoke_authorization_tokens(authorization: Authorization) -> int:
    """Delete the tokens a code gave (access, refresh, ID token): a replay means the code leaked."""
    token = authorization.access_token
    if token is None:
        return 0
    RefreshToken.objects.filter(access_token=token).delete()
    id_token = token.id_token
    token.delete()
    if id_token is not None:
        id_token.delete()
    return 1


class MaillageValidator(OAuth2Validator):
    # --- authorization request -------------------------------------------------------------------
    def validate_redirect_uri(self, client_id, redirect_uri, request, *args, **kwargs):
        return redirect_uri in request.client.redirect_uris.split()

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs):
        grant = self._grant(code, request)
        if grant is None or grant.application_id != client.pk:
            grant = Grant.objects.filter(code=code, application=client).first()
        return grant is not None and grant.redirect_uri == redirect_uri

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        service = ServiceProvider.objects.filter(application=client).first()
        if service is None or not set(scopes) <= set(service.scope_list):
            return False
        data = data_scopes.resolve(scopes, service)
        return all(
            scope in claim_rules.CLAIMS_BY_SCOPE or (scope in data and data[scope].authorized)
            for scope in scopes
        )

    def is_pkce_required(self, client_id, request):
        return request.client is not None and request.client.client_type == "public"

    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        super().save_authorization_code(client_id, code, request, *args, **kwargs)
        context = request.maillage  # set by identity/op_views.py from the completed sign-in
        Authorization.objects.create(
            code_hash=code_hash(code["code"]),
            service_provider_id=context["service"],
            user=request.user,
            provider_id=context["fi"],
            acr=context["acr"],
            amr=context["amr"],
            auth_time=datetime.fromtimestamp(context["auth_time"], tz=UTC),
            session_key=context.get("session_key", ""),
        )

    # --- client authentication -------------------------------------------------------------------
    def authenticate_client(self, request, *args, **kwargs):
        if getattr(request, "client_assertion_type", None) == JWT_BEARER:
            return self._authenticate_assertion(request)
        if not super().authenticate_client(request, *args, **kwargs):
            return False
        service = self._service(request)
        # A client registered for private_key_jwt never proves itself with a shared secret.
        return service is not None and service.auth_method in (
            ClientAuthMethod.SECRET_BASIC,
            ClientAuthMethod.SECRET_POST,
        )

    @staticmethod
    def _service(request) -> ServiceProvider | None:
        """The service provider of request.client, read once per request."""
        cached = getattr(request, "_maillage_service", None)
        if cached is None or cached.application_id != request.client.pk:
            cached = (
                ServiceProvider.objects.select_related("organisation")
                .filter(application=request.client)
                .first()
            )
            if cached is not None:
                cached.application = request.client
            request._maillage_service = cached
        return cached

    # --- the code's grant, read once per token request (under its row lock) ----------------------------
    def _grant(self, code: str, request, client=None) -> Grant | None:
        cached = getattr(request, "_maillage_grant", None)
        if cached is not None and cached.code == code:
            return cached
        query = Grant.objects.select_related("user").filter(code=code)
        if client is not None:
            query = query.filter(application=client)
        if transaction.get_connection().in_atomic_block:
            query = query.select_for_update(of=("self",))
        grant = query.first()
        request._maillage_grant = grant
        return grant

    def get_authorization_code_scopes(self, client_id, code, redirect_uri, request):
        grant = self._grant(code, request)
        return grant.scope.split() if grant is not None and grant.scope else []

    def get_authorization_code_nonce(self, client_id, code, redirect_uri, request):
        grant = self._grant(code, request)
        return (grant.nonce or None) if grant is not None else None

    def get_code_challenge(self, code, request):
        grant = self._grant(code, request)
        return (grant.code_challenge or None) if grant is not None else None

    def get_code_challenge_method(self, code, request):
        grant = self._grant(code, request)
        return (grant.code_challenge_method or None) if grant is not None else None

    def client_authentication_required(self, request, *args, **kwargs):
        if getattr(request, "client_assertion_type", None):
            return True
        return super().client_authentication_required(request, *args, **kwargs)

    def _authenticate_assertion(self, request) -> bool:
        """private_key_jwt (RFC 7523 §3): iss = sub = client_id, aud = our token endpoint, a short
        exp, a jti used once, signed by a key of the FS's registered JWKS."""
        assertion = getattr(request, "client_assertion", None) or ""
        try:
            token = jwt.JWT()
            token.deserialize(assertion)
            payload = json.loads(token.token.objects["payload"])
            client_id = payload.get("iss")
        except (JWException, ValueError, TypeError, KeyError, AttributeError):
            return False
        if not isinstance(client_id, str) or (request.client_id and request.client_id != client_id):
            return False
        if self._load_application(client_id, request) is None:
            return False
        service = ServiceProvider.objects.filter(application=request.client).first()
        if service is None or service.auth_method != ClientAuthMethod.PRIVATE_KEY_JWT or not service.jwks:
            return False
        try:
            keys = jwk.JWKSet.from_json(json.dumps(service.jwks))
            verified = jwt.JWT(
                jwt=assertion,
                key=keys,
                algs=["ES256", "RS256", "PS256"],
                check_claims={"iss": client_id, "sub": client_id, "exp": None, "jti": None},
            )
            claims = json.loads(verified.claims)
        except (JWException, ValueError, TypeError) as error:
            logger.info("client assertion refused for %s: %s", client_id, error)
            return False
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if f"{issuer()}/token" not in audiences and issuer() not in audiences:
            return False
        if claims["exp"] > time.time() + ASSERTION_MAX_AGE:
            return False
        jti_key = f"op:assertion:{client_id}:{hashlib.sha256(str(claims['jti']).encode()).hexdigest()}"
        if not cache.add(jti_key, 1, timeout=ASSERTION_MAX_AGE + 60):
            return False  # replayed assertion
        request.client_id = client_id
        return True

    # --- code redemption -------------------------------------------------------------------------
    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        # The lock makes a second, concurrent redemption wait and then find the code gone.
        grant = self._grant(code, request) if transaction.get_connection().in_atomic_block else None
        if grant is not None and grant.application_id != client.pk:
            grant = None
        authorization = (
            Authorization.objects.select_related(
                "service_provider__organisation", "provider", "user__pivot_identity"
            )
            .filter(code_hash=code_hash(code))
            .first()
        )
        if grant is None:
            if authorization is not None and authorization.service_provider.application_id == client.pk:
                revoked = revoke_authorization_tokens(authorization)
                journal.record(
                    events.CODE_REPLAYED.code,
                    actor=client,
                    organisation=authorization.service_provider.organisation,
                    subject=pseudonym_for(str(authorization.user.public_id)),
                    outcome="failure",
                    data={**journal_context(authorization), "revoked": revoked},
                )
            return False
        if grant.is_expired() or authorization is None or authorization.redeemed_at is not None:
            return False
        request.scopes = grant.scope.split(" ")
        request.user = authorization.user if authorization.user_id == grant.user_id else grant.user
        request.nonce = grant.nonce or None
        authorization.service_provider.application = client
        request.maillage_authorization = authorization
        return True

    def _load_id_token(self, token):
        try:
            claims = verify_own(token)
        except InvalidOwnToken:
            return None
        return IDToken.objects.filter(jti=claims.get("jti", "")).first()

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        access = AccessToken(
            user=request.user,
            scope=token["scope"],
            expires=expires,
            id_token=getattr(request, "id_token", None),  # just saved by finalize_id_token: no re-read
            application=request.client,
            source_refresh_token=source_refresh_token,
            resource=getattr(request, "resource", []),
        )
        self._set_token_value(access, token["access_token"])
        access.save()
        request.maillage_access_token = access
        return access

    def _save_bearer_token(self, token, request, *args, **kwargs):
        super()._save_bearer_token(token, request, *args, **kwargs)
        authorization = getattr(request, "maillage_authorization", None)
        if authorization is None:
            return
        authorization.access_token = request.maillage_access_token
        authorization.redeemed_at = timezone.now()
        authorization.save(update_fields=["access_token", "redeemed_at"])
        journal.record(
            events.TOKEN_ISSUED.code,
            actor=request.client,
            organisation=authorization.service_provider.organisation,
            subject=pseudonym_for(str(request.user.public_id)),
            data={**journal_context(authorization), "scopes": sorted(request.scopes)},
        )

    # --- ID token --------------------------------------------------------------------------------
    def get_oidc_issuer_endpoint(self, request):
        return issuer()

    def finalize_id_token(self, id_token, token, token_handler, request):
        now = timezone.now()
        expires = now + timedelta(seconds=settings.OAUTH2_PROVIDER["ID_TOKEN_EXPIRE_SECONDS"])
        serialized = id_token_for(
            id_token,
            request.maillage_authorization,
            request.user,
            nonce=request.nonce,
            issued_at=now,
            expires=expires,
        )
        saved = self._save_id_token(id_token["jti"], request, expires)
        request.access_token = saved
        request.id_token = saved
        return serialized

    def _save_id_token(self, jti, request, expires, *args, **kwargs):
        return IDToken.objects.create(
            user=request.user,
            scope=" ".join(request.scopes),
            expires=expires,
            jti=jti,
            application=request.client,
        )

    # --- revocation (RFC 7009) -------------------------------------------------------------------
    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        found = self._load_access_token(token)
        super().revoke_token(token, token_type_hint, request, *args, **kwargs)
        if found is not None and found.application_id == request.client.pk:
            journal.record(
                events.TOKEN_REVOKED.code,
                actor=request.client,
                subject=pseudonym_for(str(found.user.public_id)) if found.user else None,
                data={"fs": request.client.client_id},
            )


class Server(openid.Server):
    """oauthlib's OpenID server, authorization code only and without refresh tokens (as FranceConnect):
    a service asks the person again rather than holding a long-lived credential."""

    def __init__(self, request_validator, *args, **kwargs):
        super().__init__(request_validator, *args, **kwargs)
        self.auth_grant.refresh_token = False
        self.openid_connect_auth.proxy_target.refresh_token = False


class Scopes(BaseScopes):
    """The scopes of identity/claims.py; a service may use those it was registered for."""

    def get_all_scopes(self):
        return {scope: scope for scope in claim_rules.SUPPORTED_SCOPES}

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        service = ServiceProvider.objects.filter(application=application).first() if application else None
        return service.scope_list if service else []

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return ["openid"]
