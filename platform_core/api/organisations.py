"""The public directory of organisations (read) and its administration by the platform staff (write)."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from platform_core.api.pagination import PAGINATION_PARAMETERS, paginated_response, paginated_schema
from platform_core.enums import OrganisationKind
from platform_core.geography import REGION_NAMES, REGION_OF_DEPARTEMENT
from platform_core.selectors import get_organisation, organisation_list
from platform_core.services import organisation_create


class OrganisationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id", help_text=_("Identifiant public de l'organisation."))
    name = serializers.CharField(help_text=_("Nom de l'organisation."))
    siret = serializers.CharField(help_text=_("Numéro SIRET (14 chiffres)."))
    siren = serializers.CharField(help_text=_("Numéro SIREN (les 9 premiers chiffres du SIRET)."))
    kind = serializers.ChoiceField(choices=OrganisationKind.choices, help_text=_("Nature de l'organisation."))
    commune_code = serializers.CharField(help_text=_("Code commune INSEE, ou chaîne vide."))
    departement_code = serializers.CharField(help_text=_("Code département INSEE, ou chaîne vide."))
    region_code = serializers.CharField(help_text=_("Code région INSEE, ou chaîne vide."))
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OrganisationCollectionApi(APIView):
    """List (GET, public) and create (POST, staff). DRF routes one URL to one view, so the two
    operations of /organisations/ share this class; each method only parses, calls and renders."""

    class FilterSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(
            choices=OrganisationKind.choices, required=False, allow_blank=True, help_text=_("Nature.")
        )
        # Not a ChoiceField: a hundred codes would swamp the documentation.
        departement = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=3,
            help_text=_("Code département INSEE (par exemple 75, 2A, 974)."),
        )
        region = serializers.ChoiceField(
            choices=sorted(REGION_NAMES),
            required=False,
            allow_blank=True,
            help_text=_("Code région INSEE (par exemple 11)."),
        )
        q = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=100,
            help_text=_("Recherche dans le nom, ou début du SIRET."),
        )

        def validate_departement(self, value: str) -> str:
            value = value.upper()
            if value and value not in REGION_OF_DEPARTEMENT:
                raise serializers.ValidationError(
                    _("Code département inconnu : %(value)s.") % {"value": value}, code="invalid_choice"
                )
            return value

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=255)
        siret = serializers.CharField(max_length=20, help_text=_("Numéro SIRET ; les espaces sont ignorés."))
        kind = serializers.ChoiceField(choices=OrganisationKind.choices)
        commune_code = serializers.CharField(max_length=5, required=False, allow_blank=True, default="")
        departement_code = serializers.CharField(max_length=3, required=False, allow_blank=True, default="")
        region_code = serializers.CharField(max_length=2, required=False, allow_blank=True, default="")

    def get_permissions(self):
        if self.request.method in permissions.SAFE_METHODS:
            return [permissions.AllowAny()]
        return [permissions.IsAdminUser()]

    @extend_schema(
        operation_id="organisations_list",
        summary=_("Lister les organisations"),
        description=_(
            "Annuaire public des organisations (ministères, opérateurs, collectivités…), "
            "paginé et filtrable par nature, département, région ou texte."
        ),
        parameters=[FilterSerializer, *PAGINATION_PARAMETERS],
        responses={200: paginated_schema(OrganisationOutputSerializer, name="OrganisationPage")},
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return paginated_response(
            queryset=organisation_list(**filters.validated_data),
            serializer_class=OrganisationOutputSerializer,
            request=request,
            view=self,
        )

    @extend_schema(
        summary=_("Créer une organisation"),
        description=_(
            "Réservé à l'équipe de la plateforme. Le SIRET est vérifié (clé de contrôle) ; "
            "le département et la région sont déduits de la commune quand ils sont omis."
        ),
        request=InputSerializer,
        responses={201: OrganisationOutputSerializer},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organisation = organisation_create(**data.validated_data, acting_user=request.user)
        location = reverse("api-organisation-detail", kwargs={"public_id": organisation.public_id})
        return Response(
            OrganisationOutputSerializer(organisation).data, status=201, headers={"Location": location}
        )


class OrganisationDetailApi(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary=_("Consulter une organisation"),
        description=_("Une organisation de l'annuaire public, désignée par son identifiant public (UUID)."),
        parameters=[
            OpenApiParameter(
                "public_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description=_("Identifiant public.")
            )
        ],
        responses={200: OrganisationOutputSerializer},
    )
    def get(self, request, public_id: str):
        return Response(OrganisationOutputSerializer(get_organisation(public_id)).data)
