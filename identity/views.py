"""Citizens sign in through an identity provider ("FI"): choice page, redirect to the FI, callback.

Each sign-in gets its own ``state``, ``nonce`` and PKCE verifier, kept in the session under the state
together with the FI it was issued for (at most MAX_PENDING at once, for PENDING_TTL seconds). The
callback accepts a state once, only from the FI it was issued for (mix-up defence: the ``iss``
parameter of RFC 9207 must name that FI when present, and must be present when the FI announces it),
then lets the backend check the FI's tokens. Every refusal is journaled and shown as a readable page.
"""

import logging
import secrets
import time
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from identity import data_scopes, events, federation, op_views, pivot, registry
from identity.backends import FederationBackend
from identity.enums import EidasLevel, ProviderAudience
from identity.models import Consent, IdentityProvider, ProviderBlock, ServiceProvider
from protection import events as protection_events
from protection import journal
from protection.pseudonyms import pseudonym_for
from protection.ratelimit import rate_limited
from protection.selectors import journal_for_person, person_identifiers

logger = logging.getLogger(__name__)
SESSION_KEY = "federation_pending"
SIGNED_IN_WITH = "federation_signed_in_with"
SIGN_OUT_STATE = "federation_sign_out_state"
MAX_PENDING = 5
PENDING_TTL = 600  # seconds
BACKEND = "identity.backends.FederationBackend"

# Readable pages for what can go wrong, by FederationError code (or our own codes).
_REFUSALS = {
    "interaction_unknown": (400, _("Cette demande de connexion a expiré"),
                            _("Revenez sur le site du service et recommencez la connexion.")),
    "state_unknown": (400, _("Cette connexion a expiré ou a déjà été utilisée"),
                      _("Recommencez la connexion depuis le service que vous utilisiez.")),
    "issuer_mismatch": (400, _("Réponse d'un autre fournisseur d'identité"),
                        _("La réponse ne vient pas du fournisseur d'identité que vous aviez choisi. "
                          "Par sécurité, la connexion est interrompue.")),
    "fi_error": (400, _("Le fournisseur d'identité n'a pas abouti"),
                 _("Le fournisseur d'identité a interrompu la connexion. Vous pouvez réessayer ou en "
                   "choisir un autre.")),
    "pivot_identity": (400, _("Identité incomplète"),
                       _("Le fournisseur d'identité n'a pas transmis une identité utilisable.")),
    "wrong_account": (403, _("Compte incompatible"),
                      _("Cette identité est rattachée à un autre type de compte Maillage.")),
    "deceased": (403, _("Connexion impossible"),
                 _("Le registre d'état civil indique que cette personne est décédée. Si c'est une erreur, "
                   "contactez la mairie de votre lieu de naissance ou le service d'état civil concerné.")),
    "unknown_person": (403, _("Identité non reconnue"),
                       _("Le registre d'état civil ne connaît pas cette identité. Vérifiez les informations "
                         "de votre compte auprès de votre fournisseur d'identité.")),
    "provider_blocked": (403, _("Fournisseur d'identité bloqué"),
                         _("Vous avez bloqué ce fournisseur d'identité pour vos connexions. Choisissez-en un "
                           "autre, ou débloquez-le depuis Mon espace.")),
    "registry_unavailable": (503, _("Vérification d'identité indisponible"),
                             _("Le registre d'état civil ne répond pas. Réessayez dans quelques minutes.")),
}  # fmt: skip
_FI_FAILURE = (
    502,
    _("Connexion impossible avec ce fournisseur d'identité"),
    _("La réponse du fournisseur d'identité n'a pas pu être vérifiée. Réessayez plus tard ou choisissez "
      "un autre fournisseur d'identité."),
)  # fmt: skip


def refuse(request, code: str, provider: IdentityProvider | None = None, detail: str = ""):
    status, title, explanation = _REFUSALS.get(code, _FI_FAILURE)
    journal.record(
        events.FI_REFUSED.code,
        actor=None,
        outcome="failure",
        data={"fi": provider.slug if provider else "", "reason": code},
    )
    logger.warning("identity provider sign-in refused (%s): %s", code, detail)
    page = {
        "status": status,
        "title": title,
        "lead": explanation,
        "explanation": _("Aucune information vous concernant n'a été conservée pour cette tentative."),
        "pictogram": "system/warning" if status < 500 else "system/technical-error",
    }
    return render(request, "errors/error.html", page, status=status)


SIGN_IN_AUDIENCES = (ProviderAudience.CITIZEN, ProviderAudience.AGENT, ProviderAudience.COMPANY)


@require_GET
def choice(request):
    """The FI choice: for Maillage itself, or for a service's waiting authorization request
    (``interaction``: only the FIs that service accepts at the level it asked for)."""

    providers = IdentityProvider.objects.filter(enabled=True, audience__in=SIGN_IN_AUDIENCES)
    next_url = request.GET.get("next", "")
    service = None
    interaction = request.GET.get("interaction", "")
    if interaction:
        found = op_views.pending_for_choice(request, interaction)
        if found is None:
            return refuse(request, "interaction_unknown")
        service, entry = found
        providers = op_views.eligible_providers(service, entry["acr"], request.user)
        next_url = reverse("identity:op-resume", args=[interaction])
    providers = list(providers)
    context = {
        "service": service,
        "providers": [p for p in providers if p.audience == ProviderAudience.CITIZEN],
        "agent_providers": [p for p in providers if p.audience == ProviderAudience.AGENT],
        "company_providers": [p for p in providers if p.audience == ProviderAudience.COMPANY],
        "next": next_url,
    }
    response = render(request, "identity/choice.html", context)
    allow_form_redirects(response, providers, "authorization_endpoint")
    return response


def allow_form_redirects(response, providers, endpoint: str) -> None:
    """Browsers apply a page's CSP form-action to where its forms' answers redirect: allow the
    origins of these FIs' ``endpoint`` (from their discovery documents; their issuer's otherwise)."""
    origins = set()
    for provider in providers:
        try:
            endpoint_url = getattr(federation.metadata(provider), endpoint) or provider.issuer
            origins.add(federation.origin(endpoint_url))
        except federation.FederationError:
            origins.add(federation.origin(provider.issuer))
    if origins:
        response._csp_update = {"form-action": sorted(origins)}


@require_POST
@rate_limited("sign_in")
def start(request, slug: str):
    provider = get_object_or_404(IdentityProvider, slug=slug, enabled=True, audience__in=SIGN_IN_AUDIENCES)
    next_url = request.POST.get("next", "")
    _service, force_login = op_views.waiting_request(request, next_url)
    return redirect_to_provider(request, provider, next_url, force_login=force_login)


def redirect_to_provider(request, provider: IdentityProvider, next_url: str, *, force_login: bool = False):
    """Send the person to ``provider`` with a fresh state, nonce and PKCE verifier; back to ``next_url``."""
    try:
        meta = federation.metadata(provider)
    except federation.FederationError as error:
        return refuse(request, error.code, provider, str(error))
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier, challenge = federation.new_pkce()
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = ""
    now = time.time()
    pending = {k: v for k, v in request.session.get(SESSION_KEY, {}).items() if v["at"] > now - PENDING_TTL}
    service, _force = op_views.waiting_request(request, next_url)
    pending[state] = {"fi": provider.pk, "nonce": nonce, "verifier": verifier, "next": next_url, "at": now,
                      "fs": service}  # fmt: skip
    request.session[SESSION_KEY] = dict(
        sorted(pending.items(), key=lambda item: item[1]["at"])[-MAX_PENDING:]
    )
    journal.record(
        events.FI_CHOSEN.code, actor=None, data={"fi": provider.slug, **({"fs": service} if service else {})}
    )
    url = federation.authorization_url(
        provider,
        meta,
        redirect_uri=callback_url(request),
        state=state,
        nonce=nonce,
        code_challenge=challenge,
        acr_values=provider.eidas_level,
    )
    if force_login:
        url = federation.with_query(url, {"prompt": "login"})
    return redirect(url)


def callback_url(request) -> str:
    return request.build_absolute_uri(reverse("identity:fi-callback"))


@require_GET
@rate_limited("sign_in")
def callback(request):
    pending = request.session.get(SESSION_KEY, {})
    entry = pending.pop(request.GET.get("state", ""), None)
    request.session[SESSION_KEY] = pending  # a state is used once, whatever happens next
    if entry is None or entry["at"] < time.time() - PENDING_TTL:
        return refuse(request, "state_unknown")
    provider = IdentityProvider.objects.filter(pk=entry["fi"], enabled=True).first()
    if provider is None:
        raise Http404
    try:
        meta = federation.metadata(provider)
    except federation.FederationError as error:
        return refuse(request, error.code, provider, str(error))
    issuer = request.GET.get("iss")
    if (issuer is not None and issuer != provider.issuer) or (
        issuer is None and meta.iss_parameter_supported
    ):
        return refuse(request, "issuer_mismatch", provider, f"iss={issuer!r}")
    if "error" in request.GET or not request.GET.get("code"):
        return refuse(request, "fi_error", provider, request.GET.get("error", "no code"))
    backend = FederationBackend(provider)
    for_service = {"fs": entry["fs"]} if entry.get("fs") else {}  # a service's sign-in, in the journal
    try:
        user = backend.authenticate(
            request,
            federation_callback={"code": request.GET["code"], "nonce": entry["nonce"],
                                 "verifier": entry["verifier"], "redirect_uri": callback_url(request)},
        )  # fmt: skip
    except federation.FederationError as error:
        return refuse(request, error.code, provider, str(error))
    except pivot.PivotIdentityError as error:
        return refuse(request, "pivot_identity", provider, str(error))
    except registry.RegistryRefusal as error:
        journal.record(
            events.REGISTRY_CHECKED.code,
            actor=None,
            outcome="failure",
            data={"fi": provider.slug, "result": error.code, **for_service},
        )
        return refuse(request, error.code, provider, str(error))
    if ProviderBlock.objects.filter(user=user, provider=provider).exists():
        return refuse(request, "provider_blocked", provider, f"blocked by {user.public_id}")
    claims = backend.id_token_claims
    waiting = request.session.get(op_views.PENDING_KEY)  # a service's requests survive the new session
    login(request, user, backend=BACKEND)
    if waiting:
        request.session[op_views.PENDING_KEY] = waiting
    # For logout: the FI's session ends with it, the ID token as hint (identity/views.sign_out);
    # for services: when and how well this person was authenticated.
    acr = str(claims.get("acr", ""))
    amr = claims.get("amr") if isinstance(claims.get("amr"), list) else []
    request.session[SIGNED_IN_WITH] = {
        "fi": provider.pk,
        "id_token": backend.id_token,
        "at": time.time(),
        "acr": acr if acr in EidasLevel.values else provider.eidas_level,
        "amr": [str(method)[:32] for method in amr][:5],
    }
    subject = pseudonym_for(str(user.public_id))
    if provider.audience == ProviderAudience.CITIZEN:
        journal.record(
            events.REGISTRY_CHECKED.code,
            actor=None,
            subject=subject,
            data={"fi": provider.slug, "result": backend.registry_status, **for_service},
        )
    journal.record(
        events.FI_VERIFIED.code,
        actor=None,
        subject=subject,
        organisation=getattr(backend, "organisation", None),
        data={
            "fi": provider.slug,
            "acr": str(claims.get("acr", "")),
            "new_account": backend.created,
            **for_service,
        },  # fmt: skip
    )
    return redirect(entry["next"] or "/")


@require_POST
def sign_out(request):
    return end_sessions(request)


def end_sessions(request, return_to: str = ""):
    """End the Maillage session, then the FI's (its end_session endpoint), back to ``signed_out``,
    and from there to ``return_to`` (a service's registered post-logout URI) when given."""
    signed_in_with = request.session.get(SIGNED_IN_WITH) or {}
    user = request.user if request.user.is_authenticated else None
    provider = IdentityProvider.objects.filter(pk=signed_in_with.get("fi")).first()
    if user is not None:
        journal.record(
            events.SIGNED_OUT.code,
            actor=None,
            subject=pseudonym_for(str(user.public_id)),
            data={"fi": provider.slug if provider else ""},
        )
    logout(request)  # flushes the session
    if return_to:
        request.session[op_views.FS_RETURN_KEY] = return_to
    if provider is not None:
        try:
            meta = federation.metadata(provider)
        except federation.FederationError:
            meta = None
        if meta is not None and meta.end_session_endpoint:
            state = secrets.token_urlsafe(16)
            request.session[SIGN_OUT_STATE] = state
            params = {
                "id_token_hint": signed_in_with.get("id_token", ""),
                "post_logout_redirect_uri": request.build_absolute_uri(reverse("identity:fi-signed-out")),
                "state": state,
            }
            return redirect(federation.with_query(meta.end_session_endpoint, params))
    return redirect(reverse("identity:fi-signed-out"))


@require_GET
def signed_out(request):
    expected = request.session.pop(SIGN_OUT_STATE, None)
    returned = request.GET.get("state")
    complete = returned is None or (expected is not None and secrets.compare_digest(expected, returned))
    return_to = request.session.pop(op_views.FS_RETURN_KEY, "")
    if complete and return_to:
        return redirect(return_to)
    return render(request, "identity/signed_out.html", {"complete": complete})


@login_required(login_url="identity:fi-choice")
def my_space(request):
    """Mon espace: the person's own sign-ins (6 months) and who used their data, from the journal."""
    person = journal_for_person(*person_identifiers(request.user))
    since = timezone.now() - timedelta(days=183)
    providers = {p.slug: p.name for p in IdentityProvider.objects.all()}
    services = dict(ServiceProvider.objects.values_list("application__client_id", "application__name"))
    connections = person.entries.filter(
        event_type__in=[events.FI_VERIFIED.code, events.FS_SIGNED_IN.code], occurred_at__gte=since
    )[:100]
    sign_ins = [
        {"at": entry.occurred_at, "fi": providers.get(entry.data.get("fi"), entry.data.get("fi", "")),
         "acr": entry.data.get("acr", ""),
         "service": services.get(entry.data.get("fs"), entry.data.get("fs")) or "Maillage"}
        for entry in connections
        # A service's sign-in is one row (fs_signed_in), not two.
        if not (entry.event_type == events.FI_VERIFIED.code and entry.data.get("fs"))
    ]  # fmt: skip
    accesses = [
        {
            "at": entry.occurred_at,
            "what": event_label(entry.event_type),
            "who": entry.actor_label or "—",
            "why": entry.purpose,
            "contract": entry.contract,
            "fields": ", ".join(map(str, entry.data.get("fields", []))),
            **_result_of(entry),
        }
        for entry in person.entries.exclude(event_type__startswith="identity.")[:100]
    ]
    blocked = set(ProviderBlock.objects.filter(user=request.user).values_list("provider_id", flat=True))
    providers = [
        {"slug": p.slug, "name": p.name, "blocked": p.pk in blocked}
        for p in IdentityProvider.objects.filter(enabled=True, audience=ProviderAudience.CITIZEN)
    ]
    consents = list(
        Consent.objects.filter(user=request.user, revoked_at__isnull=True).select_related(
            "service_provider__application"
        )
    )
    for consent in consents:
        consent.labels = [
            str(op_views.CLAIM_LABELS[name]) if name in op_views.CLAIM_LABELS else data_scopes.label(name)
            for name in consent.claims
        ]
    context = {
        "consents": consents,
        "sign_ins": sign_ins,
        "accesses": accesses,
        "deferred_count": person.deferred_count,
        "providers": providers,
    }
    response = render(request, "identity/my_space.html", context)
    # Its sign-out form ends with a redirect to the FI's end_session endpoint.
    fi = (request.session.get(SIGNED_IN_WITH) or {}).get("fi")
    allow_form_redirects(response, IdentityProvider.objects.filter(pk=fi), "end_session_endpoint")
    return response


def _result_of(entry) -> dict:
    """What came of it, for the person: a refused call, or one about someone the provider does not
    know, transmitted nothing, and the page says so rather than listing it as a data exchange."""
    sent = bool(entry.data.get("fields"))
    if entry.outcome == "success":
        return {"ok": True, "result": _("Données transmises") if sent else _("Effectué")}
    return {"ok": False, "result": _("Échec") if sent else _("Aucune donnée transmise")}


def event_label(code: str) -> str:
    try:
        return str(protection_events.get(code).label)
    except protection_events.UnknownEventType:
        return code


@require_POST
@login_required(login_url="identity:fi-choice")
def block_provider(request):
    """Block or allow an identity provider for the person's future sign-ins; one must stay allowed."""
    citizen_providers = IdentityProvider.objects.filter(enabled=True, audience=ProviderAudience.CITIZEN)
    provider = get_object_or_404(citizen_providers, slug=request.POST.get("provider", ""))
    action = request.POST.get("action")
    if action not in {"block", "allow"}:
        messages.error(request, _("Action inconnue."))
        return redirect("identity:my-space")
    with transaction.atomic():
        if action == "block":
            allowed = citizen_providers.exclude(pk=provider.pk).exclude(blocks__user=request.user)
            if not allowed.exists():
                messages.error(request, _("Gardez au moins un fournisseur d'identité pour vous connecter."))
                return redirect("identity:my-space")
            _block, changed = ProviderBlock.objects.get_or_create(user=request.user, provider=provider)
            event, message = events.PROVIDER_BLOCKED, _("%(name)s est bloqué pour vos prochaines connexions.")
        else:
            changed = ProviderBlock.objects.filter(user=request.user, provider=provider).delete()[0] > 0
            event, message = events.PROVIDER_ALLOWED, _("%(name)s est de nouveau autorisé.")
        if changed:
            subject = pseudonym_for(str(request.user.public_id))
            journal.record(event.code, actor=None, subject=subject, data={"fi": provider.slug})
    messages.success(request, message % {"name": provider.name})
    return redirect("identity:my-space")


@require_POST
@login_required(login_url="identity:fi-choice")
def revoke_consent(request):
    """Withdraw a consent: the service will have to ask again at the next sign-in."""
    consent = (
        Consent.objects.filter(
            pk=request.POST.get("consent") if str(request.POST.get("consent", "")).isdigit() else None,
            user=request.user,  # only one's own consents: anything else is a 404
            revoked_at__isnull=True,
        )
        .select_related("service_provider__application", "service_provider__organisation")
        .first()
    )
    if consent is None:
        raise Http404
    with transaction.atomic():
        consent.revoked_at = timezone.now()
        consent.save(update_fields=["revoked_at"])
        service = consent.service_provider
        journal.record(
            events.CONSENT_REVOKED.code,
            actor=None,
            organisation=service.organisation,
            subject=pseudonym_for(str(request.user.public_id)),
            data={"fs": service.client_id, "claims": consent.claims},
        )
    messages.success(request, _("Votre consentement à %(name)s est retiré.") % {"name": service})
    return redirect("identity:my-space")
