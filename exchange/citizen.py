""" "Dites-le-nous une fois": a service provider fetches a provider's data about the person who signed in
to it through Maillage, with that person's access token, instead of asking them for a document.

The service asked for a data scope (``cnaf_quotient_familial``, an API scope of the catalogue) at sign-in
and the person consented to it (identity/op_views.resume). At the gateway, with the person's access
token and no identifying parameter, Maillage checks in order: the token (live, the person's, issued to a
service provider), the API and the token's scopes of it, the contract (an active authorization of the
service's organisation for this API covering those scopes), the person's consent still in force for
them, that the call names no one (the person is the token's, never a parameter), the context
(``recipient`` and ``purpose`` default to the service's organisation and the authorization). Then it
resolves the person's pivot identity, queries the provider with it, returns the granted fields and
journals the exchange under the person's pseudonym: it shows in their Mon espace.

``data_scopes`` is the resolver of identity/data_scopes.py (settings.IDENTITY_DATA_SCOPES).
"""

import time

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from exchange.gateway import (
    CONTEXT_PARAMETERS,
    GatewayRefusal,
    GatewayUnauthenticated,
    answer_for,
    contract_context,
    exchange_response,
    forward,
    granted_fields,
    record_exchange,
    refusal,
)
from exchange.models import ApiProduct, ApiScope, Authorization, AuthorizationState
from identity.data_scopes import DataScope
from platform_core.exceptions import DomainError
from protection.pseudonyms import pseudonym_for

# The parameters that designate a person at the providers: a citizen token never carries them.
IDENTIFYING_PARAMETERS = frozenset(
    {"nomNaissance", "nomUsage", "prenoms", "dateNaissance", "sexe", "codeLieuNaissance", "codePaysNaissance",
     "numeroFiscal", "numeroAllocataire", "codePostal", "ine", "email"}
)  # fmt: skip


CONSENT_MISSING = _(
    "La personne n'a pas consenti (ou a retiré son consentement) à ce que ce service obtienne ces données."
)


class ConsentMissing(GatewayRefusal):
    code = "consent-missing"
    title = _("Consentement absent ou retiré")


class UnknownApi(GatewayRefusal):
    code = "unknown-api"
    status = 404
    title = _("API inconnue")


def _active_authorizations(now=None):
    now = now or timezone.now()
    return Authorization.objects.filter(
        state=AuthorizationState.ACTIVE, valid_from__lte=now, valid_until__gt=now
    )


def data_scopes(codes: list[str], service) -> dict[str, DataScope]:
    """What the catalogue's API scopes among ``codes`` are, and whether ``service``'s organisation holds
    an active authorization covering each (identity.data_scopes' resolver)."""
    scopes = list(ApiScope.objects.filter(code__in=codes).select_related("api__provider"))
    covered: set[str] = set()
    if service is not None and scopes:
        rows = _active_authorizations().filter(
            consumer_id=service.organisation_id, api_id__in={scope.api_id for scope in scopes}
        )
        covered = {code for granted in rows.values_list("scopes", flat=True) for code in granted}
    return {
        scope.code: DataScope(
            code=scope.code,
            label=scope.label,
            provider=scope.api.provider.name,
            authorized=scope.code in covered,
        )
        for scope in scopes
    }


def _pivot_parameters(user) -> list[tuple[str, str]]:
    from identity.op import pivot_identity_of

    citizen = pivot_identity_of(user)
    if citizen is None:
        raise GatewayRefusal(str(_("Ce jeton n'est pas celui d'un particulier identifié.")))
    return [
        ("nomNaissance", citizen.family_name),
        ("prenoms", citizen.given_name),
        ("dateNaissance", citizen.birthdate),
        ("sexe", {"male": "M", "female": "F"}.get(citizen.gender, "")),
        ("codeLieuNaissance", citizen.birthplace),
        ("codePaysNaissance", citizen.birthcountry),
    ]


def _context(request, service, authorization: Authorization) -> dict:
    """``recipient`` and ``purpose`` are optional here: the token already says who asks under which
    contract; when given they must agree with it, as at the gateway. No parameter may name a person."""
    message = str(_("Avec le jeton d'un particulier, la personne est celle du jeton : retirez ce paramètre."))
    naming = [{"field": name, "code": "not_allowed", "message": message}
              for name in sorted(IDENTIFYING_PARAMETERS & set(request.GET))]  # fmt: skip
    get = request.GET.get
    return contract_context(
        authorization, authorization.habilitation.public_id,
        recipient=get("recipient", "").replace(" ", "") or service.organisation.siret,
        purpose=get("purpose", "").strip() or str(authorization.public_id),
        case_id=get("case_id", ""), errors=naming,
    )  # fmt: skip


def citizen_call(request, access, api: str, path: str, started: float):
    """The gateway's answer to a call made with a person's access token (see the module docstring)."""
    service = getattr(access.application, "service_provider", None)
    user = access.user
    person = pseudonym_for(str(user.public_id)) if user is not None else None
    authorization = None
    try:
        if service is None or user is None or access.is_expired():
            raise GatewayUnauthenticated(str(_("Jeton d'accès inconnu ou expiré.")))
        product = ApiProduct.objects.filter(slug=api).first()
        if product is None:
            raise UnknownApi(str(_("Aucune API de ce nom au catalogue.")))
        wanted = set(access.scope.split()) & set(product.scopes.values_list("code", flat=True))
        if not wanted:
            raise GatewayRefusal(str(_("Le jeton ne porte aucun scope de cette API.")))
        authorization = (
            _active_authorizations()
            .filter(consumer_id=service.organisation_id, api=product)
            .filter(Q(scopes__overlap=sorted(wanted)))
            .select_related("habilitation", "consumer")
            .first()
        )
        if authorization is None:
            raise GatewayRefusal(
                str(_("Aucune habilitation en vigueur ne couvre ces données pour ce service."))
            )
        scopes = sorted(wanted & set(authorization.scopes))
        consent = (
            user.consents.filter(service_provider=service, revoked_at__isnull=True).values_list(
                "claims", flat=True
            )
        ).first()
        if consent is None or not set(scopes) <= set(consent):
            raise ConsentMissing(str(CONSENT_MISSING))
        context = _context(request, service, authorization)
        query = _pivot_parameters(user) + [
            (key, item)
            for key, values in request.GET.lists()
            if key not in CONTEXT_PARAMETERS
            for item in values
        ]
        status, body = forward(product, path, query, getattr(request, "request_id", "") or "")
    except DomainError as error:
        return refusal(request, error, actor=access.application, contract=authorization, api=api,
                       organisation=service.organisation if service is not None else None, started=started,
                       person=person, extra={"via": "citizen_token"})  # fmt: skip
    answer = answer_for(status, body, granted_fields(product, scopes))
    record_exchange(
        access.application,
        authorization,
        title=authorization.habilitation.title,
        person=person,
        status=status,
        answer=answer,
        context=context,
        latency_ms=round((time.monotonic() - started) * 1000),
        api=product.slug,
        extra={"via": "citizen_token", "fs": access.application.client_id, "scopes": scopes},
    )
    return exchange_response(request, status, answer)
