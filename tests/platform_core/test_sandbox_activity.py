"""`make run` fills the journal live: the "sandbox.activity" task journals demo consultations of the
sandbox citizen's data, and beat schedules it only when SANDBOX_ACTIVITY is on."""

import json
import logging
import random
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from platform_core import sandbox
from platform_core.models import Organisation
from platform_core.sandbox import activity
from protection import events
from protection.models import JournalEntry
from protection.pseudonyms import pseudonym_for
from tests.platform_core.test_configuration import start_django

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sandbox_environment(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))  # credentials.json goes to a private var/
    monkeypatch.setattr(activity, "_absence_logged", False)
    settings.SANDBOX_ACTIVITY = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only


def sandbox_entries() -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(event_type="sandbox.data_consulted").order_by("id"))


def test_the_event_type_is_registered_with_its_label():
    event_type = events.get("sandbox.data_consulted")
    assert event_type.label == "Consultation de données (démonstration)"


def test_the_task_journals_plausible_consultations_of_the_demo_citizen():
    call_command("load_sandbox", force=True, stdout=StringIO())
    citizen = get_user_model().objects.get(username="demo.usager")
    organisations = {
        str(organisation.public_id): organisation
        for organisation in Organisation.objects.filter(siret__in=[o.siret for o in sandbox.ORGANISATIONS])
    }

    counts = [activity.record_sandbox_activity(random.Random(seed)) for seed in range(8)]  # noqa: S311

    entries = sandbox_entries()
    assert all(1 <= count <= 5 for count in counts)
    assert len(entries) == sum(counts)
    for entry in entries:
        assert entry.actor_type == "organisation"
        assert entry.actor_id in organisations and entry.organisation_id in organisations
        assert entry.actor_label == str(organisations[entry.actor_id])
        assert entry.subject == pseudonym_for(str(citizen.public_id))
        assert entry.purpose in {scenario.purpose for scenario in activity.SCENARIOS}
        assert entry.outcome == "success"
        assert set(entry.data) == {"fields"} and entry.data["fields"]
        assert all(isinstance(field, str) for field in entry.data["fields"])
    rsa = [entry for entry in entries if entry.purpose == "Instruction d'une demande de RSA"]
    assert rsa, "the CNAF instructing an RSA claim for the département is among the scenarios"
    cnaf = Organisation.objects.get(siret="18003502400017")
    gironde = Organisation.objects.get(siret="22330001300016")
    assert {(entry.actor_id, entry.organisation_id) for entry in rsa} == {
        (str(cnaf.public_id), str(gironde.public_id))
    }


def test_without_sandbox_data_the_task_does_nothing_and_says_so_once(caplog):
    with caplog.at_level(logging.INFO, logger="platform_core.sandbox.activity"):
        assert activity.record_sandbox_activity() == 0
        assert activity.record_sandbox_activity() == 0

    assert sandbox_entries() == []
    messages = [record.getMessage() for record in caplog.records if record.name == activity.__name__]
    assert len(messages) == 1 and "load_sandbox" in messages[0]


def test_with_sandbox_activity_off_the_task_does_nothing(settings):
    call_command("load_sandbox", force=True, stdout=StringIO())
    settings.SANDBOX_ACTIVITY = False

    assert activity.record_sandbox_activity() == 0
    assert sandbox_entries() == []


def test_the_task_is_registered_with_celery_under_its_name():
    from platform_core.celery import app

    app.loader.import_default_modules()
    assert "sandbox.activity" in app.tasks
    assert "protection.tasks.verify_journal_task" in app.tasks


PRINT_SCHEDULE = (
    "import json; from django.conf import settings; "
    "print(json.dumps({name: entry['task'] for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}))"
)


def beat_schedule(tmp_path, **variables) -> dict[str, str]:
    result = start_django(tmp_path, ["shell", "--no-imports", "-c", PRINT_SCHEDULE], **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.django_db(databases=[])
def test_beat_schedules_the_sandbox_activity_only_when_sandbox_activity_is_on(tmp_path):
    off = beat_schedule(tmp_path)
    on = beat_schedule(tmp_path, SANDBOX_ACTIVITY="1")

    assert "sandbox.activity" not in off
    assert on["sandbox.activity"] == "sandbox.activity"
    assert (
        off["protection.verify_journal"]
        == on["protection.verify_journal"]
        == ("protection.tasks.verify_journal_task")
    )
    assert beat_schedule(tmp_path, SANDBOX_ACTIVITY="0").keys() == off.keys()


def test_make_run_turns_the_sandbox_activity_on():
    from pathlib import Path

    runner = (Path(__file__).resolve().parents[2] / "platform_core" / "runner.py").read_text()
    assert 'os.environ.setdefault("SANDBOX_ACTIVITY", "1")' in runner
