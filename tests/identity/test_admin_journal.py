"""Every write to an account made in the admin leaves a journal entry (fields named, values never)."""

import pytest

from identity.models import User
from protection.models import JournalEntry
from protection.pseudonyms import pseudonym_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
USERS = "/admin/identity/user/"
NEW_PASSWORD = "Une phrase de passe assez longue 42"


@pytest.fixture
def admin_user():
    return UserFactory(staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def entries_about(user, event_type):
    return JournalEntry.objects.filter(event_type=event_type, subject=pseudonym_for(str(user.public_id)))


def test_creating_changing_and_deleting_an_agent_is_journaled(staff_client, admin_user):
    response = staff_client.post(
        f"{USERS}add/",
        {"username": "camille", "kind": "agent", "usable_password": "true",
         "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="camille")
    created = entries_about(user, "identity.user_created").get()
    assert created.actor_id == str(admin_user.public_id)
    assert NEW_PASSWORD not in str(created.data) and "password1" not in created.data["fields"]

    response = staff_client.post(
        f"{USERS}{user.pk}/password/", {"password1": NEW_PASSWORD + "!", "password2": NEW_PASSWORD + "!"}
    )
    assert response.status_code == 302
    assert entries_about(user, "identity.user_changed").get().data == {
        "kind": "agent",
        "fields": ["password"],
    }

    response = staff_client.post(f"{USERS}{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not User.objects.filter(pk=user.pk).exists()
    assert entries_about(user, "identity.user_deleted").count() == 1


def test_a_bulk_deletion_journals_each_account(staff_client):
    users = UserFactory.create_batch(3)

    response = staff_client.post(
        USERS, {"action": "delete_selected", "_selected_action": [u.pk for u in users], "post": "yes"}
    )

    assert response.status_code == 302
    assert not User.objects.filter(pk__in=[u.pk for u in users]).exists()
    assert all(entries_about(user, "identity.user_deleted").count() == 1 for user in users)


def test_an_edit_names_the_changed_fields(staff_client):
    user = UserFactory(first_name="Camille", email="camille@example.org")
    page = staff_client.get(f"{USERS}{user.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(first_name="Dominique", date_joined_0="2026-01-01", date_joined_1="10:00:00")
    data.pop("date_joined", None)
    data.pop("groups", None)
    data.pop("user_permissions", None)

    response = staff_client.post(f"{USERS}{user.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    changed = entries_about(user, "identity.user_changed").get()
    assert "first_name" in changed.data["fields"] and "Dominique" not in str(changed.data)
