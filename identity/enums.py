from django.db import models
from django.utils.translation import gettext_lazy as _


class UserKind(models.TextChoices):
    CITIZEN = "citizen", _("Usager")
    AGENT = "agent", _("Agent public")
    DEVELOPER = "developer", _("Développeur")
    STAFF = "staff", _("Équipe de la plateforme")
