"""The Django admin app with Maillage's admin site (second factor): listed in INSTALLED_APPS in
place of "django.contrib.admin". Kept apart from protection.admin_site, which imports models: this
module is imported while the apps registry is still loading."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "protection.admin_site.MaillageAdminSite"

    def ready(self):
        super().ready()  # autodiscovers every admin.py, django_otp's TOTP device admin included
        from protection.admin_site import register_device_admin

        register_device_admin()
