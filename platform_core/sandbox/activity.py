"""Demo traffic for `make run`: a Celery task that journals plausible consultations of the sandbox
citizen's data by the sandbox organisations, so the admin's journal fills live.

Scheduled every 10 seconds by CELERY_BEAT_SCHEDULE only when SANDBOX_ACTIVITY is on (`make run` turns it
on); the task itself also checks the setting, because django_celery_beat keeps an entry in its tables
after it left the settings. Without the sandbox data (`manage.py load_sandbox`) it records nothing.
"""

import logging
import random
from dataclasses import dataclass

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from platform_core import sandbox
from platform_core.models import Organisation
from protection import journal
from protection.pseudonyms import pseudonym_for

logger = logging.getLogger(__name__)

EVENT_TYPE = "sandbox.data_consulted"  # registered in platform_core/apps.py
CITIZEN_USERNAME = "demo.usager"
MAX_EVENTS_PER_TICK = 5


@dataclass(frozen=True)
class Scenario:
    actor: str  # key of the sandbox organisation that consults
    on_behalf_of: str  # key of the organisation the consultation serves
    purpose: str
    fields: tuple[str, ...]


SCENARIOS = (
    Scenario(
        "cnaf",
        "gironde",
        "Instruction d'une demande de RSA",
        ("ressources_trimestrielles", "composition_familiale", "situation_professionnelle"),
    ),
    Scenario(
        "gironde",
        "gironde",
        "Orientation d'un bénéficiaire du RSA vers un accompagnement",
        ("situation_professionnelle", "adresse"),
    ),
    Scenario(
        "lyon",
        "lyon",
        "Calcul du tarif de la restauration scolaire",
        ("quotient_familial", "composition_familiale"),
    ),
    Scenario(
        "cnaf",
        "cnaf",
        "Vérification du droit à la prime d'activité",
        ("ressources_trimestrielles", "situation_professionnelle"),
    ),
    Scenario(
        "croix-rouge",
        "croix-rouge",
        "Attribution d'une aide alimentaire d'urgence",
        ("quotient_familial", "composition_familiale"),
    ),
    Scenario("la-poste", "la-poste", "Vérification d'adresse avant un envoi recommandé", ("adresse",)),
)

_absence_logged = False


def _say_once(message: str) -> None:
    global _absence_logged
    if not _absence_logged:
        logger.info(message)
        _absence_logged = True


@shared_task(name="sandbox.activity", ignore_result=True)
def record_sandbox_activity(rng: random.Random | None = None) -> int:
    """Journal 1 to 5 demo consultations; returns how many (0 when off or without sandbox data)."""
    if not settings.SANDBOX_ACTIVITY:
        _say_once("SANDBOX_ACTIVITY is off: no demo activity is recorded")
        return 0
    sirets = {definition.siret: definition.key for definition in sandbox.ORGANISATIONS}
    organisations = {
        sirets[organisation.siret]: organisation
        for organisation in Organisation.objects.filter(siret__in=sirets)
    }
    citizen = get_user_model().objects.filter(username=CITIZEN_USERNAME).first()
    if citizen is None or len(organisations) < len(sirets):
        _say_once("Sandbox data absent (run `manage.py load_sandbox`): no demo activity is recorded")
        return 0
    rng = rng or random.Random()  # noqa: S311 - demo traffic, not security
    subject = pseudonym_for(str(citizen.public_id))
    count = rng.randint(1, MAX_EVENTS_PER_TICK)
    with transaction.atomic():
        for scenario in rng.choices(SCENARIOS, k=count):
            journal.record(
                EVENT_TYPE,
                actor=organisations[scenario.actor],
                organisation=organisations[scenario.on_behalf_of],
                subject=subject,
                purpose=scenario.purpose,
                data={"fields": list(scenario.fields)},
            )
    return count
