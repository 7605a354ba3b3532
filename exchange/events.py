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
LEGAL_BASIS_FILES_SWEPT = register(
    "exchange.legal_basis_files_swept",
    _("Suppression de fondements juridiques (PDF) qu'aucune habilitation ne cite"),
    citizen_visible=False,
)
API_CREATED = register("exchange.api_created", _("Ajout d'une API au catalogue"), citizen_visible=False)
API_CHANGED = register(
    "exchange.api_changed", _("Modification d'une API du catalogue"), citizen_visible=False
)
CREDENTIAL_ISSUED = register(
    "exchange.credential_issued", _("Création d'un identifiant d'accès"), citizen_visible=False
)
CREDENTIAL_RENEWED = register(
    "exchange.credential_renewed", _("Renouvellement d'un identifiant d'accès"), citizen_visible=False
)
CREDENTIAL_SECRET_CREATED = register(
    "exchange.credential_secret_created", _("Nouveau secret d'un identifiant d'accès"), citizen_visible=False
)
CREDENTIAL_REVOKED = register(
    "exchange.credential_revoked", _("Révocation d'un identifiant d'accès"), citizen_visible=False
)
CREDENTIAL_CHANGED = register(
    "exchange.credential_changed", _("Modification d'un identifiant d'accès"), citizen_visible=False
)
CREDENTIAL_EXPIRY_WARNED = register(
    "exchange.credential_expiry_warned",
    _("Avertissement d'expiration d'un identifiant d'accès"),
    citizen_visible=False,
)
CREDENTIAL_ACCESS_GRANTED = register(
    "exchange.credential_access_granted", _("Jeton d'accès délivré à un identifiant"), citizen_visible=False
)
GATEWAY_CALL = register("exchange.gateway_call", _("Échange de données par la passerelle"))
BATCH_SUBMITTED = register(
    "exchange.batch_submitted", _("Dépôt d'un traitement par lot"), citizen_visible=False
)
BATCH_FINISHED = register("exchange.batch_finished", _("Fin d'un traitement par lot"), citizen_visible=False)
BATCH_WEBHOOK = register(
    "exchange.batch_webhook", _("Notification de fin d'un traitement par lot"), citizen_visible=False
)
WEBHOOK_SECRET_CREATED = register(
    "exchange.webhook_secret_created", _("Nouveau secret de notification"), citizen_visible=False
)
WEBHOOK_SECRET_RETIRED = register(
    "exchange.webhook_secret_retired", _("Retrait d'un secret de notification"), citizen_visible=False
)
