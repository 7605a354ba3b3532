"""Reads of the exchange hub that have rules."""

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from exchange.models import ApiProduct, ApiScope


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
