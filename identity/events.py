"""Journal event types of the identity app (registered when the module is imported, from apps.py)."""

from django.utils.translation import gettext_lazy as _

from protection.events import register

USER_CREATED = register("identity.user_created", _("Création d'un compte"))
USER_CHANGED = register("identity.user_changed", _("Modification d'un compte"))
USER_DELETED = register("identity.user_deleted", _("Suppression d'un compte"))
PROVIDER_CREATED = register(
    "identity.provider_created", _("Ajout d'un fournisseur d'identité"), citizen_visible=False
)
PROVIDER_CHANGED = register(
    "identity.provider_changed", _("Modification d'un fournisseur d'identité"), citizen_visible=False
)
FI_CHOSEN = register("identity.fi_chosen", _("Choix d'un fournisseur d'identité"), citizen_visible=False)
FI_VERIFIED = register("identity.fi_verified", _("Connexion par un fournisseur d'identité"))
FI_REFUSED = register(
    "identity.fi_refused", _("Connexion refusée (fournisseur d'identité)"), citizen_visible=False
)
REGISTRY_CHECKED = register("identity.registry_checked", _("Vérification auprès de l'état civil"))
SIGNED_OUT = register("identity.signed_out", _("Déconnexion"))
PROVIDER_BLOCKED = register("identity.provider_blocked", _("Blocage d'un fournisseur d'identité"))
PROVIDER_ALLOWED = register("identity.provider_allowed", _("Déblocage d'un fournisseur d'identité"))
OP_KEYS_ROTATED = register(
    "identity.op_keys_rotated",
    _("Rotation des clés de signature des jetons d'identité"),
    citizen_visible=False,
)
