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
# Maillage as the OpenID provider of service providers ("FS").
AUTHORIZE_RECEIVED = register(
    "identity.authorize_received", _("Demande de connexion d'un service"), citizen_visible=False
)
AUTHORIZE_REFUSED = register(
    "identity.authorize_refused", _("Demande de connexion refusée"), citizen_visible=False
)
FS_SIGNED_IN = register("identity.fs_signed_in", _("Connexion à un service"))
CONSENT_GIVEN = register("identity.consent_given", _("Consentement à la transmission de données"))
CONSENT_REFUSED = register("identity.consent_refused", _("Refus de transmettre des données"))
CONSENT_REVOKED = register("identity.consent_revoked", _("Retrait d'un consentement"))
TOKEN_ISSUED = register("identity.token_issued", _("Jeton d'identité remis à un service"))
USERINFO_SERVED = register("identity.userinfo_served", _("Données d'identité transmises à un service"))
CODE_REPLAYED = register(
    "identity.code_replayed", _("Code d'autorisation rejoué : jetons révoqués"), citizen_visible=False
)
TOKEN_REVOKED = register("identity.token_revoked", _("Révocation d'un jeton"), citizen_visible=False)
FS_SIGNED_OUT = register("identity.fs_signed_out", _("Déconnexion depuis un service"))
SERVICE_CREATED = register(
    "identity.service_created", _("Ajout d'un fournisseur de service"), citizen_visible=False
)
SERVICE_CHANGED = register(
    "identity.service_changed", _("Modification d'un fournisseur de service"), citizen_visible=False
)
SERVICE_SECRET_ROTATED = register(
    "identity.service_secret_rotated", _("Nouveau secret d'un fournisseur de service"), citizen_visible=False
)
TOKENS_PURGED = register(
    "identity.tokens_purged", _("Purge des jetons et codes expirés"), citizen_visible=False
)
