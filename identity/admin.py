from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from guardian.shortcuts import get_objects_for_user
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.validators import AllowedURIValidator

from identity import data_scopes, events, federation
from identity.claims import SUPPORTED_SCOPES, sector_of
from identity.enums import EidasLevel, UserKind
from identity.models import IdentityProvider, ServiceProvider, User
from identity.services import (
    SERVICE_FIELDS,
    journal_user,
    service_provider_create,
    service_provider_rotate_secret,
    service_provider_update,
)
from protection import journal

# Citizens sign in through an identity provider only: no password, no access to the admin.
CITIZEN_HIDDEN_FIELDS = {"password", "is_staff", "is_superuser", "groups", "user_permissions"}


class UserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "kind")

    def clean(self):
        cleaned_data = super().clean()
        if cleaned_data.get("kind") == UserKind.CITIZEN and cleaned_data.get("set_usable_password"):
            self.add_error(
                "usable_password",
                _(
                    "Un usager se connecte par un fournisseur d'identité et ne peut pas avoir de mot de "
                    "passe : choisissez « Désactivée »."
                ),
            )
        return cleaned_data


class UserEditForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


class CitizenEditForm(UserEditForm):
    password = None  # not even the read-only hash and its "set password" link


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    list_display = ["username", "email", "first_name", "last_name", "kind", "is_staff"]
    list_filter = ["kind", "is_staff", "is_superuser", "is_active", "groups"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        (_("Maillage"), {"fields": ("kind", "public_id", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "kind", "usable_password", "password1", "password2"),
            },
        ),
    )

    @staticmethod
    def _is_citizen(user) -> bool:
        return user is not None and user.kind == UserKind.CITIZEN

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self._is_citizen(obj):
            return fieldsets
        # Model fields left out of the fieldsets are left out of the form (and cannot be posted);
        # the declared password field is dropped by CitizenEditForm.
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in CITIZEN_HIDDEN_FIELDS]})
            for name, options in fieldsets
        ]

    def get_form(self, request, obj=None, **kwargs):
        if self._is_citizen(obj):
            kwargs["form"] = CitizenEditForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if self._is_citizen(obj):
            readonly.append("kind")  # a federated identity does not become a password account
        return readonly

    # Every write to an account is journaled in the admin's transaction: the change form and the
    # deletion view run in one; the password form and the bulk deletion action are wrapped here.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        fields = [name for name in form.changed_data if name not in {"password", "password1", "password2"}]
        if not change:
            journal_user(events.USER_CREATED.code, obj, acting_user=request.user, fields=fields)
        elif fields:
            journal_user(events.USER_CHANGED.code, obj, acting_user=request.user, fields=fields)

    def delete_model(self, request, obj):
        with transaction.atomic():
            journal_user(events.USER_DELETED.code, obj, acting_user=request.user)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for user in queryset:
                journal_user(events.USER_DELETED.code, user, acting_user=request.user)
            super().delete_queryset(request, queryset)

    def log_change(self, request, obj, message):
        # Called by the password form once the new password is saved (in the transaction below).
        if request.resolver_match and request.resolver_match.url_name.endswith("_password_change"):
            journal_user(events.USER_CHANGED.code, obj, acting_user=request.user, fields=["password"])
        return super().log_change(request, obj, message)

    def user_change_password(self, request, id, form_url=""):
        with transaction.atomic():
            return self._user_change_password(request, id, form_url)

    def _user_change_password(self, request, id, form_url=""):
        user = self.get_object(request, unquote(id))
        if self._is_citizen(user):
            messages.error(
                request,
                _("Un usager se connecte par un fournisseur d'identité : il n'a pas de mot de passe."),
            )
            opts = self.opts
            return HttpResponseRedirect(
                reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[user.pk])
            )
        return super().user_change_password(request, id, form_url)


class IdentityProviderForm(forms.ModelForm):
    issuer = forms.URLField(label=_("émetteur (issuer)"), max_length=300, assume_scheme="https")
    discovery_url = forms.URLField(
        label=_("document de découverte"),
        max_length=400,
        required=False,
        assume_scheme="https",
        help_text=_("Vide : <issuer>/.well-known/openid-configuration."),
    )
    # Write-only: the stored secret is never sent back to the browser.
    client_secret = forms.CharField(
        label=_("secret client"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Laisser vide pour garder le secret enregistré."),
    )

    class Meta:
        model = IdentityProvider
        fields = [
            "name", "slug", "audience", "issuer", "discovery_url", "client_id", "client_secret", "scopes",
            "eidas_level", "display_order", "logo", "enabled",
        ]  # fmt: skip

    def clean_client_secret(self):
        secret = self.cleaned_data.get("client_secret")
        if secret:
            return secret
        if self.instance.pk:
            return self.instance.client_secret
        raise forms.ValidationError(_("Le secret client est obligatoire."))

    def clean(self):
        cleaned = super().clean()
        if self.errors or not cleaned.get("enabled"):
            return cleaned
        # An enabled FI must answer its discovery document with exactly its issuer.
        probe = IdentityProvider(
            pk=self.instance.pk,
            issuer=cleaned["issuer"],
            discovery_url=cleaned.get("discovery_url", ""),
            client_id=cleaned["client_id"],
        )
        try:
            federation.metadata(probe)
        except federation.FederationError as error:
            raise forms.ValidationError(
                _("Document de découverte inutilisable : %(reason)s"), params={"reason": str(error)}
            ) from None
        return cleaned


@admin.register(IdentityProvider)
class IdentityProviderAdmin(admin.ModelAdmin):
    form = IdentityProviderForm
    list_display = ["name", "slug", "audience", "eidas_level", "issuer", "display_order", "enabled"]
    list_filter = ["audience", "eidas_level", "enabled"]
    search_fields = ["name", "slug", "issuer"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        event = events.PROVIDER_CHANGED if change else events.PROVIDER_CREATED
        fields = sorted(set(form.changed_data) - {"client_secret"})
        if "client_secret" in form.changed_data and form.data.get("client_secret"):
            fields.append("client_secret")  # named, never its value
        journal.record(
            event.code,
            actor=request.user,
            data={"slug": obj.slug, "issuer": obj.issuer, "enabled": obj.enabled, "fields": fields},
        )

    def has_delete_permission(self, request, obj=None):
        return False  # the journal names identity providers: disable them instead


def _uri_list(value: str) -> list[str]:
    return [line.strip() for line in value.split() if line.strip()]


class ServiceProviderForm(forms.ModelForm):
    """A service provider and its OAuth application in one form; the client secret is created by
    the platform and shown once, after saving."""

    name = forms.CharField(label=_("nom du service"), max_length=255)
    redirect_uris = forms.CharField(
        label=_("URL de redirection"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Une par ligne, exactement comme le service les enverra (barre finale comprise)."),
    )
    post_logout_redirect_uris = forms.CharField(
        label=_("URL de retour après déconnexion"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text=_("Une par ligne."),
    )
    sector_identifier_uri = forms.URLField(
        label=_("identifiant de secteur (sector_identifier_uri)"),
        max_length=400,
        required=False,
        assume_scheme="https",
        help_text=_("Obligatoire si les URL de redirection sont sur plusieurs domaines."),
    )
    eidas_levels = forms.MultipleChoiceField(
        label=_("niveaux eIDAS autorisés"),
        choices=EidasLevel.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[EidasLevel.LOW],
    )
    public = forms.BooleanField(
        label=_("client public (application mobile ou monopage : PKCE S256, sans secret)"), required=False
    )

    class Meta:
        model = ServiceProvider
        fields = [
            "name", "organisation", "audience", "redirect_uris", "post_logout_redirect_uris",
            "sector_identifier_uri", "scopes", "eidas_levels", "private", "signing_alg", "auth_method",
            "jwks", "allowed_providers", "denied_providers", "logo",
        ]  # fmt: skip

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            application = self.instance.application
            self.initial.update(
                name=application.name,
                redirect_uris="\n".join(application.redirect_uris.split()),
                post_logout_redirect_uris="\n".join(application.post_logout_redirect_uris.split()),
            )
            self.initial["public"] = application.client_type == "public"
            self.fields["public"].disabled = True  # the client type is chosen once
            self.fields["organisation"].disabled = True
        elif user is not None and not user.is_superuser:
            self.fields["organisation"].queryset = managed_organisations(user)

    def clean_scopes(self):
        scopes = self.cleaned_data["scopes"].split()
        unknown = sorted(set(scopes) - set(SUPPORTED_SCOPES) - set(data_scopes.resolve(scopes)))
        if unknown:
            raise forms.ValidationError(
                _("Scopes inconnus : %(scopes)s"), params={"scopes": " ".join(unknown)}
            )
        return " ".join(scopes)

    def clean(self):
        cleaned = super().clean()
        uris = _uri_list(cleaned.get("redirect_uris", ""))
        if not uris:
            self.add_error("redirect_uris", _("Au moins une URL de redirection."))
            return cleaned
        schemes = oauth2_settings.ALLOWED_REDIRECT_URI_SCHEMES
        validator = AllowedURIValidator(schemes, name="redirect uri", allow_path=True, allow_query=True)
        for uri in uris + _uri_list(cleaned.get("post_logout_redirect_uris", "")):
            try:
                validator(uri)
            except DjangoValidationError:
                raise forms.ValidationError(_("URL refusée : %(uri)s"), params={"uri": uri}) from None
        try:
            sector_of(uris, cleaned.get("sector_identifier_uri", ""))
        except ValueError:
            self.add_error(
                "sector_identifier_uri",
                _("Les URL de redirection sont sur plusieurs domaines : indiquez un identifiant de secteur."),
            )
        return cleaned


def managed_organisations(user):
    from platform_core.enums import MembershipRole
    from platform_core.models import Organisation

    return Organisation.objects.filter(
        memberships__user=user, memberships__role__in=[MembershipRole.ADMIN, MembershipRole.DEVELOPER]
    ).distinct()


@admin.register(ServiceProvider)
class ServiceProviderAdmin(admin.ModelAdmin):
    """Service providers, for the platform team and for their organisation's admins and developers
    (django-guardian object permissions): nobody else sees or changes them."""

    form = ServiceProviderForm
    list_display = ["__str__", "client_id", "organisation", "audience", "private", "signing_alg"]
    list_filter = ["audience", "private"]
    list_select_related = ["application", "organisation"]
    search_fields = ["application__name", "application__client_id"]
    readonly_fields = ["client_id", "created_at", "updated_at"]
    filter_horizontal = ["allowed_providers", "denied_providers"]
    actions = ["rotate_secret"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class BoundForm(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, user=request.user, **inner)

        return BoundForm

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return get_objects_for_user(
            request.user, "identity.view_serviceprovider", klass=queryset, accept_global_perms=False
        )

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser:
            return True
        if obj is None:
            return request.user.is_staff
        return request.user.has_perm("identity.view_serviceprovider", obj)

    def has_change_permission(self, request, obj=None):
        if request.user.is_superuser:
            return True
        if obj is None:
            return request.user.is_staff
        return request.user.has_perm("identity.change_serviceprovider", obj)

    def has_add_permission(self, request):
        return request.user.is_superuser or (
            request.user.is_staff and managed_organisations(request.user).exists()
        )

    def has_delete_permission(self, request, obj=None):
        return False  # the journal names services: remove their redirect URIs instead

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        uris = _uri_list(data["redirect_uris"])
        logout_uris = _uri_list(data.get("post_logout_redirect_uris", ""))
        profile = {field: data[field] for field in SERVICE_FIELDS if field in data}
        if change:
            service_provider_update(
                obj, acting_user=request.user, name=data["name"], redirect_uris=uris,
                post_logout_redirect_uris=logout_uris, **profile,
            )  # fmt: skip
            return
        service, secret = service_provider_create(
            organisation=data["organisation"], name=data["name"], redirect_uris=uris,
            post_logout_redirect_uris=logout_uris, public=data.get("public", False), acting_user=request.user,
            **{k: v for k, v in profile.items() if k != "auth_method" or not data.get("public")},
        )  # fmt: skip
        obj.pk, obj.application = service.pk, service.application
        obj._state.adding = False
        self._show_secret(request, service, secret)

    def save_related(self, request, form, formsets, change):
        if change:
            data = form.cleaned_data
            service_provider_update(
                form.instance, acting_user=request.user,
                allowed_providers=data["allowed_providers"], denied_providers=data["denied_providers"],
            )  # fmt: skip
        else:
            form.save_m2m()

    def _show_secret(self, request, service, secret):
        if secret:
            messages.warning(
                request,
                _("Identifiant client : %(id)s — secret client : %(secret)s. Copiez ce secret maintenant : "
                  "il n'est conservé que sous forme d'empreinte et ne sera plus jamais affiché.")
                % {"id": service.client_id, "secret": secret},
            )  # fmt: skip

    @admin.action(description=_("Générer un nouveau secret client"))
    def rotate_secret(self, request, queryset):
        for service in queryset.select_related("application", "organisation"):
            if not request.user.has_perm("identity.manage_serviceprovider", service) and not (
                request.user.is_superuser
            ):
                messages.error(request, _("Droits insuffisants sur %(name)s.") % {"name": service})
                continue
            if service.application.client_type == "public":
                continue
            secret = service_provider_rotate_secret(service, acting_user=request.user)
            self._show_secret(request, service, secret)
