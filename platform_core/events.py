from django.utils.translation import gettext_lazy as _

from protection.events import register

ORGANISATION_CREATED = register("platform.organisation_created", _("Création d'une organisation"))
ORGANISATION_CHANGED = register("platform.organisation_changed", _("Modification d'une organisation"))
MEMBERSHIP_CREATED = register("platform.membership_created", _("Attribution d'un rôle"))
MEMBERSHIP_DELETED = register("platform.membership_deleted", _("Retrait d'un rôle"))
