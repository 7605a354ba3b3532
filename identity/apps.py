from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    name = "identity"
    label = "identity"
    verbose_name = _("Identité")

    def ready(self):
        from identity import events  # noqa: F401 - registers the journal event types
