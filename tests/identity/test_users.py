import pytest
from django.db import IntegrityError

from identity.enums import UserKind
from identity.models import User
from tests.factories import AGENT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_citizens_are_created_without_a_usable_password():
    citizen = User.objects.create_citizen("usager-1", first_name="Angela")

    assert citizen.kind == UserKind.CITIZEN
    assert not citizen.has_usable_password()


def test_a_citizen_cannot_be_given_a_password():
    citizen = UserFactory(citizen=True)

    with pytest.raises(ValueError, match="no password"):
        citizen.set_password("s3cret-passphrase")


def test_database_refuses_a_citizen_with_a_password():
    agent = UserFactory()

    with pytest.raises(IntegrityError):
        User.objects.filter(pk=agent.pk).update(kind=UserKind.CITIZEN)


def test_database_refuses_a_citizen_with_admin_access():
    citizen = UserFactory(citizen=True)

    with pytest.raises(IntegrityError):
        User.objects.filter(pk=citizen.pk).update(is_staff=True)


def test_agents_have_a_password_and_a_public_uuid():
    agent = UserFactory()

    assert agent.has_usable_password()
    assert agent.check_password(AGENT_PASSWORD)
    assert agent.public_id.version == 4
