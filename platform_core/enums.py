from django.db import models
from django.utils.translation import gettext_lazy as _


class OrganisationKind(models.TextChoices):
    MINISTRY = "ministry", _("Ministère")
    STATE_OPERATOR = "state_operator", _("Opérateur de l'État")
    REGION = "region", _("Région")
    DEPARTEMENT = "departement", _("Département")
    COMMUNE = "commune", _("Commune")
    EPCI = "epci", _("Établissement public de coopération intercommunale")
    COMPANY = "company", _("Entreprise")
    ASSOCIATION = "association", _("Association")


class MembershipRole(models.TextChoices):
    ADMIN = "admin", _("Administrateur")
    INSTRUCTOR = "instructor", _("Instructeur")
    REPORTER = "reporter", _("Rapporteur")
    DEVELOPER = "developer", _("Développeur")
    AGENT = "agent", _("Agent")
    REPRESENTATIVE = "representative", _("Représentant légal")
