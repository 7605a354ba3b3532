from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from platform_core.services import membership_create
from protection import events, journal
from protection.pseudonyms import pseudonym_for
from protection.selectors import entry_visible_to, journal_for_person, person_identifier
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

events.register("tests.data_consulted", "Consultation de données (test)")
events.register("tests.internal_step", "Étape interne (test)", citizen_visible=False)


def consulted(person, **fields):
    return journal.record(
        "tests.data_consulted",
        subject=pseudonym_for(person_identifier(person)),
        purpose="Instruction RSA",
        **fields,
    )


def test_a_person_sees_who_used_their_data_why_and_under_which_contract():
    citizen, other = UserFactory(citizen=True), UserFactory(citizen=True)
    caf = OrganisationFactory(name="CAF de la Gironde")
    mine = consulted(citizen, actor=caf, contract="7f1c…", data={"fields": ["quotient_familial"]})
    consulted(other, actor=caf)
    journal.record("tests.internal_step", actor=None, subject=pseudonym_for(person_identifier(citizen)))

    view = journal_for_person(person_identifier(citizen))

    assert list(view.entries) == [mine]
    assert (mine.actor_label, mine.purpose, mine.data["fields"]) == (
        str(caf),
        "Instruction RSA",
        ["quotient_familial"],
    )
    assert view.deferred_count == 0


def test_a_lawfully_deferred_entry_is_counted_but_hidden_until_its_date():
    citizen = UserFactory(citizen=True)
    until = timezone.now() + timedelta(days=30)
    deferred = consulted(citizen, actor=None, deferred_disclosure_until=until)

    now_view = journal_for_person(person_identifier(citizen))
    later_view = journal_for_person(person_identifier(citizen), now=until + timedelta(seconds=1))

    assert list(now_view.entries) == [] and now_view.deferred_count == 1
    assert list(later_view.entries) == [deferred] and later_view.deferred_count == 0
    assert not entry_visible_to(citizen, deferred)
    assert entry_visible_to(citizen, deferred, now=until + timedelta(seconds=1))


def test_visibility_follows_role_actor_and_organisation():
    organisation = OrganisationFactory()
    actor, colleague, stranger, citizen = (
        UserFactory(),
        UserFactory(),
        UserFactory(),
        UserFactory(citizen=True),
    )
    membership_create(user=colleague, organisation=organisation, role="agent")
    auditor = UserFactory(staff=True)
    auditor.user_permissions.add(Permission.objects.get(codename="view_journalentry"))
    entry = consulted(citizen, actor=actor, organisation=organisation)

    assert entry_visible_to(actor, entry)
    assert entry_visible_to(colleague, entry)
    assert entry_visible_to(citizen, entry)
    assert entry_visible_to(type(auditor).objects.get(pk=auditor.pk), entry)
    assert not entry_visible_to(stranger, entry)
