"""Bare baselines served by the platform itself, under /bench/, when settings.BENCHMARK_VIEWS is on.

Included by platform_core/urls.py: same gunicorn process, same middleware (sessions, CSRF, locale,
security headers, metrics…) as the views they are compared with, so that a ratio measures what the view
does and nothing else. Never in production (benchmarks/ is not in the Docker image).
"""

import uuid
from datetime import timedelta

from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from oauth2_provider.models import get_application_model, get_id_token_model


@csrf_exempt  # a client without a session, as the token endpoint's
@require_POST
def select_insert(request):
    """One SELECT (an OAuth client by client_id, as the token endpoint starts with) and one INSERT (a
    token row), in autocommit: the floor of a request that reads one row and writes one."""
    application_id = (
        get_application_model()
        .objects.filter(client_id=request.POST.get("client_id", ""))
        .values_list("pk", flat=True)
        .first()
    )
    if application_id is None:
        return JsonResponse({"error": "invalid_client"}, status=404)
    token = get_id_token_model().objects.create(
        application_id=application_id, jti=uuid.uuid4(), expires=timezone.now() + timedelta(seconds=60)
    )
    return JsonResponse({"jti": str(token.jti)})


urlpatterns = [path("select-insert", select_insert, name="bench-select-insert")]
