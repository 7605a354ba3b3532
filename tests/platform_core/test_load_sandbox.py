"""`manage.py load_sandbox`: idempotent demo data through the services, credentials kept in var/."""

import json
import stat
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from stdnum.fr import siret as siret_number

from platform_core import sandbox
from platform_core.enums import MembershipRole, OrganisationKind
from platform_core.geography import REGION_OF_DEPARTEMENT, departement_of_commune
from platform_core.models import Membership, Organisation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sandbox_environment(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))  # credentials.json goes to a private var/
    settings.DEBUG = True
    settings.PUBLIC_URL = "https://maillage.example.gouv.fr"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only


def load_sandbox(*args) -> str:
    out = StringIO()
    call_command("load_sandbox", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        "organisations": Organisation.objects.count(),
        "users": get_user_model().objects.count(),
        "memberships": Membership.objects.count(),
    }


def stored_passwords(tmp_path) -> dict[str, str]:
    return json.loads((tmp_path / "sandbox" / "credentials.json").read_text(encoding="utf-8"))["passwords"]


def test_a_second_run_changes_nothing(tmp_path):
    # given a first run
    first_output = load_sandbox()
    after_first = counts()
    first_passwords = stored_passwords(tmp_path)
    first_hashes = dict(get_user_model().objects.values_list("username", "password"))

    # when
    second_output = load_sandbox()

    # then
    assert counts() == after_first
    assert stored_passwords(tmp_path) == first_passwords
    assert dict(get_user_model().objects.values_list("username", "password")) == first_hashes
    assert "Bac à sable chargé" in first_output
    assert "Aucun changement" in second_output
    assert " + " not in second_output


def test_every_organisation_kind_and_role_exists(tmp_path):
    load_sandbox()

    assert Organisation.objects.count() == len(sandbox.ORGANISATIONS)
    assert set(Organisation.objects.values_list("kind", flat=True)) >= {
        OrganisationKind.MINISTRY,
        OrganisationKind.STATE_OPERATOR,
        OrganisationKind.DEPARTEMENT,
        OrganisationKind.COMMUNE,
        OrganisationKind.COMPANY,
        OrganisationKind.ASSOCIATION,
    }
    assert set(Membership.objects.values_list("role", flat=True)) == set(MembershipRole.values)
    assert Membership.objects.values("organisation").distinct().count() == len(sandbox.ORGANISATIONS)


def test_organisations_have_valid_sirets_and_consistent_geography():
    load_sandbox()

    for organisation in Organisation.objects.all():
        assert siret_number.is_valid(organisation.siret), organisation
        assert departement_of_commune(organisation.commune_code) == organisation.departement_code
        assert REGION_OF_DEPARTEMENT[organisation.departement_code] == organisation.region_code


def test_stored_credentials_authenticate(tmp_path):
    output = load_sandbox()

    passwords = stored_passwords(tmp_path)
    assert set(passwords) == {user.username for user in sandbox.USERS}
    for username, password in passwords.items():
        assert authenticate(username=username, password=password) is not None, username
        assert password in output  # printed in the table
    assert "https://maillage.example.gouv.fr/admin/" in output


def test_credentials_file_is_private(tmp_path):
    load_sandbox()

    mode = stat.S_IMODE((tmp_path / "sandbox" / "credentials.json").stat().st_mode)
    assert mode == 0o600


def test_the_admin_is_a_staff_superuser():
    load_sandbox()

    admin = get_user_model().objects.get(username="demo.admin")
    assert admin.is_staff
    assert admin.is_superuser
    assert admin.memberships.get().role == MembershipRole.ADMIN
    others = get_user_model().objects.exclude(username="demo.admin")
    assert not others.filter(is_staff=True).exists()
    assert not others.filter(is_superuser=True).exists()


def test_the_citizen_has_no_usable_password():
    load_sandbox()

    citizen = get_user_model().objects.get(username="demo.usager")
    assert citizen.kind == "citizen"
    assert not citizen.has_usable_password()
    assert not citizen.memberships.exists()


def test_lost_credentials_are_regenerated_and_applied(tmp_path):
    # given a loaded sandbox whose credentials file was deleted
    load_sandbox()
    (tmp_path / "sandbox" / "credentials.json").unlink()

    # when
    load_sandbox()

    # then the new passwords work and nothing was duplicated
    for username, password in stored_passwords(tmp_path).items():
        assert authenticate(username=username, password=password) is not None, username
    assert get_user_model().objects.filter(username="demo.admin").count() == 1


def test_refuses_when_debug_is_off(settings, tmp_path):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="--force"):
        load_sandbox()

    assert counts() == {"organisations": 0, "users": 0, "memberships": 0}
    assert not (tmp_path / "sandbox").exists()


def test_force_loads_even_when_debug_is_off(settings):
    settings.DEBUG = False

    load_sandbox("--force")

    assert Organisation.objects.count() == len(sandbox.ORGANISATIONS)


def test_a_corrupt_credentials_file_is_reported(tmp_path):
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "sandbox" / "credentials.json").write_text("{not json", encoding="utf-8")

    with pytest.raises(CommandError, match="illisible"):
        load_sandbox()
