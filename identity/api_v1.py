"""Service providers ("FS") through the developer API: an organisation's admins and developers register
and change their services (django-guardian object permissions); nobody else sees them."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from guardian.shortcuts import get_objects_for_user
from rest_framework import permissions, serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from identity import data_scopes
from identity.claims import SUPPORTED_SCOPES, sector_of
from identity.enums import EidasLevel, ProviderAudience
from identity.models import ClientAuthMethod, IdentityProvider, ServiceProvider, SigningAlgorithm
from identity.services import service_provider_create, service_provider_rotate_secret, service_provider_update
from platform_core.models import Organisation

TAGS = ["Fournisseurs de service"]


class ServiceProviderOutputSerializer(serializers.Serializer):
    client_id = serializers.CharField(help_text=_("Identifiant client OAuth (client_id)."))
    name = serializers.CharField(source="application.name")
    organisation = serializers.UUIDField(source="organisation.public_id")
    audience = serializers.ChoiceField(choices=ProviderAudience.choices)
    public_client = serializers.SerializerMethodField(help_text=_("Client public : PKCE S256, sans secret."))
    redirect_uris = serializers.ListField(child=serializers.CharField(), source="redirect_uri_list")
    post_logout_redirect_uris = serializers.ListField(
        child=serializers.CharField(), source="post_logout_uri_list"
    )
    sector_identifier_uri = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField(), source="scope_list")
    eidas_levels = serializers.ListField(child=serializers.CharField())
    private = serializers.BooleanField(help_text=_("Service privé : consentement explicite demandé."))
    signing_alg = serializers.ChoiceField(choices=SigningAlgorithm.choices)
    auth_method = serializers.ChoiceField(choices=ClientAuthMethod.choices)
    allowed_providers = serializers.SerializerMethodField(help_text=_("Fournisseurs d'identité autorisés."))
    denied_providers = serializers.SerializerMethodField(help_text=_("Fournisseurs d'identité exclus."))
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_public_client(self, service) -> bool:
        return service.application.client_type == "public"

    def get_allowed_providers(self, service) -> list[str]:
        return sorted(provider.slug for provider in service.allowed_providers.all())

    def get_denied_providers(self, service) -> list[str]:
        return sorted(provider.slug for provider in service.denied_providers.all())


class ServiceProviderInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    redirect_uris = serializers.ListField(child=serializers.URLField(max_length=400), min_length=1)
    post_logout_redirect_uris = serializers.ListField(
        child=serializers.URLField(max_length=400), required=False, default=list
    )
    audience = serializers.ChoiceField(choices=ProviderAudience.choices, default=ProviderAudience.CITIZEN)
    sector_identifier_uri = serializers.URLField(max_length=400, required=False, allow_blank=True, default="")
    scopes = serializers.ListField(
        child=serializers.CharField(max_length=64),
        default=lambda: ["openid", "profile"],
        help_text="Identity scopes (" + ", ".join(SUPPORTED_SCOPES) + ") and data scopes of the catalogue.",
    )
    eidas_levels = serializers.ListField(
        child=serializers.ChoiceField(choices=EidasLevel.choices), min_length=1, default=lambda: ["eidas1"]
    )
    private = serializers.BooleanField(default=False)
    signing_alg = serializers.ChoiceField(choices=SigningAlgorithm.choices, default=SigningAlgorithm.ES256)
    auth_method = serializers.ChoiceField(
        choices=ClientAuthMethod.choices, default=ClientAuthMethod.SECRET_BASIC
    )
    jwks = serializers.JSONField(required=False, default=dict)
    allowed_providers = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=IdentityProvider.objects.all(), required=False, default=list
    )
    denied_providers = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=IdentityProvider.objects.all(), required=False, default=list
    )

    def validate_auth_method(self, value):
        if value == ClientAuthMethod.NONE:
            raise serializers.ValidationError(_("« none » est réservé aux clients publics (public_client)."))
        return value

    def validate_scopes(self, value):
        if "openid" not in value:
            raise serializers.ValidationError(_("Les scopes doivent comprendre openid."))
        unknown = sorted(set(value) - set(SUPPORTED_SCOPES) - set(data_scopes.resolve(value)))
        if unknown:
            message = _("Scopes inconnus : %(scopes)s") % {"scopes": " ".join(unknown)}
            raise serializers.ValidationError(message)
        return value

    def validate(self, attrs):
        uris = attrs.get("redirect_uris") or (self.instance.redirect_uri_list if self.instance else [])
        sector_uri = attrs.get(
            "sector_identifier_uri", self.instance.sector_identifier_uri if self.instance else ""
        )
        try:
            sector_of(uris, sector_uri)
        except ValueError:
            raise serializers.ValidationError(
                {"sector_identifier_uri": _("URL de redirection sur plusieurs domaines : secteur requis.")}
            ) from None
        return attrs


class ServiceProviderCreateSerializer(ServiceProviderInputSerializer):
    organisation = serializers.SlugRelatedField(slug_field="public_id", queryset=Organisation.objects.all())
    public_client = serializers.BooleanField(default=False)


def _apply(call, **kwargs):
    """Run a service function; model validation errors become a 400 problem, never a 500."""
    try:
        return call(**kwargs)
    except DjangoValidationError as error:
        detail = error.message_dict if hasattr(error, "error_dict") else error.messages
        raise ValidationError(detail) from None


def _profile(data: dict) -> dict:
    profile = dict(data)
    profile["scopes"] = " ".join(profile["scopes"]) if "scopes" in profile else None
    return {key: value for key, value in profile.items() if value is not None}


class ServiceProviderCollectionApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="service_providers_list",
        summary=_("Mes fournisseurs de service"),
        description=_("Les fournisseurs de service que vous pouvez consulter (ceux de vos organisations)."),
        responses={200: ServiceProviderOutputSerializer(many=True)},
        tags=TAGS,
    )
    def get(self, request):
        services = get_objects_for_user(
            request.user,
            "identity.view_serviceprovider",
            klass=ServiceProvider.objects.select_related("application", "organisation").prefetch_related(
                "allowed_providers", "denied_providers"
            ),
            accept_global_perms=False,
        )
        return Response(ServiceProviderOutputSerializer(services, many=True).data)

    @extend_schema(
        operation_id="service_providers_create",
        summary=_("Déclarer un fournisseur de service"),
        description=_(
            "Réservé aux administrateurs et développeurs de l'organisation. La réponse contient le "
            "secret client, une seule fois : il n'est conservé que sous forme d'empreinte."
        ),
        request=ServiceProviderCreateSerializer,
        responses={201: ServiceProviderOutputSerializer},
        tags=TAGS,
    )
    def post(self, request):
        data = ServiceProviderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        organisation = values.pop("organisation")
        if not request.user.is_superuser and not _manages(request.user, organisation):
            raise PermissionDenied(_("Vous n'administrez pas cette organisation."))
        public = values.pop("public_client")
        allowed, denied = values.pop("allowed_providers"), values.pop("denied_providers")
        if public:
            values.pop("auth_method")
        service, secret = _apply(
            service_provider_create,
            organisation=organisation,
            public=public,
            acting_user=request.user,
            **_profile(values),
        )
        service.allowed_providers.set(allowed)
        service.denied_providers.set(denied)
        body = dict(ServiceProviderOutputSerializer(service).data)
        if secret:
            body["client_secret"] = secret
        location = reverse("api-service-provider-detail", kwargs={"client_id": service.client_id})
        response = Response(body, status=201, headers={"Location": location})
        response["Cache-Control"] = "no-store"
        return response


def _manages(user, organisation) -> bool:
    from identity.admin import managed_organisations

    return managed_organisations(user).filter(pk=organisation.pk).exists()


def _service_for(request, client_id: str, permission: str) -> ServiceProvider:
    service = (
        ServiceProvider.objects.select_related("application", "organisation")
        .filter(application__client_id=client_id[:100])
        .first()
    )
    # Someone who may not see it gets the same 404 as for a service that does not exist.
    if service is None or not request.user.has_perm("identity.view_serviceprovider", service):
        raise Http404
    if not request.user.has_perm(f"identity.{permission}", service):
        raise PermissionDenied(_("Droits insuffisants sur ce fournisseur de service."))
    return service


class ServiceProviderDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="service_providers_retrieve",
        summary=_("Consulter un fournisseur de service"),
        description=_("Un fournisseur de service de vos organisations, désigné par son client_id."),
        responses={200: ServiceProviderOutputSerializer},
        tags=TAGS,
    )
    def get(self, request, client_id: str):
        service = _service_for(request, client_id, "view_serviceprovider")
        return Response(ServiceProviderOutputSerializer(service).data)

    @extend_schema(
        operation_id="service_providers_update",
        summary=_("Modifier un fournisseur de service"),
        description=_(
            "Modification partielle : seuls les champs envoyés changent. Chaque modification est "
            "journalisée avec le nom des champs modifiés."
        ),
        request=ServiceProviderInputSerializer(partial=True),
        responses={200: ServiceProviderOutputSerializer},
        tags=TAGS,
    )
    def patch(self, request, client_id: str):
        service = _service_for(request, client_id, "change_serviceprovider")
        data = ServiceProviderInputSerializer(instance=service, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = _profile(data.validated_data)
        _apply(service_provider_update, service=service, acting_user=request.user, **changes)
        service.refresh_from_db()
        return Response(ServiceProviderOutputSerializer(service).data)


class ServiceProviderSecretApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="service_providers_rotate_secret",
        summary=_("Générer un nouveau secret client"),
        description=_("L'ancien secret cesse aussitôt de fonctionner. Le nouveau n'est affiché qu'ici."),
        request=None,
        responses={200: {"type": "object", "properties": {"client_secret": {"type": "string"}}}},
        tags=TAGS,
    )
    def post(self, request, client_id: str):
        service = _service_for(request, client_id, "manage_serviceprovider")
        if service.application.client_type == "public":
            raise ValidationError(_("Un client public n'a pas de secret."))
        secret = service_provider_rotate_secret(service, acting_user=request.user)
        response = Response({"client_secret": secret})
        response["Cache-Control"] = "no-store"
        return response
