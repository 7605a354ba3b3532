from django.db import models
from django.utils.translation import gettext_lazy as _


class Outcome(models.TextChoices):
    SUCCESS = "success", _("Succès")
    DENIED = "denied", _("Refusé")
    FAILURE = "failure", _("Échec")
