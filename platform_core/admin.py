from django import forms
from django.contrib import admin
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from platform_core import events
from platform_core.models import Membership, Organisation
from platform_core.services import journal_membership, journal_organisation

admin.site.site_header = _("Administration de Maillage")
admin.site.site_title = _("Administration de Maillage")
admin.site.index_title = _("Tableau de bord")
admin.site.site_url = "/"


class OrganisationAdminForm(forms.ModelForm):
    """Normalises the input like platform_core.services.organisation_create.

    The rules themselves (SIRET check digits, geography consistency, constraints) are the model's:
    the ModelForm runs Organisation.full_clean before anything is saved.
    """

    # Room for the spaces of a SIRET typed as printed ("130 025 265 00013"); clean_siret drops them.
    siret = forms.CharField(
        label=Organisation._meta.get_field("siret").verbose_name,
        max_length=20,
        help_text=_("14 chiffres ; les espaces sont ignorés."),
    )

    class Meta:
        model = Organisation
        fields = ["name", "siret", "kind", "commune_code", "departement_code", "region_code"]

    def clean_name(self):
        return self.cleaned_data["name"].strip()

    def clean_siret(self):
        return "".join(self.cleaned_data["siret"].split())

    def clean_commune_code(self):
        return self.cleaned_data["commune_code"].strip().upper()

    def clean_departement_code(self):
        return self.cleaned_data["departement_code"].strip().upper()

    def clean_region_code(self):
        return self.cleaned_data["region_code"].strip()


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    form = OrganisationAdminForm
    list_display = ["name", "siret", "siren", "kind", "departement_code", "region_code"]
    list_filter = ["kind", "region_code"]
    search_fields = ["name", "siret", "siren"]
    readonly_fields = ["public_id", "siren", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "siret", "siren"]}),
        (_("Géographie"), {"fields": ["commune_code", "departement_code", "region_code"]}),
        (_("Traçabilité"), {"fields": ["public_id", "created_at", "updated_at"]}),
    ]
    ordering = ["name", "siret"]
    show_full_result_count = False

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        return fieldsets if obj else fieldsets[:-1]  # nothing to trace before the first save

    def save_model(self, request, obj, form, change):
        # The admin runs this inside its transaction: the journal entry commits with the change.
        super().save_model(request, obj, form, change)
        event = events.ORGANISATION_CHANGED if change else events.ORGANISATION_CREATED
        journal_organisation(event.code, obj, acting_user=request.user)

    def has_delete_permission(self, request, obj=None):
        return False  # the journal refers to organisations: they are never deleted


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organisation", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user", "organisation"]
    search_fields = [
        "user__username",
        "user__last_name",
        "user__email",
        "organisation__name",
        "organisation__siret",
    ]
    autocomplete_fields = ["user", "organisation"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    fields = ["user", "organisation", "role", "public_id", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        # A role is granted or withdrawn, never edited in place: each is one journal entry.
        return [*self.readonly_fields, "user", "organisation", "role"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            journal_membership(events.MEMBERSHIP_CREATED.code, obj, acting_user=request.user)

    def delete_model(self, request, obj):
        with transaction.atomic():
            journal_membership(events.MEMBERSHIP_DELETED.code, obj, acting_user=request.user)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        # The bulk deletion action runs outside any transaction: the entries commit with the deletion.
        with transaction.atomic():
            for membership in queryset.select_related("user", "organisation"):
                journal_membership(events.MEMBERSHIP_DELETED.code, membership, acting_user=request.user)
            super().delete_queryset(request, queryset)
