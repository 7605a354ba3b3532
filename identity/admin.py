from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from identity import events, federation
from identity.enums import UserKind
from identity.models import IdentityProvider, User
from identity.services import journal_user
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
