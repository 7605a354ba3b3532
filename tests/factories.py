"""factory_boy factories for the shared kernel; each app adds its own in tests/<app>/factories.py."""

import functools

import factory
from django.contrib.auth.hashers import make_password
from stdnum import luhn
from stdnum.fr import siret as siret_number

from identity.enums import UserKind
from platform_core.enums import MembershipRole, OrganisationKind


def valid_siret(n: int) -> str:
    """A SIRET with valid SIREN and SIRET check digits, different for every n."""
    siren_body = f"{n:08d}"
    siren = siren_body + luhn.calc_check_digit(siren_body)
    body = siren + "0001"
    for last in "0123456789":
        if siret_number.is_valid(body + last):
            return body + last
    raise AssertionError("unreachable: one check digit always fits")


AGENT_PASSWORD = "correct horse battery staple"


@functools.cache
def _agent_password_hash() -> str:
    return make_password(AGENT_PASSWORD)  # hashed once: the hasher is slow on purpose


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "identity.User"
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"agent{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.gouv.fr")
    first_name = "Camille"
    last_name = factory.Sequence(lambda n: f"Martin{n}")
    kind = UserKind.AGENT
    password = factory.LazyAttribute(
        lambda user: make_password(None) if user.kind == UserKind.CITIZEN else _agent_password_hash()
    )

    class Params:
        citizen = factory.Trait(kind=UserKind.CITIZEN)
        staff = factory.Trait(kind=UserKind.STAFF, is_staff=True)


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "platform_core.Organisation"

    name = factory.Sequence(lambda n: f"Organisation {n}")
    siret = factory.Sequence(lambda n: valid_siret(n + 10_000_000))
    kind = OrganisationKind.STATE_OPERATOR
    commune_code = "75056"
    departement_code = "75"
    region_code = "11"

    class Params:
        commune = factory.Trait(
            kind=OrganisationKind.COMMUNE, commune_code="69123", departement_code="69", region_code="84"
        )


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "platform_core.Membership"

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = MembershipRole.AGENT
