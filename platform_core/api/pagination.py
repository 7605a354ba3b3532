"""Page-number pagination for every list endpoint: ``page``, ``page_size`` (at most 500)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

MAX_PAGE_SIZE = 500


class PagePagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    page_query_description = _("Numéro de la page (à partir de 1).")
    page_size_query_description = _("Nombre de résultats par page (500 au plus).")
    # DRF raises NotFound with this message: the exception handler turns it into a 404 problem.
    invalid_page_message = _("La page « {page_number} » n'existe pas.")


def paginated_response(*, queryset, serializer_class, request, view) -> Response:
    """For an APIView: one page of ``queryset`` with count, next, previous and results."""
    paginator = PagePagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def paginated_schema(serializer_class, *, name: str):
    """The OpenAPI shape of ``paginated_response`` for ``serializer_class``."""
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(help_text=_("Nombre total de résultats.")),
            "next": serializers.URLField(allow_null=True, help_text=_("Page suivante, ou null.")),
            "previous": serializers.URLField(allow_null=True, help_text=_("Page précédente, ou null.")),
            "results": serializer_class(many=True),
        },
    )


PAGINATION_PARAMETERS = [
    OpenApiParameter(
        "page", OpenApiTypes.INT, OpenApiParameter.QUERY, description=PagePagination.page_query_description
    ),
    OpenApiParameter(
        "page_size",
        OpenApiTypes.INT,
        OpenApiParameter.QUERY,
        description=PagePagination.page_size_query_description,
    ),
]
