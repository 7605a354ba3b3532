"""`make run` (prepare_platform): months of synthetic activity in the journal, then aggregated.

Sign-ins, data exchanges, batch items and validated habilitations of communes all over France, written
through protection.journal.record (with ``occurred_at`` in the past, as any import of history), so they
are sealed and verified like every other entry. Deterministic (a fixed seed) and idempotent: a second
run finds its marker in the journal and adds nothing.
"""

import math
import random
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from opendata import aggregation
from opendata.sandbox import APIS, COMMUNES, IDENTITY_PROVIDERS, NATIONAL_SERVICES, siret_for
from platform_core.enums import OrganisationKind
from platform_core.geography import departement_of_commune
from platform_core.models import Organisation
from platform_core.services import organisation_create
from protection import journal
from protection.models import JournalEntry

MARKER = "sandbox-opendata-history"  # the request id of every entry it writes
DAYS = 180
SEED = 20261129
# Events per day per thousand inhabitants, before the weekly rhythm and the growth over the months.
SIGN_INS_PER_THOUSAND = 0.015
EXCHANGES_PER_THOUSAND = 0.008


def _poisson(generator: random.Random, mean: float) -> int:
    if mean > 30:  # normal approximation, plenty for a demo
        return max(0, round(generator.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, generator.random()
    while product > limit:
        k += 1
        product *= generator.random()
    return k


def _pick(generator: random.Random, weighted) -> str:
    return generator.choices([name for name, _weight in weighted], [weight for _name, weight in weighted])[0]


def citizen_space(commune: Organisation) -> str:
    """The client id of a commune's citizen space."""
    return f"espace-citoyen-{commune.commune_code.lower()}"


class Command(BaseCommand):
    help = (
        "Remplit le journal de plusieurs mois d'activité fictive dans de nombreux départements (bac à sable)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=DAYS, help="Nombre de jours d'historique.")

    def handle(self, *args, days: int = DAYS, **options):
        started = time.monotonic()
        organisations = self.load_communes()
        self.register_services([organisation for organisation, _weight in organisations])
        if JournalEntry.objects.filter(request_id=MARKER).exists():
            self.stdout.write("  = Activité de démonstration déjà présente")
            return
        generator = random.Random(SEED)  # noqa: S311 - demo data, reproducible on purpose
        zone = ZoneInfo(settings.TIME_ZONE)
        now = timezone.now()
        today = now.astimezone(zone).date()
        count = 0
        with transaction.atomic():
            for offset in range(days, 0, -1):
                day = today - timedelta(days=offset)
                # Quieter weekends, and usage that grows over the months as services join.
                rhythm = (0.35 if day.weekday() >= 5 else 1.0) * (0.5 + 0.5 * (days - offset) / days)
                for organisation, weight in organisations:
                    count += self.one_day(generator, organisation, weight * rhythm, day, zone, now)
        entries = aggregation.aggregate_all(budget_seconds=120)
        self.stdout.write(
            f"  + Activité de démonstration : {count} entrées sur {days} jours, "
            f"{len(organisations)} communes ({entries} agrégées, {time.monotonic() - started:.1f} s)"
        )

    def load_communes(self) -> list[tuple[Organisation, int]]:
        organisations = []
        existing = {
            organisation.siret: organisation
            for organisation in Organisation.objects.filter(
                siret__in=[siret_for(i) for i in range(len(COMMUNES))]
            )
        }
        for index, (code, name, weight) in enumerate(COMMUNES):
            siret = siret_for(index)
            organisation = existing.get(siret) or organisation_create(
                name=f"Commune de {name}",
                siret=siret,
                kind=OrganisationKind.COMMUNE,
                commune_code=code,
                departement_code=departement_of_commune(code),
            )
            organisations.append((organisation, weight))
        return organisations

    def register_services(self, communes: list[Organisation]) -> None:
        """Each commune's citizen space, the service its people sign in to: registered as a service
        provider, so that the statistics name it (a name, not a client id) and the list of connected
        services has it."""
        from oauth2_provider.models import Application

        from identity.services import service_provider_create

        existing = set(
            Application.objects.filter(client_id__startswith="espace-citoyen-").values_list(
                "client_id", flat=True
            )
        )
        created = 0
        for commune in communes:
            client_id = citizen_space(commune)
            if client_id in existing:
                continue
            host = f"{client_id}.demo.maillage.example"  # a reserved domain: nobody signs in there
            service_provider_create(
                organisation=commune, name=f"Espace citoyen – {commune.name.removeprefix('Commune de ')}",
                redirect_uris=[f"https://{host}/oidc/callback"], client_id=client_id,
            )  # fmt: skip
            created += 1
        if created:
            self.stdout.write(f"  + {created} espaces citoyens des communes (fournisseurs de service)")

    def one_day(self, generator, organisation, weight: float, day, zone, now) -> int:
        recorded = 0

        def at():
            moment = datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(
                seconds=generator.randint(7 * 3600, 21 * 3600)
            )
            return min(moment, now)

        own_service = citizen_space(organisation)
        for _ in range(_poisson(generator, weight * SIGN_INS_PER_THOUSAND)):
            service = own_service if generator.random() < 0.7 else generator.choice(NATIONAL_SERVICES)
            journal.record(
                "identity.fs_signed_in", actor=None, organisation=organisation, request_id=MARKER,
                occurred_at=at(),
                data={"fs": service, "fi": _pick(generator, IDENTITY_PROVIDERS), "acr": "eidas1"},
            )  # fmt: skip
            recorded += 1
        for _ in range(_poisson(generator, weight * EXCHANGES_PER_THOUSAND)):
            journal.record(
                "exchange.gateway_call", actor=None, organisation=organisation, request_id=MARKER,
                occurred_at=at(), data={"api": _pick(generator, APIS), "status": 200, "latency_ms": 80},
            )  # fmt: skip
            recorded += 1
        # Now and then a batch: a school canteen's tariffs recomputed for every family at once.
        if weight > 60 and generator.random() < 0.008:
            batch, api, moment = str(uuid.UUID(int=generator.getrandbits(128))), _pick(generator, APIS), at()
            for line in range(generator.randint(15, int(weight) // 2)):
                journal.record(
                    "exchange.gateway_call", actor=None, organisation=organisation, request_id=MARKER,
                    occurred_at=moment, data={"api": api, "status": 200, "batch": batch, "line": line + 1},
                )  # fmt: skip
                recorded += 1
        if generator.random() < 0.004:
            journal.record(
                "exchange.habilitation_transitioned", actor=None, organisation=organisation,
                request_id=MARKER, occurred_at=at(),
                data={"api": _pick(generator, APIS), "action": "validate", "target": "validated"},
            )  # fmt: skip
            recorded += 1
        return recorded
