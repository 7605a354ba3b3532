"""Journal event types of the exchange hub (registered when the module is imported, from apps.py)."""

from django.utils.translation import gettext_lazy as _

from protection.events import register

HABILITATION_CREATED = register(
    "exchange.habilitation_created", _("Création d'une habilitation"), citizen_visible=False
)
HABILITATION_CHANGED = register(
    "exchange.habilitation_changed", _("Modification d'une habilitation"), citizen_visible=False
)
HABILITATION_TRANSITIONED = register(
    "exchange.habilitation_transitioned", _("Changement d'état d'une habilitation"), citizen_visible=False
)
HABILITATION_MESSAGE = register(
    "exchange.habilitation_message", _("Message sur une habilitation"), citizen_visible=False
)
API_CREATED = register("exchange.api_created", _("Ajout d'une API au catalogue"), citizen_visible=False)
API_CHANGED = register(
    "exchange.api_changed", _("Modification d'une API du catalogue"), citizen_visible=False
)
