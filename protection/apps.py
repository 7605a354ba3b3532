from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProtectionConfig(AppConfig):
    name = "protection"
    label = "protection"
    verbose_name = _("Protection et traçabilité")

    def ready(self):
        from protection import events

        events.register("journal.purged", _("Purge d'entrées du journal échues"), citizen_visible=False)
        events.register("journal.verified", _("Vérification du journal scellé"), citizen_visible=False)
        events.register("journal.key_rotated", _("Rotation de clé de scellement"), citizen_visible=False)
        events.register(
            "protection.fields_reencrypted",
            _("Rechiffrement de champs sous la clé active"),
            citizen_visible=False,
        )
