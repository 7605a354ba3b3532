"""Service providers are managed by their organisation's admins and developers, in the admin and through
the developer API (django-guardian object permissions); nobody else sees or changes them."""

import pytest

from identity.hashers import ClientSecretHasher
from identity.models import ServiceProvider
from identity.services import service_provider_create
from platform_core.enums import MembershipRole
from protection.models import JournalEntry
from tests.factories import MembershipFactory, OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db
NEW = {
    "name": "Portail des familles",
    "redirect_uris": ["https://familles.example.fr/oidc/callback"],
    "post_logout_redirect_uris": ["https://familles.example.fr/"],
    "scopes": ["openid", "profile", "email"],
    "eidas_levels": ["eidas1", "eidas2"],
    "private": True,
}


@pytest.fixture
def town_hall():
    return OrganisationFactory(name="Mairie")


@pytest.fixture
def developer(town_hall):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organisation=town_hall, role=MembershipRole.DEVELOPER)
    return user


@pytest.fixture
def outsider():
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organisation=OrganisationFactory(), role=MembershipRole.ADMIN)
    return user


def create(api_client, user, organisation, **overrides):
    api_client.force_authenticate(user)
    return api_client.post(
        "/api/v1/service-providers/",
        {**NEW, "organisation": str(organisation.public_id), **overrides},
        format="json",
    )


def test_a_developer_registers_a_service_and_sees_its_secret_once(api_client, developer, town_hall):
    response = create(api_client, developer, town_hall)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["private"] is True and body["eidas_levels"] == ["eidas1", "eidas2"]
    service = ServiceProvider.objects.get(application__client_id=body["client_id"])
    stored = service.application.client_secret
    assert stored.startswith("hmac_sha256$") and body["client_secret"] not in stored
    assert ClientSecretHasher().verify(body["client_secret"], stored)
    assert response["Cache-Control"] == "no-store"
    again = api_client.get(response["Location"])
    assert again.status_code == 200 and "client_secret" not in again.json()
    assert JournalEntry.objects.filter(event_type="identity.service_created").exists()


def test_nobody_else_sees_or_changes_it(api_client, developer, outsider, town_hall):
    client_id = create(api_client, developer, town_hall).json()["client_id"]

    api_client.force_authenticate(outsider)
    assert api_client.get("/api/v1/service-providers/").json() == []
    assert api_client.get(f"/api/v1/service-providers/{client_id}").status_code == 404
    assert api_client.patch(f"/api/v1/service-providers/{client_id}", {"private": False}).status_code == 404
    assert api_client.post(f"/api/v1/service-providers/{client_id}/secret").status_code == 404
    refused = create(api_client, outsider, town_hall)
    assert refused.status_code == 403 and refused["Content-Type"] == "application/problem+json"
    api_client.force_authenticate(None)
    assert api_client.get("/api/v1/service-providers/").status_code in (401, 403)


def test_permissions_follow_memberships(api_client, developer, town_hall):
    client_id = create(api_client, developer, town_hall).json()["client_id"]
    newcomer = UserFactory()
    membership = MembershipFactory(user=newcomer, organisation=town_hall, role=MembershipRole.ADMIN)
    api_client.force_authenticate(newcomer)
    assert [s["client_id"] for s in api_client.get("/api/v1/service-providers/").json()] == [client_id]

    membership.delete()
    newcomer = type(newcomer).objects.get(pk=newcomer.pk)  # a fresh permission cache
    api_client.force_authenticate(newcomer)
    assert api_client.get(f"/api/v1/service-providers/{client_id}").status_code == 404

    reporter = UserFactory()
    MembershipFactory(user=reporter, organisation=town_hall, role=MembershipRole.REPORTER)
    api_client.force_authenticate(reporter)
    assert api_client.get("/api/v1/service-providers/").json() == []


def test_a_change_and_a_new_secret_are_journaled(api_client, developer, town_hall):
    created = create(api_client, developer, town_hall).json()
    url = f"/api/v1/service-providers/{created['client_id']}"

    changed = api_client.patch(
        url, {"redirect_uris": ["https://familles.example.fr/cb2"], "signing_alg": "RS256"}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["redirect_uris"] == ["https://familles.example.fr/cb2"]
    entry = JournalEntry.objects.get(event_type="identity.service_changed")
    assert entry.data["fields"] == ["redirect_uris", "signing_alg"]

    rotated = api_client.post(f"{url}/secret").json()["client_secret"]
    service = ServiceProvider.objects.get(application__client_id=created["client_id"])
    assert ClientSecretHasher().verify(rotated, service.application.client_secret)
    assert not ClientSecretHasher().verify(created["client_secret"], service.application.client_secret)
    assert JournalEntry.objects.filter(event_type="identity.service_secret_rotated").exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"redirect_uris": ["pas une url"]}, "redirect_uris"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"redirect_uris": ["https://a.example.fr/cb", "https://b.example.org/cb"]}, "sector_identifier_uri"),
        ({"scopes": ["profile"]}, "scopes"),
        ({"scopes": ["openid", "phone"]}, "scopes"),
        ({"eidas_levels": ["eidas9"]}, "eidas_levels"),
        ({"allowed_providers": ["inconnu"]}, "allowed_providers"),
    ],
)
def test_bad_input_is_a_clear_400(api_client, developer, town_hall, overrides, field):
    response = create(api_client, developer, town_hall, **overrides)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert field in response.content.decode()
    assert not ServiceProvider.objects.exists()


def test_the_admin_lists_only_ones_own_services_and_shows_a_new_secret_once(
    client, developer, outsider, town_hall
):
    mine, _secret = service_provider_create(
        organisation=town_hall, name="Le mien", redirect_uris=["https://mien.example.fr/cb"]
    )
    theirs, _secret = service_provider_create(
        organisation=OrganisationFactory(), name="Le leur", redirect_uris=["https://leur.example.fr/cb"]
    )
    client.force_login(developer)
    listing = client.get("/admin/identity/serviceprovider/")
    assert listing.status_code == 200
    assert "Le mien" in listing.content.decode() and "Le leur" not in listing.content.decode()
    assert client.get(f"/admin/identity/serviceprovider/{theirs.pk}/change/").status_code in (302, 403, 404)
    assert client.get(f"/admin/identity/serviceprovider/{mine.pk}/change/").status_code == 200

    added = client.post(
        "/admin/identity/serviceprovider/add/",
        {
            "name": "Cantine", "organisation": town_hall.pk, "audience": "citizen",
            "redirect_uris": "https://cantine.example.fr/cb/", "post_logout_redirect_uris": "",
            "sector_identifier_uri": "", "scopes": "openid profile", "eidas_levels": ["eidas1", "eidas2"],
            "signing_alg": "ES256", "auth_method": "client_secret_basic", "jwks": "{}",
        },
        follow=True,
    )  # fmt: skip
    assert added.status_code == 200
    messages = [str(m) for m in added.context["messages"]]
    assert any("secret client" in m for m in messages), messages
    service = ServiceProvider.objects.get(application__name="Cantine")
    assert service.redirect_uri_list == ["https://cantine.example.fr/cb/"]
    assert service.eidas_levels == ["eidas1", "eidas2"]
    assert client.get(f"/admin/identity/serviceprovider/{service.pk}/change/").status_code == 200
    assert (
        "hmac_sha256"
        not in client.get(f"/admin/identity/serviceprovider/{service.pk}/change/").content.decode()
    )
