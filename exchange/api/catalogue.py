"""The public catalogue of APIs (read only). Upstream addresses and secrets are never exposed."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange.models import ApiStatus, Sensitivity
from exchange.selectors import get_published_api, published_api_list
from platform_core.api.pagination import PAGINATION_PARAMETERS, paginated_response, paginated_schema


class ApiScopeOutputSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("Code du scope, unique sur la plateforme."))
    label = serializers.CharField(help_text=_("Libellé du scope."))
    description = serializers.CharField(help_text=_("Description du scope."))
    sensitivity = serializers.ChoiceField(
        choices=Sensitivity.choices, help_text=_("Sensibilité des données.")
    )
    fields = serializers.ListField(
        child=serializers.CharField(), help_text=_("Champs de la réponse que ce scope donne.")
    )


class LegalFrameworkOutputSerializer(serializers.Serializer):
    name = serializers.CharField(help_text=_("Nom du texte."))
    reference = serializers.CharField(help_text=_("Référence (articles…)."))
    url = serializers.CharField(help_text=_("Adresse du texte, ou chaîne vide."))


class ProviderOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id", help_text=_("Identifiant public de l'organisation."))
    name = serializers.CharField(help_text=_("Nom de l'organisation."))
    siret = serializers.CharField(help_text=_("Numéro SIRET (14 chiffres)."))


class ApiProductOutputSerializer(serializers.Serializer):
    """Only what the public may know of an API: never its upstream address or secret."""

    id = serializers.UUIDField(source="public_id", help_text=_("Identifiant public de l'API."))
    slug = serializers.CharField(help_text=_("Identifiant de l'API dans les adresses."))
    name = serializers.CharField(help_text=_("Nom de l'API."))
    description = serializers.CharField(help_text=_("Description de l'API."))
    provider = ProviderOutputSerializer(help_text=_("Organisation qui fournit les données."))
    status = serializers.ChoiceField(choices=ApiStatus.choices, help_text=_("Statut de l'API."))
    availability_target = serializers.DecimalField(
        max_digits=5, decimal_places=2, help_text=_("Disponibilité visée, en pourcentage.")
    )
    latency_target_ms = serializers.IntegerField(
        help_text=_("Temps de réponse visé (p95), en millisecondes.")
    )
    legal_frameworks = LegalFrameworkOutputSerializer(many=True, help_text=_("Cadres juridiques."))
    scopes = ApiScopeOutputSerializer(many=True, help_text=_("Scopes que l'on peut demander."))
    updated_at = serializers.DateTimeField()


class ApiProductListApi(APIView):
    permission_classes = [permissions.AllowAny]

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=100,
            help_text=_("Recherche dans le nom, la description, le fournisseur et les scopes."),
        )
        status = serializers.ChoiceField(
            choices=ApiStatus.choices, required=False, allow_blank=True, help_text=_("Statut.")
        )

    @extend_schema(
        operation_id="catalogue_apis_list",
        summary=_("Lister les API du catalogue"),
        description=_(
            "Les API publiées au catalogue, avec leur fournisseur, leurs scopes et leurs cadres "
            "juridiques ; paginé et filtrable par texte ou par statut."
        ),
        parameters=[FilterSerializer, *PAGINATION_PARAMETERS],
        responses={200: paginated_schema(ApiProductOutputSerializer, name="ApiProductPage")},
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return paginated_response(
            queryset=published_api_list(**filters.validated_data),
            serializer_class=ApiProductOutputSerializer,
            request=request,
            view=self,
        )


class ApiProductDetailApi(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="catalogue_apis_retrieve",
        summary=_("Consulter une API du catalogue"),
        description=_("Une API publiée au catalogue, désignée par son identifiant (slug)."),
        parameters=[
            OpenApiParameter(
                "slug", OpenApiTypes.STR, OpenApiParameter.PATH, description=_("Identifiant de l'API.")
            )
        ],
        responses={200: ApiProductOutputSerializer},
    )
    def get(self, request, slug: str):
        return Response(ApiProductOutputSerializer(get_published_api(slug)).data)
