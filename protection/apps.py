from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProtectionConfig(AppConfig):
    name = "protection"
    label = "protection"
    verbose_name = _("Protection et traçabilité")
