"""/api/v1/organisations/: the public directory (paginated, filtered) and its creation by staff."""

import uuid

import pytest

from platform_core.enums import OrganisationKind
from platform_core.models import Organisation
from tests.factories import OrganisationFactory, UserFactory, valid_siret
from tests.problems import assert_problem

pytestmark = pytest.mark.django_db

LIST = "/api/v1/organisations/"


@pytest.fixture
def staff_client(api_client):
    api_client.force_login(UserFactory(staff=True))
    return api_client


# --- List -------------------------------------------------------------------------------------


def test_anyone_lists_organisations_with_public_ids_only(api_client, django_assert_num_queries):
    # given
    organisations = OrganisationFactory.create_batch(5)

    # when (one query counts, one fetches the page, whatever the number of rows)
    with django_assert_num_queries(2):
        response = api_client.get(LIST)

    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    assert body["next"] is None and body["previous"] is None
    first = body["results"][0]
    assert set(first) == {
        "id",
        "name",
        "siret",
        "siren",
        "kind",
        "commune_code",
        "departement_code",
        "region_code",
        "created_at",
        "updated_at",
    }
    assert {item["id"] for item in body["results"]} == {str(org.public_id) for org in organisations}


def test_pages_link_to_each_other(api_client, django_assert_num_queries):
    OrganisationFactory.create_batch(5)

    with django_assert_num_queries(2):
        first = api_client.get(LIST, {"page_size": 2}).json()
    last = api_client.get(LIST, {"page_size": 2, "page": 3}).json()

    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert first["next"].endswith("/api/v1/organisations/?page=2&page_size=2")
    assert len(last["results"]) == 1
    assert last["next"] is None
    assert "page=2" in last["previous"]


def test_page_size_is_capped_at_500(api_client):
    OrganisationFactory.create_batch(2)

    response = api_client.get(LIST, {"page_size": 100_000})

    assert response.status_code == 200
    assert response.json()["count"] == 2


@pytest.mark.parametrize("page", ["9", "0", "abc"])
def test_invalid_page_is_a_404_problem(api_client, page):
    OrganisationFactory()

    response = api_client.get(LIST, {"page": page})

    assert_problem(response, 404, "not-found")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"kind": "commune"}, {"Lyon"}),
        ({"departement": "69"}, {"Lyon"}),
        ({"region": "11"}, {"DINUM", "Opérateur"}),
        ({"q": "dinu"}, {"DINUM"}),
        ({"q": "130 025"}, {"DINUM"}),
        ({"kind": "", "departement": "", "q": ""}, {"DINUM", "Opérateur", "Lyon"}),
        ({"region": "11", "kind": OrganisationKind.MINISTRY}, {"DINUM"}),
    ],
)
def test_list_filters(api_client, filters, expected):
    # given
    OrganisationFactory(name="DINUM", siret="13002526500013", kind=OrganisationKind.MINISTRY)
    OrganisationFactory(name="Opérateur")  # a state operator in Paris
    OrganisationFactory(name="Lyon", commune=True)

    # when
    response = api_client.get(LIST, filters)

    # then
    assert response.status_code == 200
    assert {item["name"] for item in response.json()["results"]} == expected


def test_invalid_filters_are_a_400_problem_naming_each_field(api_client):
    response = api_client.get(LIST, {"kind": "kingdom", "departement": "20", "region": "99", "q": "x" * 101})

    body = assert_problem(response, 400, "validation-error")
    assert {error["field"] for error in body["errors"]} == {"kind", "departement", "region", "q"}
    assert {error["code"] for error in body["errors"]} == {"invalid_choice", "max_length"}


# --- Detail -----------------------------------------------------------------------------------


def test_anyone_reads_an_organisation_by_public_id(api_client, django_assert_num_queries):
    organisation = OrganisationFactory(name="DINUM")

    with django_assert_num_queries(1):
        response = api_client.get(f"{LIST}{organisation.public_id}")

    assert response.status_code == 200
    assert response.json()["id"] == str(organisation.public_id)
    assert response.json()["name"] == "DINUM"


@pytest.mark.parametrize("public_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
def test_unknown_or_malformed_public_id_is_a_404_problem(api_client, public_id):
    OrganisationFactory()  # pk 1 may exist: integer ids must not work either

    response = api_client.get(f"{LIST}{public_id}")

    assert_problem(response, 404, "not-found")


# --- Create -----------------------------------------------------------------------------------


def test_staff_creates_an_organisation(staff_client):
    # when
    response = staff_client.post(
        LIST,
        {"name": "Ville de Lyon", "siret": valid_siret(42), "kind": "commune", "commune_code": "69123"},
        format="json",
    )

    # then the service derived the geography and the id is public
    assert response.status_code == 201
    body = response.json()
    organisation = Organisation.objects.get()
    assert body["id"] == str(organisation.public_id)
    assert (body["departement_code"], body["region_code"]) == ("69", "84")
    assert response["Location"] == f"{LIST}{organisation.public_id}"


def test_invalid_siret_is_a_400_problem_on_the_siret_field(staff_client):
    response = staff_client.post(
        LIST, {"name": "Faux", "siret": "13002526500014", "kind": "commune"}, format="json"
    )

    body = assert_problem(response, 400, "validation-error")
    assert [(error["field"], error["code"]) for error in body["errors"]] == [("siret", "invalid_siret")]
    assert not Organisation.objects.exists()


def test_missing_fields_are_a_400_problem_naming_each_field(staff_client):
    response = staff_client.post(LIST, {}, format="json")

    body = assert_problem(response, 400, "validation-error")
    assert {(error["field"], error["code"]) for error in body["errors"]} == {
        ("name", "required"),
        ("siret", "required"),
        ("kind", "required"),
    }


@pytest.mark.parametrize("user_traits", [{}, {"citizen": True}])
def test_only_staff_creates_organisations(api_client, user_traits):
    api_client.force_login(UserFactory(**user_traits))

    response = api_client.post(LIST, {"name": "x", "siret": valid_siret(1), "kind": "commune"}, format="json")

    assert_problem(response, 403, "permission-denied")
    assert not Organisation.objects.exists()
