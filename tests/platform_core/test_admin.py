"""The Django admin: Maillage branding, organisations validated like the service, citizens' passwords."""

import pytest

from identity.enums import UserKind
from identity.models import User
from platform_core.enums import MembershipRole, OrganisationKind
from platform_core.models import Membership, Organisation
from tests.factories import AGENT_PASSWORD, MembershipFactory, OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

ORGANISATIONS = "/admin/platform_core/organisation/"


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(staff=True, is_superuser=True))
    return client


def test_login_page_is_branded(client):
    response = client.get("/admin/login/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Administration de Maillage" in html
    assert "/static/css/admin.css" in html
    assert 'href="/">Retour au site</a>' in html


def test_staff_can_log_in_with_a_password(client):
    UserFactory(username="instructrice", staff=True)

    response = client.post("/admin/login/", {"username": "instructrice", "password": AGENT_PASSWORD})

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_staff_lists_and_searches_organisations(staff_client):
    OrganisationFactory(name="Ville de Lyon", commune=True)
    OrganisationFactory(name="Agence de l'eau")

    response = staff_client.get(ORGANISATIONS)
    searched = staff_client.get(ORGANISATIONS, {"q": "Lyon"})

    assert response.status_code == 200
    assert "Ville de Lyon" in response.content.decode()
    assert list(searched.context["cl"].result_list.values_list("name", flat=True)) == ["Ville de Lyon"]


def test_staff_adds_an_organisation_normalised_and_completed_like_the_service(staff_client):
    response = staff_client.post(
        f"{ORGANISATIONS}add/",
        {
            "name": " Direction interministérielle du numérique ",
            "siret": "130 025 265 00013",
            "kind": OrganisationKind.MINISTRY,
            "commune_code": "75107",
            "departement_code": "",
            "region_code": "",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    organisation = Organisation.objects.get()
    assert organisation.name == "Direction interministérielle du numérique"
    assert (organisation.siret, organisation.siren) == ("13002526500013", "130025265")
    assert (organisation.departement_code, organisation.region_code) == ("75", "11")


def test_an_invalid_siret_is_refused_and_nothing_is_saved(staff_client):
    response = staff_client.post(
        f"{ORGANISATIONS}add/",
        {"name": "Faux", "siret": "13002526500014", "kind": OrganisationKind.COMMUNE},
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "SIRET" in errors["siret"][0]
    assert "errornote" in response.content.decode()
    assert not Organisation.objects.exists()


def test_inconsistent_geography_is_refused(staff_client):
    response = staff_client.post(
        f"{ORGANISATIONS}add/",
        {
            "name": "Lyon",
            "siret": "13002526500013",
            "kind": "commune",
            "commune_code": "69123",
            "departement_code": "75",
        },
    )

    assert response.status_code == 200
    assert "departement_code" in response.context["adminform"].form.errors
    assert not Organisation.objects.exists()


def test_memberships_use_autocomplete_and_filter_by_role(staff_client):
    MembershipFactory(role=MembershipRole.INSTRUCTOR)

    add_page = staff_client.get("/admin/platform_core/membership/add/").content.decode()
    listed = staff_client.get("/admin/platform_core/membership/", {"role__exact": MembershipRole.INSTRUCTOR})
    other = staff_client.get("/admin/platform_core/membership/", {"role__exact": MembershipRole.AGENT})

    assert add_page.count("admin-autocomplete") >= 2
    assert listed.context["cl"].result_count == 1
    assert other.context["cl"].result_count == 0
    assert Membership.objects.count() == 1


def test_a_citizen_has_no_password_field_in_the_admin(staff_client):
    citizen = UserFactory(citizen=True)

    response = staff_client.get(f"/admin/identity/user/{citizen.pk}/change/")

    fields = response.context["adminform"].form.fields
    assert response.status_code == 200
    assert "password" not in fields
    assert "is_staff" not in fields
    assert "password/" not in response.content.decode()


def test_a_citizens_password_cannot_be_changed_through_the_admin(staff_client):
    citizen = UserFactory(citizen=True)
    url = f"/admin/identity/user/{citizen.pk}/password/"

    shown = staff_client.get(url)
    posted = staff_client.post(
        url,
        {"usable_password": "true", "password1": "A-long-passphrase-1", "password2": "A-long-passphrase-1"},
    )

    assert shown.status_code == 302
    assert posted.status_code == 302
    assert posted["Location"] == f"/admin/identity/user/{citizen.pk}/change/"
    citizen.refresh_from_db()
    assert not citizen.has_usable_password()


def test_an_agents_password_can_still_be_changed(staff_client):
    agent = UserFactory()

    assert staff_client.get(f"/admin/identity/user/{agent.pk}/password/").status_code == 200


def test_a_citizen_is_created_without_a_password(staff_client):
    with_password = staff_client.post(
        "/admin/identity/user/add/",
        {
            "username": "usager-avec-mdp",
            "kind": UserKind.CITIZEN,
            "usable_password": "true",
            "password1": "A-long-passphrase-1",
            "password2": "A-long-passphrase-1",
        },
    )
    without_password = staff_client.post(
        "/admin/identity/user/add/",
        {"username": "usager", "kind": UserKind.CITIZEN, "usable_password": "false"},
    )

    assert with_password.status_code == 200
    assert "usable_password" in with_password.context["adminform"].form.errors
    assert without_password.status_code == 302
    citizen = User.objects.get(username="usager")
    assert citizen.kind == UserKind.CITIZEN
    assert not citizen.has_usable_password()
    assert not User.objects.filter(username="usager-avec-mdp").exists()


def test_an_agent_cannot_be_turned_into_a_citizen_while_holding_a_password(staff_client):
    agent = UserFactory()
    page = staff_client.get(f"/admin/identity/user/{agent.pk}/change/")
    data = {
        name: value
        for name, value in page.context["adminform"].form.initial.items()
        if value is not None and name not in {"groups", "user_permissions", "last_login"}
    }
    data.update(
        kind=UserKind.CITIZEN,
        date_joined_0=agent.date_joined.strftime("%d/%m/%Y"),
        date_joined_1=agent.date_joined.strftime("%H:%M:%S"),
    )
    data.pop("date_joined", None)
    data.pop("password", None)

    response = staff_client.post(f"/admin/identity/user/{agent.pk}/change/", data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "__all__": ["Un usager ne peut pas avoir de mot de passe."]
    }
    agent.refresh_from_db()
    assert agent.kind == UserKind.AGENT
