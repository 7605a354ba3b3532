from django.db import models
from django.utils.translation import gettext_lazy as _


class UserKind(models.TextChoices):
    CITIZEN = "citizen", _("Usager")
    AGENT = "agent", _("Agent public")
    COMPANY = "company", _("Représentant d'entreprise")
    DEVELOPER = "developer", _("Développeur")
    STAFF = "staff", _("Équipe de la plateforme")


class ProviderAudience(models.TextChoices):
    """Who signs in with an identity provider."""

    CITIZEN = "citizen", _("Usagers")
    AGENT = "agent", _("Agents publics")
    COMPANY = "company", _("Entreprises")


class EidasLevel(models.TextChoices):
    """eIDAS levels of assurance, as FranceConnect names them in acr values (ordered)."""

    LOW = "eidas1", _("eIDAS faible")
    SUBSTANTIAL = "eidas2", _("eIDAS substantiel")
    HIGH = "eidas3", _("eIDAS élevé")
