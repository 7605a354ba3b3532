"""Habilitations: the DataPass-like workflow, who may do what (django-guardian object permissions from
memberships), the field-level history, e-mails on transitions, and the frozen authorizations."""

import io

import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from exchange.models import ApiProduct, ApiScope, Authorization, HabilitationChange, HabilitationState
from exchange.services import (
    Forbidden,
    habilitation_create,
    habilitation_message,
    habilitation_transition,
    habilitation_update,
)
from platform_core.enums import MembershipRole
from platform_core.exceptions import Conflict, InvalidInput
from protection.models import JournalEntry
from tests.exchange.conftest import CONTACTS, draft, member

pytestmark = pytest.mark.django_db


def test_the_whole_workflow_freezes_an_authorization_and_e_mails_each_step(
    world, django_capture_on_commit_callbacks
):
    habilitation = draft(world)
    with django_capture_on_commit_callbacks(execute=True):
        habilitation_transition(habilitation, "submit", user=world["applicant"])
    assert habilitation.__class__.objects.get().state == HabilitationState.SUBMITTED
    assert {m.to[0] for m in mail.outbox} >= {"dpo@mairie.example.fr", world["applicant"].email}

    with django_capture_on_commit_callbacks(execute=True):
        habilitation_transition(
            habilitation, "request_changes", user=world["instructor"], message="Précisez."
        )
    habilitation_update(habilitation, user=world["applicant"], purpose="Tarif de la cantine (quotient).")
    habilitation_transition(habilitation, "submit", user=world["applicant"])
    habilitation_transition(habilitation, "validate", user=world["instructor"])

    authorization = Authorization.objects.get()
    assert authorization.state == "active" and authorization.version == 1
    assert authorization.scopes == ["dgfip_rfr"] and authorization.fields == ["revenuFiscalReference"]
    assert authorization.snapshot["purpose"] == "Tarif de la cantine (quotient)."
    assert authorization.consumer == world["consumer"]
    subjects = [m.subject for m in mail.outbox]
    assert any("soumise" in s for s in subjects) and any("Modifications demandées" in s for s in subjects)
    transitions = JournalEntry.objects.filter(event_type="exchange.habilitation_transitioned")
    assert [e.data["action"] for e in transitions.order_by("id")] == [
        "submit",
        "request_changes",
        "submit",
        "validate",
    ]
    assert transitions.order_by("id").last().contract == str(authorization.public_id)


def test_an_amendment_keeps_the_authorization_active_until_validated(world):
    habilitation = draft(world)
    habilitation_transition(habilitation, "submit", user=world["applicant"])
    habilitation_transition(habilitation, "validate", user=world["instructor"])
    first = Authorization.objects.get()

    habilitation_transition(habilitation, "reopen", user=world["applicant"])
    habilitation_update(habilitation, user=world["applicant"], scopes=[world["income"], world["parts"]])
    habilitation_transition(habilitation, "submit", user=world["applicant"])
    first.refresh_from_db()
    assert first.state == "active"  # still in force while the amendment is instructed

    habilitation_transition(habilitation, "validate", user=world["instructor"])
    first.refresh_from_db()
    second = Authorization.objects.get(state="active")
    assert first.state == "obsolete" and second.version == 2
    assert second.scopes == ["dgfip_parts", "dgfip_rfr"]

    habilitation_transition(habilitation, "revoke", user=world["instructor"], message="Fin du marché.")
    second.refresh_from_db()
    assert second.state == "revoked" and second.ended_at is not None


def test_an_authorization_is_frozen_by_the_database(world):
    habilitation = draft(world)
    habilitation_transition(habilitation, "submit", user=world["applicant"])
    habilitation_transition(habilitation, "validate", user=world["instructor"])
    authorization = Authorization.objects.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        Authorization.objects.filter(pk=authorization.pk).update(scopes=["dgfip_rfr", "dgfip_parts"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Authorization.objects.filter(pk=authorization.pk).delete()
    Authorization.objects.filter(pk=authorization.pk).update(state="revoked")
    with pytest.raises(IntegrityError), transaction.atomic():
        Authorization.objects.filter(pk=authorization.pk).update(state="active")


def test_every_field_change_is_kept_with_old_and_new_values(world):
    habilitation = draft(world)
    changed = habilitation_update(
        habilitation, user=world["colleague"], retention_months=48, retention_justification="Contentieux."
    )
    assert changed == ["retention_justification", "retention_months"]
    history = {c.field: (c.old_value, c.new_value, c.author) for c in HabilitationChange.objects.all()}
    assert history["retention_months"] == (12, 48, world["colleague"])
    entry = JournalEntry.objects.get(event_type="exchange.habilitation_changed")
    assert entry.data["fields"] == ["retention_justification", "retention_months"]
    assert "Contentieux" not in str(entry.data)  # names, never values, in the journal


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"contacts": {**CONTACTS, "dpo": {"name": "", "email": ""}}}, "contacts.dpo"),
        ({"legal_basis_url": ""}, "legal_basis_url"),
    ],
)
def test_an_incomplete_habilitation_cannot_be_submitted(world, overrides, field):
    habilitation = draft(world, **overrides)
    with pytest.raises(InvalidInput) as refusal:
        habilitation_transition(habilitation, "submit", user=world["applicant"])
    assert field in {error["field"] for error in refusal.value.errors}


def test_retention_above_36_months_needs_a_justification(world):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        draft(world, retention_months=60)


def test_who_may_do_what(world):
    habilitation = draft(world)
    for user in (world["instructor"], world["reporter"], world["stranger"]):
        with pytest.raises(Forbidden):
            habilitation_update(habilitation, user=user, title="Détourné")
    with pytest.raises(Forbidden):
        habilitation_transition(habilitation, "submit", user=world["stranger"])
    habilitation_transition(habilitation, "submit", user=world["colleague"])  # any member of the consumer
    for user in (world["applicant"], world["reporter"], world["stranger"]):
        with pytest.raises(Forbidden):
            habilitation_transition(habilitation, "validate", user=user)
    with pytest.raises(Forbidden):
        habilitation_message(habilitation, user=world["stranger"], body="Bonjour")
    assert world["reporter"].has_perm("exchange.view_habilitation", habilitation)
    assert not world["stranger"].has_perm("exchange.view_habilitation", habilitation)
    with pytest.raises(Forbidden):
        habilitation_create(
            applicant=world["stranger"], consumer=world["consumer"], api=world["api"], title="x", purpose="x",
            legal_basis_nature="law", retention_months=1,
        )  # fmt: skip


def test_permissions_follow_memberships(world):
    habilitation = draft(world)
    newcomer = member(world["provider"], MembershipRole.INSTRUCTOR)
    assert newcomer.has_perm("exchange.instruct_habilitation", habilitation)
    newcomer.memberships.all().delete()
    newcomer = type(newcomer).objects.get(pk=newcomer.pk)
    assert not newcomer.has_perm("exchange.view_habilitation", habilitation)


def test_transitions_follow_the_state_machine(world):
    habilitation = draft(world)
    with pytest.raises(Conflict):
        habilitation_transition(habilitation, "validate", user=world["instructor"])
    habilitation_transition(habilitation, "submit", user=world["applicant"])
    with pytest.raises(Conflict):
        habilitation_update(habilitation, user=world["applicant"], title="Pendant l'instruction")
    with pytest.raises(InvalidInput):
        habilitation_transition(habilitation, "refuse", user=world["instructor"])  # a refusal says why
    with pytest.raises(InvalidInput):
        habilitation_transition(habilitation, "fly", user=world["instructor"])
    habilitation_transition(habilitation, "refuse", user=world["instructor"], message="Base légale absente.")
    assert not Authorization.objects.exists()


def test_scopes_must_belong_to_the_api(world):
    other_api = ApiProduct.objects.create(
        slug="caf",
        name="CAF",
        provider=world["provider"],
        description="QF",
        upstream_base_url="http://x.example",
    )
    foreign = ApiScope.objects.create(api=other_api, code="cnaf_qf", label="QF", fields=["quotientFamilial"])
    with pytest.raises(InvalidInput):
        habilitation_create(
            applicant=world["applicant"], consumer=world["consumer"], api=world["api"], scopes=[foreign],
            title="x", purpose="x", legal_basis_nature="law", retention_months=1,
        )  # fmt: skip


def test_one_active_authorization_per_habilitation(world):
    habilitation = draft(world)
    habilitation_transition(habilitation, "submit", user=world["applicant"])
    habilitation_transition(habilitation, "validate", user=world["instructor"])
    active = Authorization.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Authorization.objects.create(
            habilitation=habilitation, version=9, consumer=active.consumer, api=active.api, scopes=[],
            fields=[], recipients=[], legal_basis="x", snapshot={}, valid_from=active.valid_from,
            valid_until=active.valid_until, validated_by=world["instructor"],
        )  # fmt: skip


def test_the_admin_shows_only_the_habilitations_one_is_concerned_by(world, client):
    mine = draft(world)
    for key in ("instructor", "stranger"):
        world[key].is_staff = True
        world[key].save()
    client.force_login(world["instructor"])
    listing = client.get("/admin/exchange/habilitation/")
    assert listing.status_code == 200 and mine.title in listing.content.decode()
    assert client.get(f"/admin/exchange/habilitation/{mine.pk}/change/").status_code == 200
    client.force_login(world["stranger"])
    assert mine.title not in client.get("/admin/exchange/habilitation/").content.decode()
    assert client.get(f"/admin/exchange/habilitation/{mine.pk}/change/").status_code in (302, 403, 404)


def test_active_authorizations_are_published_as_json_and_csv(world, client):
    habilitation = draft(world)
    habilitation_transition(habilitation, "submit", user=world["applicant"])
    habilitation_transition(habilitation, "validate", user=world["instructor"])
    draft(world, title="Brouillon jamais validé")

    rows = client.get("/api/v1/authorizations/active.json").json()["authorizations"]
    assert [(r["siret"], r["api"], r["scopes"]) for r in rows] == [
        (world["consumer"].siret, "impots", ["dgfip_rfr"])
    ]
    assert rows[0]["legal_basis"] == "Délibération — https://mairie.example.fr/deliberation-2026-12.pdf"
    csv_text = client.get("/api/v1/authorizations/active.csv").content.decode()
    assert csv_text.splitlines()[0] == "siret,organisation,api,scopes,legal_basis,validated_on,valid_until"
    assert world["consumer"].siret in csv_text and "contact" not in csv_text.lower()

    habilitation_transition(habilitation, "revoke", user=world["instructor"], message="Fin.")
    assert client.get("/api/v1/authorizations/active.json").json()["authorizations"] == []


@pytest.mark.parametrize(
    "uid", ["exchange-perms", "exchange-perms-del", "identity-fs-perms", "identity-fs-perms-del"]
)
def test_the_membership_receivers_are_held_strongly(uid):
    # Local functions connected weakly vanish as soon as the app is ready: under gunicorn, an agent who
    # joined an organisation by signing in got no permission on its habilitations.
    import weakref

    from django.db.models.signals import post_delete, post_save

    receivers = {
        key[0]: receiver for signal in (post_save, post_delete) for key, receiver, *_ in signal.receivers
    }
    assert uid in receivers and not isinstance(receivers[uid], weakref.ReferenceType)


def test_resync_permissions_repairs_what_a_membership_missed(world):
    from django.core.management import call_command
    from guardian.models import UserObjectPermission

    habilitation = draft(world)
    newcomer = member(world["consumer"], MembershipRole.AGENT)
    UserObjectPermission.objects.filter(user=newcomer).delete()  # as when the receivers were lost
    newcomer = type(newcomer).objects.get(pk=newcomer.pk)
    assert not newcomer.has_perm("exchange.view_habilitation", habilitation)

    call_command("resync_permissions", stdout=io.StringIO())

    newcomer = type(newcomer).objects.get(pk=newcomer.pk)
    assert newcomer.has_perm("exchange.view_habilitation", habilitation)
    assert newcomer.has_perm("exchange.change_habilitation", habilitation)
