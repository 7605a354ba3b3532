"""Maillage's OpenID provider for service providers ("FS"), FranceConnect v2 compatible, under /api/v2.

authorize → (FI choice → FI → identity/views.callback) → ``resume`` (consent for a private FS, an
information page for a public one) → code → token → userinfo; session/end ends both sessions and
returns to the FS. The authorization request waits in the person's session under an interaction id
(at most MAX_PENDING, for PENDING_TTL seconds) while they sign in with their identity provider.

What FranceConnect requires of an authorization request is checked before django-oauth-toolkit's own
checks: a request whose client or redirect URI is wrong gets a readable page (it must never redirect
to an unregistered address); any other error goes back to the FS as ``error``/``error_description``
with its ``state`` (OpenID Connect Core §3.1.2.6).
"""

import hashlib
import json
import logging
import secrets
import time

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from oauth2_provider import views as oauth_views
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.oauth2_backends import OAuthLibCore
from oauthlib.oauth2.rfc6749.errors import FatalClientError, OAuth2Error

from identity import claims as claim_rules
from identity import data_scopes, events, federation, op, op_keys, op_token
from identity.enums import EidasLevel
from identity.models import Authorization, Consent, IdentityProvider, ProviderBlock, ServiceProvider
from platform_core.db.compiled import CompiledQuery
from protection import journal
from protection.pseudonyms import pseudonym_for
from protection.ratelimit import rate_limited

logger = logging.getLogger(__name__)
PENDING_KEY = "op_pending"
MAX_PENDING = 5
PENDING_TTL = 900  # seconds a person has to choose and use an identity provider
MIN_NONCE = 22
MAX_PARAM = 512
ALLOWED_PROMPTS = {"login", "consent"}
FS_RETURN_KEY = "op_logout_return"

CLAIM_LABELS = {
    "sub": _("Identifiant technique propre à ce service"),
    "given_name": _("Prénoms"),
    "given_name_array": _("Prénoms (liste)"),
    "family_name": _("Nom de naissance"),
    "birthdate": _("Date de naissance"),
    "gender": _("Sexe"),
    "preferred_username": _("Nom d'usage"),
    "birthplace": _("Lieu de naissance"),
    "birthcountry": _("Pays de naissance"),
    "email": _("Adresse électronique"),
    "idp_birthdate": _("Date de naissance (fournisseur d'identité)"),
    "amr": _("Méthode d'authentification"),
    "usual_name": _("Nom d'usage"),
    "uid": _("Identifiant technique propre à ce service"),
    "siret": _("SIRET de votre organisation"),
    "siren": _("SIREN de votre entreprise"),
}


def _page(request, status: int, title, lead, explanation=""):
    context = {
        "status": status,
        "title": title,
        "lead": lead,
        "explanation": explanation,
        "pictogram": "system/warning" if status < 500 else "system/technical-error",
    }
    return render(request, "errors/error.html", context, status=status)


def _service(client_id: str) -> ServiceProvider | None:
    if not client_id or "\x00" in client_id or len(client_id) > 100:
        return None
    return (
        ServiceProvider.objects.select_related("application", "organisation")
        .filter(application__client_id=client_id)
        .first()
    )


class AuthorizationRefused(Exception):
    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error, self.description = error, description


def _check_request(params, service: ServiceProvider) -> dict:
    """FranceConnect's rules for an authorization request; AuthorizationRefused names the first broken."""
    if "request" in params:
        raise AuthorizationRefused("request_not_supported", "request objects are not supported")
    if "request_uri" in params:
        raise AuthorizationRefused("request_uri_not_supported", "request_uri is not supported")
    if params.get("response_type") != "code":
        raise AuthorizationRefused("unsupported_response_type", "response_type must be code")
    scopes = params.get("scope", "").split()
    if "openid" not in scopes:
        raise AuthorizationRefused("invalid_scope", "scope must contain openid")
    data = data_scopes.resolve(scopes, service)
    unknown = sorted(set(data_scopes.others(scopes)) - set(data))
    if unknown:
        raise AuthorizationRefused("invalid_scope", f"unknown scope: {' '.join(unknown)[:100]}")
    refused = sorted(set(scopes) - set(service.scope_list))
    if refused:
        raise AuthorizationRefused("invalid_scope", f"scope not allowed for this client: {' '.join(refused)}")
    uncovered = sorted(code for code, scope in data.items() if not scope.authorized)
    if uncovered:
        raise AuthorizationRefused(
            "invalid_scope", f"no authorization in force for these data scopes: {' '.join(uncovered)}"
        )
    state, nonce = params.get("state", ""), params.get("nonce", "")
    if not state:
        raise AuthorizationRefused("invalid_request", "state is required")
    if len(nonce) < MIN_NONCE:
        raise AuthorizationRefused(
            "invalid_request", f"nonce is required, of at least {MIN_NONCE} characters"
        )
    if len(state) > MAX_PARAM or len(nonce) > MAX_PARAM:
        raise AuthorizationRefused("invalid_request", f"state and nonce are limited to {MAX_PARAM} chars")
    acr_values = params.get("acr_values", "")
    if not acr_values.strip():
        raise AuthorizationRefused("invalid_request", "acr_values is required")
    prompt = set(params.get("prompt", "").split())
    if not prompt <= ALLOWED_PROMPTS:
        raise AuthorizationRefused("invalid_request", "prompt accepts login and consent only")
    challenge, method = params.get("code_challenge", ""), params.get("code_challenge_method", "")
    if challenge or method:
        if method != "S256":
            raise AuthorizationRefused("invalid_request", "code_challenge_method must be S256")
        if not (43 <= len(challenge) <= 128):
            raise AuthorizationRefused("invalid_request", "code_challenge is malformed")
    elif service.application.client_type == "public":
        raise AuthorizationRefused("invalid_request", "public clients must use PKCE (S256)")
    max_age = params.get("max_age", "")
    if max_age and not (max_age.isdigit() and len(max_age) <= 9):
        raise AuthorizationRefused("invalid_request", "max_age must be a number of seconds")
    claims_param = params.get("claims", "")
    if claims_param:
        try:
            if not isinstance(json.loads(claims_param), dict):
                raise ValueError
        except ValueError:
            raise AuthorizationRefused("invalid_request", "claims must be a JSON object") from None
    return {
        "scopes": scopes,
        "acr": service.eidas_level_for(acr_values),
        "prompt": sorted(prompt),
        "max_age": int(max_age) if max_age else None,
        "idp_hint": params.get("idp_hint", "")[:64],
        "ui_locales": params.get("ui_locales", "")[:64],
    }


def _error_redirect(redirect_uri: str, error: str, description: str, state: str):
    params = {"error": error, "error_description": description, "iss": op.issuer()}
    if state:
        params["state"] = state
    return redirect(federation.with_query(redirect_uri, params))


def eligible_providers(service: ServiceProvider, acr: str, user=None):
    """Enabled FIs of the service's audience at or above ``acr``, by the service's allow/deny lists
    and the person's own blocks."""
    providers = IdentityProvider.objects.filter(
        enabled=True, audience=service.audience, eidas_level__gte=acr
    ).exclude(pk__in=service.denied_providers.values("pk"))
    allowed = service.allowed_providers.values("pk")
    if service.allowed_providers.exists():
        providers = providers.filter(pk__in=allowed)
    if user is not None and user.is_authenticated:
        providers = providers.exclude(pk__in=ProviderBlock.objects.filter(user=user).values("provider_id"))
    return providers


def _pending(request) -> dict:
    now = time.time()
    return {k: v for k, v in request.session.get(PENDING_KEY, {}).items() if v["at"] > now - PENDING_TTL}


def _locale(ui_locales: str) -> str:
    """The first of the service's ui_locales that Maillage speaks, or ""."""
    for tag in ui_locales.split():
        language = tag.split("-")[0].lower()
        if language in dict(settings.LANGUAGES):
            return language
    return ""


def waiting_request(request, next_url: str) -> tuple[str, bool]:
    """For a sign-in that resumes a service's waiting request at ``next_url``: the service's client_id
    (for the journal) and whether the FI must authenticate the person again (prompt=login, max_age)."""
    prefix = reverse("identity:op-resume", args=["x"])[: -len("x/")]
    found = (
        pending_for_choice(request, next_url[len(prefix) :].strip("/"))
        if next_url.startswith(prefix)
        else None
    )
    if found is None:
        return "", False
    service, entry = found
    return service.client_id, "login" in entry["prompt"] or entry.get("max_age") is not None


@never_cache
@require_http_methods(["GET", "POST"])
@csrf_exempt  # a cross-site request by design (OIDC Core §3.1.2.1 allows POST); nothing is changed
@rate_limited("sign_in")
def authorize(request):
    params = request.GET if request.method == "GET" else request.POST
    service = _service(params.get("client_id", ""))
    redirect_uri = params.get("redirect_uri", "")
    if service is None or redirect_uri not in service.redirect_uri_list:
        journal.record(
            events.AUTHORIZE_REFUSED.code,
            actor=service.application if service else None,
            outcome="failure",
            data={"fs": service.client_id if service else "", "reason": "unknown client or redirect_uri"},
        )
        return _page(
            request,
            400,
            _("Demande de connexion invalide"),
            _("Le service qui vous a envoyé ici n'est pas reconnu, ou son adresse de retour n'est pas "
              "enregistrée auprès de Maillage. Par sécurité, la connexion s'arrête là."),
            _("Revenez sur le site du service et réessayez ; si le problème persiste, signalez-le à "
              "ce service."),
        )  # fmt: skip
    state = params.get("state", "")[:MAX_PARAM]
    try:
        checked = _check_request(params, service)
        _scopes, credentials = OAuthLibCore().validate_authorization_request(request)
    except AuthorizationRefused as refusal:
        return _refuse(service, redirect_uri, refusal.error, refusal.description, state)
    except (OAuthToolkitError, FatalClientError, OAuth2Error) as error:
        oauth_error = getattr(error, "oauthlib_error", error)
        return _refuse(
            service,
            redirect_uri,
            getattr(oauth_error, "error", "invalid_request"),
            getattr(oauth_error, "description", "") or "invalid request",
            state,
        )
    interaction = secrets.token_urlsafe(16)
    pending = _pending(request)
    pending[interaction] = {
        "service": service.pk,
        "credentials": {
            key: sorted(value) if isinstance(value, set) else value
            for key, value in credentials.items()
            if key != "request"
        },
        **checked,
        "at": time.time(),
    }
    request.session[PENDING_KEY] = dict(sorted(pending.items(), key=lambda i: i[1]["at"])[-MAX_PENDING:])
    journal.record(
        events.AUTHORIZE_RECEIVED.code,
        actor=service.application,
        organisation=service.organisation,
        data={"fs": service.client_id, "acr": checked["acr"], "scopes": checked["scopes"]},
    )
    response = _next_step(request, service, interaction, pending[interaction])
    language = _locale(checked["ui_locales"])
    if language:  # the pages of this sign-in, in the service's language
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            samesite="Lax",
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        )
    return response


def _refuse(service, redirect_uri, error, description, state):
    journal.record(
        events.AUTHORIZE_REFUSED.code,
        actor=service.application,
        organisation=service.organisation,
        outcome="failure",
        data={"fs": service.client_id, "reason": error},
    )
    return _error_redirect(redirect_uri, error, description, state)


def _signed_in(request) -> dict:
    """How the person signed in to Maillage (identity/views.callback): FI, when, acr, amr."""
    from identity.views import SIGNED_IN_WITH

    return request.session.get(SIGNED_IN_WITH) or {}


def _session_provider(request, service: ServiceProvider, acr: str) -> IdentityProvider | None:
    """The FI of the person's current Maillage session when it can serve this request, else None."""
    signed_in = _signed_in(request)
    if not request.user.is_authenticated or not signed_in.get("fi"):
        return None
    if signed_in.get("at", 0) < time.time() - settings.SESSION_COOKIE_AGE:
        return None
    return eligible_providers(service, acr, request.user).filter(pk=signed_in["fi"]).first()


def _authenticated_within(request, max_age: int | None) -> bool:
    """OIDC max_age: the person authenticated with their FI at most ``max_age`` seconds ago."""
    return max_age is None or _signed_in(request).get("at", 0) >= time.time() - max_age


def _session_level(request, provider: IdentityProvider) -> str:
    """The eIDAS level the person's FI actually vouched for at sign-in (its acr claim)."""
    return _signed_in(request).get("acr") or provider.eidas_level


def _next_step(request, service, interaction, entry):
    from identity.views import redirect_to_provider

    resume_url = reverse("identity:op-resume", args=[interaction])
    current = _session_provider(request, service, entry["acr"])
    if (
        "login" not in entry["prompt"]
        and current
        and _session_level(request, current) >= entry["acr"]
        and _authenticated_within(request, entry.get("max_age"))
    ):
        return redirect(resume_url)
    force_login = "login" in entry["prompt"] or entry.get("max_age") is not None
    hinted = eligible_providers(service, entry["acr"], request.user).filter(slug=entry["idp_hint"]).first()
    if hinted is not None:
        return redirect_to_provider(request, hinted, resume_url, force_login=force_login)
    return redirect(f"{reverse('identity:fi-choice')}?interaction={interaction}")


def pending_for_choice(request, interaction: str):
    """(service, entry) of a waiting authorization request, for the FI choice page; None if gone."""
    entry = _pending(request).get(interaction)
    if entry is None:
        return None
    service = ServiceProvider.objects.select_related("application").filter(pk=entry["service"]).first()
    return (service, entry) if service else None


def _claims_to_transmit(entry, service) -> list[dict]:
    """The identity claims the scopes grant, then the data scopes (fetched later from their providers)."""
    identity_scopes = [scope for scope in entry["scopes"] if scope in claim_rules.CLAIMS_BY_SCOPE]
    names = sorted(claim_rules.granted_claims(identity_scopes))
    claims = [{"name": name, "label": CLAIM_LABELS.get(name, name)} for name in names]
    data = data_scopes.resolve(entry["scopes"], service)
    return claims + [
        {"name": code, "label": scope.label, "provider": scope.provider, "data": True}
        for code, scope in sorted(data.items())
    ]


@never_cache
@require_http_methods(["GET", "POST"])
def resume(request, interaction: str):
    """After the FI: consent (private FS) or information (public FS), then the code to the FS."""
    found = pending_for_choice(request, interaction)
    if found is None:
        return _page(
            request,
            400,
            _("Cette demande de connexion a expiré"),
            _("Revenez sur le site du service et recommencez la connexion."),
        )
    service, entry = found
    provider = _session_provider(request, service, entry["acr"])
    if provider is None:
        return redirect(f"{reverse('identity:fi-choice')}?interaction={interaction}")
    if _session_level(request, provider) < entry["acr"]:
        journal.record(
            events.AUTHORIZE_REFUSED.code,
            actor=service.application,
            organisation=service.organisation,
            subject=pseudonym_for(str(request.user.public_id)),
            outcome="failure",
            data={"fs": service.client_id, "fi": provider.slug, "acr": entry["acr"], "reason": "acr"},
        )
        return _page(
            request,
            403,
            _("Niveau de garantie insuffisant"),
            _("Ce service demande un niveau de garantie (eIDAS) plus élevé que celui de votre compte "
              "chez ce fournisseur d'identité. Choisissez un autre fournisseur d'identité."),
        )  # fmt: skip
    claims = _claims_to_transmit(entry, service)
    claim_names = [claim["name"] for claim in claims]
    subject = pseudonym_for(str(request.user.public_id))
    # A private service asks consent for what it receives; any service asks it for data fetched from
    # providers about the person ("dites-le-nous une fois"): the gateway checks that consent.
    asks_consent = service.private or any(claim.get("data") for claim in claims)
    consent = None
    if asks_consent:
        consent = Consent.objects.filter(
            user=request.user, service_provider=service, revoked_at__isnull=True
        ).first()
    consent_needed = asks_consent and (
        consent is None or not set(claim_names) <= set(consent.claims) or "consent" in entry["prompt"]
    )
    if request.method == "GET" and (consent_needed or not service.private):
        response = render(
            request,
            "identity/consent.html",
            {
                "service": service,
                "provider": provider,
                "claims": claims,
                "has_data": any(claim.get("data") for claim in claims),
                "consent_needed": consent_needed,
                "interaction": interaction,
            },
        )
        # The page's form is answered by a redirect to the service: CSP form-action must allow it.
        response._csp_update = {"form-action": [federation.origin(entry["credentials"]["redirect_uri"])]}
        return response
    if request.method == "POST" and request.POST.get("decision") == "refuse":
        with transaction.atomic():
            journal.record(
                events.CONSENT_REFUSED.code,
                actor=service.application,
                organisation=service.organisation,
                subject=subject,
                data={"fs": service.client_id, "fi": provider.slug, "claims": claim_names},
            )
        _drop(request, interaction)
        return _error_redirect(
            entry["credentials"]["redirect_uri"],
            "access_denied",
            "the user refused to share the requested data",
            entry["credentials"].get("state", ""),
        )
    if request.method == "POST" and request.POST.get("decision") != "accept":
        return redirect("identity:op-resume", interaction)
    return _issue_code(request, service, provider, entry, interaction, claim_names, consent_needed, subject)


def _drop(request, interaction):
    pending = request.session.get(PENDING_KEY, {})
    pending.pop(interaction, None)
    request.session[PENDING_KEY] = pending


def _issue_code(request, service, provider, entry, interaction, claim_names, consent_needed, subject):
    signed_in = _signed_in(request)
    acr = _session_level(request, provider)
    credentials = dict(entry["credentials"])
    credentials["maillage"] = {
        "service": service.pk,
        "fi": provider.pk,
        "acr": acr if acr in EidasLevel.values else entry["acr"],
        "amr": signed_in.get("amr") or [],
        "auth_time": signed_in.get("at", time.time()),
        "session_key": request.session.session_key or "",
    }
    journal_data = {"fs": service.client_id, "fi": provider.slug, "acr": credentials["maillage"]["acr"]}
    with transaction.atomic():
        if consent_needed:
            Consent.objects.filter(
                user=request.user, service_provider=service, revoked_at__isnull=True
            ).update(revoked_at=timezone.now())
            Consent.objects.create(user=request.user, service_provider=service, claims=claim_names)
            journal.record(
                events.CONSENT_GIVEN.code,
                actor=service.application,
                organisation=service.organisation,
                subject=subject,
                data={**journal_data, "claims": claim_names},
            )
        try:
            uri, _headers, _body, _status = OAuthLibCore().create_authorization_response(
                request, entry["scopes"], credentials, allow=True
            )
        except (OAuthToolkitError, FatalClientError, OAuth2Error) as error:
            logger.warning("authorization response refused: %s", error)
            transaction.set_rollback(True)
            return _page(
                request, 400, _("Connexion impossible"), _("Revenez sur le site du service et recommencez.")
            )
        journal.record(
            events.FS_SIGNED_IN.code,
            actor=service.application,
            organisation=service.organisation,
            subject=subject,
            data=journal_data,
        )
    _drop(request, interaction)
    return redirect(uri)


def _client_of(request) -> str | None:
    """The client_id a token-endpoint request claims (Basic or body), for its rate-limit counter."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Basic "):
        client_id, _secret = op.basic_credentials(header[6:]) or ("", "")
        return client_id[:100] or None
    return request.POST.get("client_id", "")[:100] or None


def _too_many(request):
    response = JsonResponse(
        {"error": "rate_limited", "error_description": "Too many requests; retry after the delay given."},
        status=429,
    )
    response["Cache-Control"] = "no-store"
    return response


limited = rate_limited("oidc", client=_client_of, refusal=_too_many)


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(limited, name="dispatch")
class TokenView(oauth_views.TokenView):
    """The code-for-token exchange, in one transaction: the code's row lock, the tokens and the journal."""

    def post(self, request, *args, **kwargs):
        # A confidential service redeeming a code it may redeem: identity/op_token.py, a quarter of the cost.
        # Anything else, errors included, goes through oauthlib.
        granted = op_token.redeem(request)
        if granted is not None:
            return granted
        # Not django-oauth-toolkit's post: it reads the new token back only to send its app_authorized
        # signal, which nothing here listens to (the journal entry is written with the token).
        with transaction.atomic():
            _url, headers, body, status = self.create_token_response(request)
        response = HttpResponse(content=body, status=status)
        for key, value in headers.items():
            response[key] = value
        return response


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(limited, name="dispatch")
class RevocationView(oauth_views.RevokeTokenView):
    def post(self, request, *args, **kwargs):
        with transaction.atomic():
            return super().post(request, *args, **kwargs)


def _bearer_error(status: int, error: str, description: str):
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["WWW-Authenticate"] = f'Bearer error="{error}", error_description="{description}"'
    response["Cache-Control"] = "no-store"
    return response


# The token (unique checksum) with the authorization, service, FI and person userinfo reads: compiled once.
_USERINFO_READ = CompiledQuery(
    lambda checksum: Authorization.objects.select_related(
        "access_token",
        "service_provider__organisation",
        "service_provider__application",
        "provider",
        "user__pivot_identity",
    ).filter(access_token__token_checksum=checksum),
    "checksum",
)


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
@limited
def userinfo(request):
    """The claims the token's scopes allow, as a JWT signed like the ID token (application/jwt)."""
    # The bearer token in the Authorization header only (RFC 6750 §2.1; never in a query string), found by
    # its checksum (tokens are stored hashed) with everything userinfo needs, in one query.
    scheme, _space, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return _bearer_error(401, "invalid_token", "The access token is missing, invalid or expired.")
    checksum = hashlib.sha256(value.strip().encode()).hexdigest()
    authorization = _USERINFO_READ.first(checksum=checksum)
    access = authorization.access_token if authorization is not None else None
    if access is None or not access.is_valid(["openid"]) or access.user_id != authorization.user_id:
        return _bearer_error(401, "invalid_token", "The access token is missing, invalid or expired.")
    service = authorization.service_provider
    scopes = access.scope.split()
    person = authorization.user  # the token's user, with their pivot identity loaded
    claims = op.claims_of(person, scopes, subject=op.subject_for(person, service), amr=authorization.amr)
    claims.update(iss=op.issuer(), aud=service.client_id, iat=int(time.time()))
    # The only write of this request: its own statement, committed or not with it (autocommit).
    journal.record(
        events.USERINFO_SERVED.code,
        actor=service.application,
        organisation=service.organisation,
        subject=pseudonym_for(str(person.public_id)),
        data={
            "fs": service.client_id,
            "fi": authorization.provider.slug if authorization.provider else "",
            "acr": authorization.acr,
            "fields": sorted(set(claims) - {"iss", "aud", "iat"}),
        },
    )
    response = HttpResponse(op.sign(claims, service.signing_alg), content_type="application/jwt")
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
@csrf_exempt
def session_end(request):
    """RP-initiated logout: a hint we signed, a registered post-logout URI, then both sessions end."""
    from identity.views import end_sessions

    params = request.GET if request.method == "GET" else request.POST
    hint = params.get("id_token_hint", "")
    try:
        claims = op.verify_own(hint, check_expiry=False) if hint else None
    except op.InvalidOwnToken:
        claims = None
    service = _service(claims.get("aud", "")) if isinstance(claims, dict) else None
    if service is None:
        return _page(
            request,
            400,
            _("Déconnexion impossible"),
            _(
                "La demande de déconnexion du service ne porte pas de jeton d'identité valide "
                "(id_token_hint)."
            ),  # fmt: skip
        )
    # ID tokens live 60 s; a hint is accepted as long as the session it opened could still exist.
    if claims.get("iat", 0) < time.time() - settings.SESSION_COOKIE_AGE:
        return _page(
            request,
            400,
            _("Déconnexion impossible"),
            _("Le jeton d'identité présenté par le service est trop ancien."),
        )
    return_uri = params.get("post_logout_redirect_uri", "")
    if return_uri and return_uri not in service.post_logout_uri_list:
        return _page(
            request,
            400,
            _("Déconnexion impossible"),
            _("L'adresse de retour demandée par le service n'est pas enregistrée auprès de Maillage."),
        )
    if return_uri and params.get("state"):
        return_uri = federation.with_query(return_uri, {"state": params["state"][:MAX_PARAM]})
    if request.user.is_authenticated:
        journal.record(
            events.FS_SIGNED_OUT.code,
            actor=service.application,
            organisation=service.organisation,
            subject=pseudonym_for(str(request.user.public_id)),
            data={"fs": service.client_id},
        )
    return end_sessions(request, return_to=return_uri)


@never_cache
def discovery(request):
    base = op.issuer()
    document = {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "end_session_endpoint": f"{base}/session/end",
        "revocation_endpoint": f"{base}/token/revocation",
        "jwks_uri": f"{base}/jwks",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise"],
        "scopes_supported": list(claim_rules.SUPPORTED_SCOPES),
        "claims_supported": sorted(
            {c for scope in claim_rules.CLAIMS_BY_SCOPE.values() for c in scope}
            | {"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "idp_id"}
        ),
        "acr_values_supported": list(EidasLevel.values),
        "prompt_values_supported": sorted(ALLOWED_PROMPTS),
        "id_token_signing_alg_values_supported": list(op_keys.ALGORITHMS),
        "userinfo_signing_alg_values_supported": list(op_keys.ALGORITHMS),
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "PS256"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "ui_locales_supported": [code for code, _name in settings.LANGUAGES],
        "frontchannel_logout_supported": False,
    }
    response = JsonResponse(document)
    response["Cache-Control"] = "public, max-age=300"
    return response
