import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from platform_core.enums import OrganisationKind
from platform_core.services import membership_create, organisation_create
from protection import events, journal
from protection.journal import JournalPayloadError
from protection.models import JournalEntry
from protection.pseudonyms import all_pseudonyms_for, pseudonym_for
from tests.factories import OrganisationFactory, UserFactory, valid_siret

pytestmark = pytest.mark.django_db

events.register("tests.something_happened", "Évènement de test")


def test_an_entry_commits_with_the_change_it_describes():
    with transaction.atomic():
        entry = journal.record("tests.something_happened", actor=None, data={"n": 1})

    stored = JournalEntry.objects.get(pk=entry.pk)
    assert stored.actor_type == "system"
    assert stored.data == {"n": 1}
    assert stored.occurred_at <= timezone.now()


def test_a_rolled_back_change_leaves_no_entry():
    with pytest.raises(RuntimeError), transaction.atomic():
        journal.record("tests.something_happened", actor=None)
        raise RuntimeError("the change failed")

    assert not JournalEntry.objects.filter(event_type="tests.something_happened").exists()


def test_actors_are_recorded_by_public_identifier():
    user = UserFactory()
    organisation = OrganisationFactory()

    by_user = journal.record("tests.something_happened", actor=user, organisation=organisation)
    by_organisation = journal.record("tests.something_happened", actor=organisation)

    assert (by_user.actor_type, by_user.actor_id, by_user.actor_label) == ("user", str(user.public_id), "")
    assert by_organisation.actor_label == str(organisation)
    assert by_user.organisation_id == str(organisation.public_id)
    assert by_organisation.organisation_id == str(organisation.public_id)


def test_unknown_event_types_are_refused():
    with pytest.raises(events.UnknownEventType):
        journal.record("tests.never_registered", actor=None)


def test_a_plain_identifier_is_never_accepted_as_subject():
    with pytest.raises(TypeError, match="pseudonym_for"):
        journal.record("tests.something_happened", actor=None, subject="1 85 05 78 006 084 36")


@pytest.mark.parametrize(
    "data",
    [
        {"access_token": "abc"},
        {"nested": {"client_secret": "x"}},
        {"items": [{"password": "x"}]},
        {"x": "y" * 5000},
    ],
)
def test_secrets_and_oversized_payloads_are_refused(data):
    with pytest.raises(JournalPayloadError):
        journal.record("tests.something_happened", actor=None, data=data)


def test_pseudonyms_are_stable_keyed_and_never_the_identifier(settings):
    first = pseudonym_for("person-42")

    assert first == pseudonym_for("person-42")
    assert first != pseudonym_for("person-43")
    assert "person-42" not in first
    assert first.startswith(settings.JOURNAL_PSEUDONYM_KEYS[-1][0] + ":")


def test_after_a_key_rotation_a_person_is_found_under_old_and_new_keys(settings):
    old = pseudonym_for("person-42")
    settings.JOURNAL_PSEUDONYM_KEYS = [*settings.JOURNAL_PSEUDONYM_KEYS, ("p9", b"k" * 32)]

    new = pseudonym_for("person-42")

    assert new != old and new.startswith("p9:")
    assert all_pseudonyms_for("person-42") == [new, old]


def _raw(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE protection_journalentry SET purpose = 'changed' WHERE id = %s",
        "DELETE FROM protection_journalentry WHERE id = %s",
    ],
)
def test_postgresql_refuses_to_change_or_delete_an_entry(statement):
    entry = journal.record("tests.something_happened", actor=None)
    journal.flush()

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw(statement, [entry.pk])

    assert JournalEntry.objects.filter(pk=entry.pk, purpose="").exists()


def test_postgresql_refuses_to_truncate_the_journal():
    journal.record("tests.something_happened", actor=None)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw("SET LOCAL maillage.allow_truncate = 'off'")
        _raw("TRUNCATE protection_journalentry CASCADE")

    assert JournalEntry.objects.exists()


def test_only_the_purge_switch_lets_entries_be_deleted():
    entry = journal.record("tests.something_happened", actor=None)
    journal.flush()

    with transaction.atomic():
        _raw("SET LOCAL maillage.journal_purge = 'on'")
        _raw("DELETE FROM protection_journalentry WHERE id = %s", [entry.pk])

    assert not JournalEntry.objects.filter(pk=entry.pk).exists()


def test_kernel_writes_are_journaled_with_who_did_them():
    admin = UserFactory(staff=True)
    organisation = organisation_create(
        name="Ville de Nantes", siret=valid_siret(77), kind=OrganisationKind.COMMUNE, commune_code="44109",
        acting_user=admin,
    )  # fmt: skip
    agent = UserFactory()
    membership_create(user=agent, organisation=organisation, role="agent", acting_user=admin)

    created, granted = JournalEntry.objects.order_by("id")
    assert created.event_type == "platform.organisation_created"
    assert (created.actor_id, created.organisation_id) == (str(admin.public_id), str(organisation.public_id))
    assert created.data["siret"] == organisation.siret
    assert granted.event_type == "platform.membership_created"
    assert granted.subject == pseudonym_for(str(agent.public_id))
    assert str(agent.public_id) not in str(granted.data)


def test_a_refused_kernel_write_leaves_no_entry():
    with pytest.raises(Exception, match="invalide|valide"):
        organisation_create(name="X", siret="123", kind=OrganisationKind.COMMUNE)

    assert not JournalEntry.objects.exists()
