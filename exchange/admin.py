"""The exchange hub in the admin: the catalogue for the platform team, habilitations for the people
concerned (django-guardian object permissions), authorizations read-only."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from guardian.shortcuts import get_objects_for_user

from exchange.models import (
    ApiProduct,
    ApiScope,
    Authorization,
    Batch,
    Credential,
    Habilitation,
    HabilitationChange,
    HabilitationMessage,
    LegalFramework,
)
from exchange.services import credential_revoke, habilitation_transition
from platform_core.exceptions import DomainError


@admin.register(LegalFramework)
class LegalFrameworkAdmin(admin.ModelAdmin):
    list_display = ["name", "reference"]
    search_fields = ["name", "reference"]


class ApiScopeInline(admin.TabularInline):
    model = ApiScope
    extra = 0


@admin.register(ApiProduct)
class ApiProductAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "provider", "status", "published"]
    list_filter = ["status", "published"]
    list_select_related = ["provider"]
    search_fields = ["name", "slug", "provider__name"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    filter_horizontal = ["legal_frameworks"]
    inlines = [ApiScopeInline]


class ChangeInline(admin.TabularInline):
    model = HabilitationChange
    extra = 0
    can_delete = False
    readonly_fields = ["at", "author", "field", "old_value", "new_value"]

    def has_add_permission(self, request, obj=None):
        return False


class MessageInline(admin.TabularInline):
    model = HabilitationMessage
    extra = 0
    can_delete = False
    readonly_fields = ["at", "author", "body"]

    def has_add_permission(self, request, obj=None):
        return False


class AuthorizationInline(admin.TabularInline):
    model = Authorization
    extra = 0
    can_delete = False
    fields = ["version", "state", "scopes", "valid_from", "valid_until", "ended_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


def _transition_action(name: str, label):
    def action(modeladmin, request, queryset):
        for habilitation in queryset:
            try:
                habilitation_transition(habilitation, name, user=request.user)
            except DomainError as error:
                messages.error(request, f"{habilitation} : {error.detail}")
            else:
                messages.success(request, f"{habilitation} : {label}")

    action.__name__ = f"transition_{name}"
    action.short_description = label
    return action


@admin.register(Habilitation)
class HabilitationAdmin(admin.ModelAdmin):
    """Read and instruct; applicants write in the portal. Decisions that must say why (request changes,
    refuse, revoke) are taken in the portal, where the message is written."""

    list_display = ["title", "consumer", "api", "state", "updated_at"]
    list_filter = ["state", "api"]
    list_select_related = ["consumer", "api"]
    search_fields = ["title", "consumer__name", "consumer__siret"]
    readonly_fields = [field.name for field in Habilitation._meta.fields] + ["scopes"]
    inlines = [AuthorizationInline, MessageInline, ChangeInline]
    actions = [
        _transition_action("submit", _("Soumettre")),
        _transition_action("validate", _("Valider")),
        _transition_action("archive", _("Archiver")),
    ]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return get_objects_for_user(
            request.user, "exchange.view_habilitation", klass=queryset, accept_global_perms=False
        )

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser or obj is None:
            return request.user.is_staff
        return request.user.has_perm("exchange.view_habilitation", obj)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_change_permission(self, request, obj=None):
        return False  # fields change through the portal's workflow, never by hand here

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Authorization)
class AuthorizationAdmin(admin.ModelAdmin):
    list_display = ["habilitation", "version", "consumer", "api", "state", "valid_until"]
    list_filter = ["state", "api"]
    list_select_related = ["habilitation", "consumer", "api"]
    readonly_fields = [field.name for field in Authorization._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class HabilitationReadOnlyAdmin(admin.ModelAdmin):
    """Read-only, for those who may view the habilitation the object belongs to (``habilitation_path``)."""

    habilitation_path = "habilitation"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        visible = get_objects_for_user(
            request.user, "exchange.view_habilitation", klass=Habilitation, accept_global_perms=False
        )
        return queryset.filter(**{f"{self.habilitation_path}__in": visible})

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser or obj is None:
            return request.user.is_staff
        habilitation = obj
        for name in self.habilitation_path.split("__"):
            habilitation = getattr(habilitation, name)
        return request.user.has_perm("exchange.view_habilitation", habilitation)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Credential)
class CredentialAdmin(HabilitationReadOnlyAdmin):
    """Read-only: secrets are generated by the consumer (shown once), revocation is an action."""

    list_display = ["habilitation", "client_id", "expires_at", "revoked_at"]
    list_select_related = ["habilitation", "application"]
    readonly_fields = [
        "public_id", "habilitation", "authorization", "application", "expires_at", "revoked_at",
        "ip_allowlist", "warned_days", "created_at",
    ]  # fmt: skip
    actions = ["revoke"]

    @admin.action(description=_("Révoquer immédiatement"))
    def revoke(self, request, queryset):
        for credential in queryset.select_related("habilitation"):
            try:
                credential_revoke(credential, user=request.user)
            except DomainError as error:
                messages.error(request, f"{credential} : {error.detail}")
            else:
                messages.success(request, _("%(name)s est révoqué.") % {"name": credential})


@admin.register(Batch)
class BatchAdmin(HabilitationReadOnlyAdmin):
    """Read-only: batches are submitted through the API; their progress is shown here. Items are not
    listed (a batch has up to 100,000): the results are downloaded through the API."""

    habilitation_path = "credential__habilitation"
    list_display = ["public_id", "consumer", "api", "status", "progress", "failed_count", "webhook_status",
                    "created_at", "finished_at"]  # fmt: skip
    list_filter = ["status", "webhook_status", "api"]
    list_select_related = ["consumer", "api"]
    search_fields = ["public_id", "consumer__name", "idempotency_key"]
    readonly_fields = [field.name for field in Batch._meta.fields if field.name != "fingerprint"] + [
        "progress"
    ]
    exclude = ["fingerprint"]

    @admin.display(description=_("avancement"))
    def progress(self, batch):
        return f"{batch.processed_count} / {batch.total} ({batch.percent} %)"
