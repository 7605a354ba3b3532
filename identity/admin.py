from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from identity import events
from identity.enums import UserKind
from identity.models import User
from identity.services import journal_user

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
