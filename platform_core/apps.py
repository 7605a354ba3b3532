from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PlatformCoreConfig(AppConfig):
    name = "platform_core"
    label = "platform_core"
    verbose_name = _("Noyau de la plateforme")

    def ready(self):
        from platform_core import events  # noqa: F401 - registers the kernel's journal event types
        from protection.events import register

        # Demo traffic of `make run` (platform_core/sandbox/activity.py).
        register("sandbox.data_consulted", _("Consultation de données (démonstration)"))
