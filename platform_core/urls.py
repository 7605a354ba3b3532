from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from exchange import gateway
from identity import api_v2 as identity_api
from identity import op_views
from platform_core import ops
from platform_core.api import errors

urlpatterns = [
    # First: the gateway's calls are the busiest requests, resolved before the site's other patterns.
    path("api/v1/gateway/<slug:api>/<path:path>", gateway.gateway, name="api-gateway"),
    path("", include("platform_core.views.urls")),
    path("admin/", admin.site.urls),
    path("identite/", include("identity.urls")),
    path("", include("exchange.urls")),
    path("", include("opendata.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", ops.healthz, name="healthz"),
    path("metrics", ops.metrics, name="prometheus-django-metrics"),
    path("api/v1/", include("platform_core.api.urls")),
    path("api/v2/jwks", identity_api.JwksApi.as_view(), name="oidc-jwks"),
    path("api/v2/.well-known/openid-configuration", op_views.discovery, name="oidc-discovery"),
    path("api/v2/authorize", op_views.authorize, name="oidc-authorize"),
    path("api/v2/token", op_views.TokenView.as_view(), name="oidc-token"),
    path("api/v2/token/revocation", op_views.RevocationView.as_view(), name="oidc-revocation"),
    path("api/v2/userinfo", op_views.userinfo, name="oidc-userinfo"),
    # Consumers' credentials (client credentials grant) for the exchange gateway: the same OAuth server.
    path("api/v1/oauth/token", op_views.TokenView.as_view(), name="oauth-token"),
    path("api/v2/session/end", op_views.session_end, name="oidc-session-end"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script under a strict CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/problems/", errors.problem_type_list, name="api-problem-types"),
    path("api/problems/<slug:code>", errors.problem_type_detail, name="api-problem-type"),
    # Anything else under /api/ is a problem+json 404, never an HTML page.
    re_path(r"^api/", errors.api_not_found),
]

if settings.BENCHMARK_VIEWS:  # `make bench` only (benchmarks/urls.py): bare baselines on the same server
    urlpatterns.insert(0, path("bench/", include("benchmarks.urls")))

handler400 = "platform_core.views.errors.bad_request"
handler403 = "platform_core.views.errors.permission_denied"
handler404 = "platform_core.views.errors.page_not_found"
handler500 = "platform_core.views.errors.server_error"
