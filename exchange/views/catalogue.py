"""The public catalogue of APIs: HTML pages and each API's OpenAPI document."""

from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from exchange.selectors import get_published_api, public_openapi, published_api_list

SENSITIVITY_BADGES = {
    "public": "fr-badge--success",
    "personal": "fr-badge--info",
    "sensitive": "fr-badge--warning",
}
STATUS_BADGES = {
    "beta": "fr-badge--new",
    "stable": "fr-badge--success",
    "deprecated": "fr-badge--warning",
    "suspended": "fr-badge--error",
}


def _badged(api) -> dict:
    """An API with the DSFR badge classes of its status and of its scopes' sensitivity."""
    return {
        "api": api,
        "status_badge": STATUS_BADGES.get(api.status, ""),
        "scopes": [{"scope": scope, "badge": SENSITIVITY_BADGES.get(scope.sensitivity, "")}
                   for scope in api.scopes.all()],
    }  # fmt: skip


def catalogue(request):
    q = request.GET.get("q", "").strip()[:100]
    apis = published_api_list(q=q)
    return render(
        request,
        "exchange/catalogue.html",
        {
            "entries": [_badged(api) for api in apis],
            "q": q,
            "breadcrumb_data": {"current": _("Catalogue des API")},
        },
    )


def api_detail(request, slug: str):
    api = get_published_api(slug)
    return render(
        request,
        "exchange/api_detail.html",
        {
            "api": api,
            "entry": _badged(api),
            "breadcrumb_data": {
                "links": [{"url": "/catalogue/", "title": _("Catalogue des API")}],
                "current": api.name,
            },
        },
    )


def api_openapi(request, slug: str):
    api = get_published_api(slug)
    return JsonResponse(public_openapi(api), json_dumps_params={"ensure_ascii": False, "indent": 2})
