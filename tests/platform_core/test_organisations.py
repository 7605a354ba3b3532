import pytest
from django.db import IntegrityError

from platform_core.enums import MembershipRole, OrganisationKind
from platform_core.exceptions import Conflict, InvalidInput
from platform_core.models import Organisation
from platform_core.services import membership_create, organisation_create
from tests.factories import MembershipFactory, OrganisationFactory, UserFactory, valid_siret

pytestmark = pytest.mark.django_db

# The DINUM's SIRET, a real and valid one.
DINUM_SIRET = "13002526500013"


def test_organisation_create_derives_siren_and_geography():
    organisation = organisation_create(
        name="Direction interministérielle du numérique",
        siret="130 025 265 00013",
        kind=OrganisationKind.MINISTRY,
        commune_code="75107",
    )

    organisation.refresh_from_db()
    assert organisation.siret == DINUM_SIRET
    assert organisation.siren == "130025265"
    assert organisation.departement_code == "75"
    assert organisation.region_code == "11"


def test_organisation_with_invalid_siret_is_rejected_with_a_field_error():
    with pytest.raises(InvalidInput) as raised:
        organisation_create(name="Faux", siret="13002526500014", kind=OrganisationKind.COMMUNE)

    assert [error["field"] for error in raised.value.errors] == ["siret"]
    assert raised.value.errors[0]["code"] == "invalid_siret"
    assert not Organisation.objects.exists()


@pytest.mark.parametrize("siret", ["1300252650001", "1300252650001A", ""])
def test_organisation_with_malformed_siret_is_rejected(siret):
    with pytest.raises(InvalidInput):
        organisation_create(name="Faux", siret=siret, kind=OrganisationKind.COMMUNE)


def test_database_refuses_a_siret_that_is_not_14_digits():
    organisation = OrganisationFactory.build(siret="ABC")
    with pytest.raises(IntegrityError):
        organisation.save()


def test_overseas_and_corsican_communes_get_their_departement_and_region():
    reunion = organisation_create(
        name="Saint-Denis", siret=valid_siret(1), kind="commune", commune_code="97411"
    )
    ajaccio = organisation_create(name="Ajaccio", siret=valid_siret(2), kind="commune", commune_code="2A004")

    assert (reunion.departement_code, reunion.region_code) == ("974", "04")
    assert (ajaccio.departement_code, ajaccio.region_code) == ("2A", "94")


@pytest.mark.parametrize(
    ("geography", "field"),
    [
        ({"commune_code": "69123", "departement_code": "75"}, "departement_code"),
        ({"departement_code": "75", "region_code": "84"}, "region_code"),
        ({"departement_code": "20"}, "departement_code"),
        ({"commune_code": "7510"}, "commune_code"),
        ({"region_code": "99"}, "region_code"),
    ],
)
def test_inconsistent_or_unknown_geography_is_rejected(geography, field):
    with pytest.raises(InvalidInput) as raised:
        organisation_create(name="Ville", siret=valid_siret(3), kind="commune", **geography)

    assert field in {error["field"] for error in raised.value.errors}


def test_unknown_kind_is_rejected():
    with pytest.raises(InvalidInput) as raised:
        organisation_create(name="Ville", siret=valid_siret(4), kind="kingdom")

    assert raised.value.errors[0]["field"] == "kind"


def test_siret_is_unique():
    OrganisationFactory(siret=DINUM_SIRET)

    with pytest.raises(InvalidInput) as raised:
        organisation_create(name="Doublon", siret=DINUM_SIRET, kind=OrganisationKind.MINISTRY)

    assert raised.value.errors[0]["field"] == "siret"


def test_a_user_holds_a_role_once_per_organisation():
    membership = MembershipFactory(role=MembershipRole.INSTRUCTOR)

    with pytest.raises(Conflict):
        membership_create(
            user=membership.user, organisation=membership.organisation, role=MembershipRole.INSTRUCTOR
        )

    other_role = membership_create(
        user=membership.user, organisation=membership.organisation, role=MembershipRole.REPORTER
    )
    assert other_role.pk != membership.pk


def test_database_enforces_membership_uniqueness():
    membership = MembershipFactory()

    with pytest.raises(IntegrityError):
        MembershipFactory(user=membership.user, organisation=membership.organisation, role=membership.role)


def test_membership_with_unknown_role_is_rejected():
    with pytest.raises(InvalidInput):
        membership_create(user=UserFactory(), organisation=OrganisationFactory(), role="king")
