"""Reads of the exchange hub that have rules."""

from datetime import timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from exchange.models import ApiProduct, ApiScope, Habilitation, HabilitationState
from platform_core.models import Organisation


def published_api_list(*, q: str = "", status: str = "") -> QuerySet[ApiProduct]:
    """The public catalogue: published APIs only, searched in their name, description, provider and
    scopes."""
    apis = ApiProduct.objects.filter(published=True)
    if status:
        apis = apis.filter(status=status)
    if q:
        apis = apis.filter(
            Q(name__icontains=q)
            | Q(description__icontains=q)
            | Q(provider__name__icontains=q)
            | Q(scopes__label__icontains=q)
            | Q(scopes__code__icontains=q)
        ).distinct()
    return apis.select_related("provider").prefetch_related(
        Prefetch("scopes", queryset=ApiScope.objects.order_by("code")), "legal_frameworks"
    )


def get_published_api(slug: str) -> ApiProduct:
    """A published API of the catalogue; 404 for any other (unpublished ones are not public)."""
    api = published_api_list().filter(slug=slug).first()
    if api is None:
        raise Http404
    return api


def public_openapi(api: ApiProduct) -> dict:
    """The API's OpenAPI document as the catalogue publishes it: without the provider's ``servers``,
    whose address is the upstream one (consumers call the gateway, never the provider)."""
    document = dict(api.openapi or {})
    document.pop("servers", None)
    for item in (document.get("paths") or {}).values():
        if isinstance(item, dict):
            item.pop("servers", None)
    return document


def habilitation_list_for(user, *, state: str = "") -> QuerySet[Habilitation]:
    """The habilitations a person may see, on the applicant's side or the provider's, newest change
    first; ``state`` filters when it is one of the states (anything else is ignored)."""
    from guardian.shortcuts import get_objects_for_user

    habilitations = get_objects_for_user(
        user,
        "exchange.view_habilitation",
        klass=Habilitation.objects.select_related("api__provider", "consumer"),
        accept_global_perms=False,
    )
    if state in HabilitationState.values:
        habilitations = habilitations.filter(state=state)
    return habilitations.order_by("-updated_at", "-pk")


def get_habilitation_for_user(user, public_id) -> Habilitation:
    """A habilitation the person may see; 404 for any other, so that its existence does not leak."""
    habilitation = (
        Habilitation.objects.select_related("api__provider", "consumer", "applicant")
        .filter(public_id=public_id)
        .first()
    )
    if habilitation is None or not user.has_perm("exchange.view_habilitation", habilitation):
        raise Http404
    return habilitation


def habilitation_consumers_for(user) -> QuerySet[Organisation]:
    """The organisations a person may apply for: their own memberships."""
    return Organisation.objects.filter(memberships__user=user).distinct().order_by("name", "siret")


USAGE_WINDOWS = (
    ("10min", timedelta(minutes=10)),
    ("30h", timedelta(hours=30)),
    ("8d", timedelta(days=8)),
)


def gateway_usage(habilitation, now=None) -> list[dict]:
    """Gateway calls and errors under this habilitation's authorizations over the last 10 minutes,
    30 hours and 8 days, from the journal (its contract column is indexed)."""
    from exchange import events
    from protection.models import JournalEntry

    now = now or timezone.now()
    public_ids = habilitation.authorizations.values_list("public_id", flat=True)
    contracts = [str(public_id) for public_id in public_ids]
    if not contracts:
        return []
    calls = JournalEntry.objects.filter(event_type=events.GATEWAY_CALL.code, contract__in=contracts)
    windows = {
        f"calls_{name}": Count("id", filter=Q(occurred_at__gte=now - span)) for name, span in USAGE_WINDOWS
    } | {
        f"errors_{name}": Count("id", filter=Q(occurred_at__gte=now - span, outcome="failure"))
        for name, span in USAGE_WINDOWS
    }
    totals = calls.filter(occurred_at__gte=now - USAGE_WINDOWS[-1][1]).aggregate(**windows)
    return [
        {"window": name, "calls": totals[f"calls_{name}"], "errors": totals[f"errors_{name}"]}
        for name, _span in USAGE_WINDOWS
    ]
