"""The public list of active authorizations (open data): who may use which API, on which legal basis,
since when. Never a person, a contact or a purpose's details beyond the habilitation's title."""

import csv
import io

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from exchange.models import Authorization, AuthorizationState

COLUMNS = ("siret", "organisation", "api", "scopes", "legal_basis", "validated_on", "valid_until")


def _rows():
    authorizations = (
        Authorization.objects.filter(state=AuthorizationState.ACTIVE)
        .select_related("consumer", "api")
        .order_by("consumer__siret", "api__slug")
    )
    for authorization in authorizations:
        yield {
            "siret": authorization.consumer.siret,
            "organisation": authorization.consumer.name,
            "api": authorization.api.slug,
            "scopes": sorted(authorization.scopes),
            "legal_basis": authorization.legal_basis,
            "validated_on": authorization.valid_from.date().isoformat(),
            "valid_until": authorization.valid_until.date().isoformat(),
        }


@require_GET
def active_json(request):
    response = JsonResponse({"authorizations": list(_rows())})
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_GET
def active_csv(request):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for row in _rows():
        writer.writerow({**row, "scopes": " ".join(row["scopes"])})
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="habilitations-actives.csv"'
    response["Cache-Control"] = "public, max-age=300"
    return response
