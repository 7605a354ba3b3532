from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReferentialsConfig(AppConfig):
    name = "commons.referentials"
    label = "referentials"
    verbose_name = _("Référentiels")
