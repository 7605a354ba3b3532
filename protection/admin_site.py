"""The Django admin with a second factor (django-otp, TOTP).

The admin is for staff accounts only (Django's ``is_staff``). Every staff user can register TOTP
devices for themself (section "TOTP devices"; the device page shows a QR code when the optional
``qrcode``/``segno`` package is installed, the otpauth:// URL otherwise). A staff user who has a
confirmed device must give a valid code at login; with ADMIN_OTP_REQUIRED every staff user must,
and those without a device cannot enter the admin at all.

A session opened with the password alone does not satisfy the second factor: a staff user who
confirms a new device is sent back to the login page on the next request, and proves it there.
"""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.utils.translation import gettext_lazy as _
from django_otp import devices_for_user, user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice


def second_factor_required(user) -> bool:
    return settings.ADMIN_OTP_REQUIRED or user_has_device(user, confirmed=True)


class OTPLoginForm(AdminAuthenticationForm):
    """Password, then the TOTP code of one of the user's confirmed devices when they have one."""

    otp_token = forms.CharField(
        label=_("Code à usage unique"),
        required=False,
        max_length=10,
        help_text=_("Les 6 chiffres affichés par votre application d'authentification, si vous en avez une."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "otp_required": _(
            "L'administration exige un second facteur, et aucun appareil d'authentification n'est "
            "associé à ce compte. Demandez à un administrateur de vous en enregistrer un."
        ),
        "token_required": _("Saisissez le code à usage unique de votre application d'authentification."),
        "invalid_token": _("Code à usage unique incorrect ou expiré. Réessayez avec le code suivant."),
    }

    def clean(self):
        cleaned_data = super().clean()  # password and is_staff: get_user() is set from here on
        user = self.get_user()
        devices = list(devices_for_user(user, confirmed=True))
        if not devices:
            if settings.ADMIN_OTP_REQUIRED:
                raise forms.ValidationError(self.error_messages["otp_required"], code="otp_required")
            return cleaned_data
        token = (cleaned_data.get("otp_token") or "").strip()
        if not token:
            raise forms.ValidationError(self.error_messages["token_required"], code="token_required")
        for device in devices:
            # verify_token counts failures on the device, which then throttles further attempts.
            if device.verify_is_allowed()[0] and device.verify_token(token):
                user.otp_device = device  # django_otp's user_logged_in receiver keeps it in the session
                return cleaned_data
        raise forms.ValidationError(self.error_messages["invalid_token"], code="invalid_token")


class MaillageAdminSite(admin.AdminSite):
    """The default admin site (admin.site), set by protection.otp.AdminConfig."""

    login_form = OTPLoginForm

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        return request.user.is_verified() or not second_factor_required(request.user)


class OwnDevicesAdminMixin:
    """For django-otp's TOTP device admin: open to every staff user for their own devices.

    Users with the model permissions (superusers included) manage everyone's devices as before.
    """

    def _manages_all(self, request, action: str) -> bool:
        return request.user.has_perm(f"otp_totp.{action}_totpdevice")

    def _owns(self, request, obj) -> bool:
        return (
            request.user.is_active
            and request.user.is_staff
            and (obj is None or obj.user_id == request.user.pk)
        )

    def has_module_permission(self, request):
        return True if self._owns(request, None) else super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return (
            self._manages_all(request, "view")
            or self._manages_all(request, "change")
            or self._owns(request, obj)
        )

    def has_add_permission(self, request):
        return self._manages_all(request, "add") or self._owns(request, None)

    def has_change_permission(self, request, obj=None):
        return self._manages_all(request, "change") or self._owns(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._manages_all(request, "delete") or self._owns(request, obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self._manages_all(request, "view") or self._manages_all(request, "change"):
            return queryset
        return queryset.filter(user=request.user)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self._manages_all(request, "change"):
            return fieldsets
        # One's own device: the user is oneself.
        return [
            (name, {**options, "fields": [field for field in options["fields"] if field != "user"]})
            for name, options in fieldsets
        ]

    def save_model(self, request, obj, form, change):
        if not change and not self._manages_all(request, "add"):
            obj.user = request.user
        super().save_model(request, obj, form, change)


def register_device_admin() -> None:
    # Imported here: that module registers its admin on admin.site, which is an instance of this module's
    # MaillageAdminSite.
    from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin

    class OwnTOTPDeviceAdmin(OwnDevicesAdminMixin, TOTPDeviceAdmin):
        pass

    site = admin.site
    if site.is_registered(TOTPDevice):
        site.unregister(TOTPDevice)
    site.register(TOTPDevice, OwnTOTPDeviceAdmin)
