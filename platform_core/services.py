"""Every write to the shared kernel goes through here."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from platform_core import events
from platform_core.enums import MembershipRole
from platform_core.exceptions import Conflict, InvalidInput
from platform_core.models import Membership, Organisation
from protection import journal
from protection.pseudonyms import pseudonym_for


def validation_errors(error: ValidationError) -> list[dict]:
    """Flatten a Django ValidationError into problem+json field errors."""
    if hasattr(error, "error_dict"):
        return [
            {"field": field, "code": item.code or "invalid", "message": " ".join(item.messages)}
            for field, items in error.error_dict.items()
            for item in items
        ]
    return [
        {"field": None, "code": item.code or "invalid", "message": " ".join(item.messages)}
        for item in error.error_list
    ]


@transaction.atomic
def organisation_create(
    *,
    name: str,
    siret: str,
    kind: str,
    commune_code: str = "",
    departement_code: str = "",
    region_code: str = "",
    acting_user=None,
) -> Organisation:
    organisation = Organisation(
        name=name.strip(),
        siret="".join(siret.split()),
        kind=kind,
        commune_code=commune_code.strip().upper(),
        departement_code=departement_code.strip().upper(),
        region_code=region_code.strip(),
    )
    try:
        organisation.full_clean()
    except ValidationError as error:
        raise InvalidInput("L'organisation n'est pas valide.", errors=validation_errors(error)) from None
    organisation.save()
    journal_organisation(events.ORGANISATION_CREATED.code, organisation, acting_user=acting_user)
    return organisation


def journal_organisation(event_type: str, organisation: Organisation, *, acting_user=None) -> None:
    """The journal entry of a change to an organisation (kernel reference data, no personal data)."""
    journal.record(
        event_type,
        actor=acting_user,
        organisation=organisation,
        data={
            "name": organisation.name,
            "siret": organisation.siret,
            "kind": organisation.kind,
            "departement": organisation.departement_code,
            "region": organisation.region_code,
        },
    )


def journal_membership(event_type: str, membership: Membership, *, acting_user=None) -> None:
    journal.record(
        event_type,
        actor=acting_user,
        organisation=membership.organisation,
        subject=pseudonym_for(str(membership.user.public_id)),
        data={"role": membership.role},
    )


@transaction.atomic
def membership_create(*, user, organisation: Organisation, role: str, acting_user=None) -> Membership:
    if role not in MembershipRole.values:
        raise InvalidInput(
            f"Rôle inconnu : {role}.",
            errors=[{"field": "role", "code": "invalid_choice", "message": f"Rôle inconnu : {role}."}],
        )
    try:
        with transaction.atomic():
            membership = Membership.objects.create(user=user, organisation=organisation, role=role)
    except IntegrityError:
        raise Conflict(f"{user} a déjà le rôle « {role} » dans {organisation.name}.") from None
    journal_membership(events.MEMBERSHIP_CREATED.code, membership, acting_user=acting_user)
    return membership
