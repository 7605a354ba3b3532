import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Substr
from django.utils.translation import gettext_lazy as _
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.fr import siret as siret_number

from platform_core.enums import MembershipRole, OrganisationKind
from platform_core.geography import COMMUNE_CODE, REGION_NAMES, REGION_OF_DEPARTEMENT, departement_of_commune


def validate_siret(value: str) -> None:
    try:
        siret_number.validate(value)
    except StdnumValidationError:
        raise ValidationError(
            _("« %(value)s » n'est pas un numéro SIRET valide (14 chiffres, clé de contrôle)."),
            code="invalid_siret",
            params={"value": value},
        ) from None


def validate_commune_code(value: str) -> None:
    if not COMMUNE_CODE.match(value):
        raise ValidationError(
            _("Code commune INSEE invalide : %(value)s."), code="invalid_commune", params={"value": value}
        )


def validate_departement_code(value: str) -> None:
    if value not in REGION_OF_DEPARTEMENT:
        raise ValidationError(
            _("Code département inconnu : %(value)s."), code="invalid_departement", params={"value": value}
        )


def validate_region_code(value: str) -> None:
    if value not in REGION_NAMES:
        raise ValidationError(
            _("Code région inconnu : %(value)s."), code="invalid_region", params={"value": value}
        )


class Organisation(models.Model):
    public_id = models.UUIDField(_("identifiant public"), default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("nom"), max_length=255)
    siret = models.CharField(_("SIRET"), max_length=14, unique=True, validators=[validate_siret])
    siren = models.GeneratedField(
        verbose_name=_("SIREN"),
        expression=Substr("siret", 1, 9),
        output_field=models.CharField(max_length=9),
        db_persist=True,
    )
    kind = models.CharField(_("nature"), max_length=32, choices=OrganisationKind.choices)
    commune_code = models.CharField(
        _("code commune INSEE"), max_length=5, blank=True, validators=[validate_commune_code]
    )
    departement_code = models.CharField(
        _("code département INSEE"), max_length=3, blank=True, validators=[validate_departement_code]
    )
    region_code = models.CharField(
        _("code région INSEE"), max_length=2, blank=True, validators=[validate_region_code]
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name", "siret"]
        constraints = [
            models.CheckConstraint(
                name="organisation_siret_14_digits", condition=models.Q(siret__regex=r"^\d{14}$")
            ),
            models.CheckConstraint(
                name="organisation_commune_code_format",
                condition=models.Q(commune_code="") | models.Q(commune_code__regex=COMMUNE_CODE.pattern),
            ),
            models.CheckConstraint(
                name="organisation_kind_valid", condition=models.Q(kind__in=OrganisationKind.values)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.siret})"

    def clean(self) -> None:
        """Keep the three geography codes consistent, deriving what can be derived."""
        errors = {}
        if self.commune_code and COMMUNE_CODE.match(self.commune_code):
            expected = departement_of_commune(self.commune_code)
            if not self.departement_code:
                self.departement_code = expected
            elif self.departement_code != expected:
                errors["departement_code"] = _(
                    "La commune %(commune)s n'est pas dans le département %(dep)s."
                ) % {
                    "commune": self.commune_code,
                    "dep": self.departement_code,
                }
        if self.departement_code in REGION_OF_DEPARTEMENT:
            expected_region = REGION_OF_DEPARTEMENT[self.departement_code]
            if not self.region_code:
                self.region_code = expected_region
            elif self.region_code != expected_region:
                errors["region_code"] = _("Le département %(dep)s n'est pas dans la région %(region)s.") % {
                    "dep": self.departement_code,
                    "region": self.region_code,
                }
        if errors:
            raise ValidationError(errors)


class Membership(models.Model):
    public_id = models.UUIDField(_("identifiant public"), default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("utilisateur"),
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="memberships", verbose_name=_("organisation")
    )
    role = models.CharField(_("rôle"), max_length=16, choices=MembershipRole.choices)
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("appartenance")
        verbose_name_plural = _("appartenances")
        ordering = ["organisation", "user", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation", "role"],
                name="membership_unique_role_per_user_and_organisation",
                violation_error_message=_("Cette personne a déjà ce rôle dans cette organisation."),
            ),
            models.CheckConstraint(
                name="membership_role_valid", condition=models.Q(role__in=MembershipRole.values)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} — {self.organisation.name}"
