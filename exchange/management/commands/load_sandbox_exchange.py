"""Register the sandbox data providers' APIs in the catalogue, and give the sandbox commune a validated
habilitation to each, so that an active authorization exists after `make run`.

    manage.py load_sandbox_exchange [--url http://127.0.0.1:8003] [--token-file FILE]

`make run` calls it (through prepare_platform) after load_sandbox, with the providers it starts
(exchange/sandbox_providers). The APIs, their scopes and OpenAPI documents come from that package's
modules, not over HTTP: the providers need not be up yet. Idempotent: a second run changes nothing;
every write is journaled (the catalogue by api_product_register, habilitations by their services).
"""

import json
import os
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from exchange.models import (
    ApiStatus,
    AuthorizationState,
    Credential,
    Habilitation,
    HabilitationState,
    LegalBasisNature,
    Sensitivity,
    UpstreamAuth,
)
from exchange.sandbox_providers.app import APIS, openapi_document, token_from_file
from exchange.sandbox_providers.data import SCOPES
from exchange.services import (
    api_product_register,
    credential_new_secret,
    credential_secret_matches,
    habilitation_create,
    habilitation_transition,
)
from platform_core import embedded_db
from platform_core.models import Organisation

CONSUMER_SIRET = "21690123100011"  # Ville de Lyon (platform_core/sandbox)
APPLICANT = "demo.agent"  # an agent of Ville de Lyon
INSTRUCTOR = "demo.instructeur"  # an instructor of the three providers
CRPA = (
    "Code des relations entre le public et l'administration",
    "Articles L114-8 à L114-10 : échanges de données entre administrations",
    "https://www.legifrance.gouv.fr/codes/texte_lc/LEGITEXT000031366350/",
)


# Demo values: what a catalogue entry says beyond the providers' own OpenAPI documents.
CATALOGUE = {
    "caf": {
        "slug": "caf-quotient-familial",
        "provider_siret": "18003502400017",  # the sandbox's CNAF
        "legal_frameworks": (
            CRPA,
            ("Code de la sécurité sociale", "Livre V : prestations familiales",
             "https://www.legifrance.gouv.fr/codes/texte_lc/LEGITEXT000006073189/"),
        ),
        "purpose": "Calculer le tarif de la restauration scolaire et du périscolaire selon le quotient "
        "familial, sans demander d'attestation aux familles.",
        "scopes": ("quotient_familial",),
    },
    "dgfip": {
        "slug": "dgfip-revenu-fiscal-reference",
        "provider_siret": "13009990600013",
        "legal_frameworks": (
            CRPA,
            ("Livre des procédures fiscales", "Article L103 et suivants : secret professionnel et ses "
             "dérogations", "https://www.legifrance.gouv.fr/codes/texte_lc/LEGITEXT000006069583/"),
        ),
        "purpose": "Calculer le tarif des équipements culturels et sportifs selon le revenu fiscal de "
        "référence, sans demander l'avis d'impôt.",
        "scopes": ("revenu_fiscal_reference",),
    },
    "cnous": {
        "slug": "cnous-statut-etudiant-boursier",
        "provider_siret": "18009990500010",
        "legal_frameworks": (
            CRPA,
            ("Code de l'éducation", "Articles L821-1 et suivants : aides aux étudiants",
             "https://www.legifrance.gouv.fr/codes/texte_lc/LEGITEXT000006071191/"),
        ),
        "purpose": "Accorder le tarif réduit des transports et des bibliothèques municipales aux "
        "étudiants boursiers, sans justificatif.",
        "scopes": ("statut_boursier",),
    },
}  # fmt: skip
CONTACTS = {
    "business": {"name": "Service des familles, Ville de Lyon", "email": "familles@mairie-lyon.example.fr"},
    "technical": {"name": "Direction des systèmes d'information", "email": "dsi@mairie-lyon.example.fr"},
    "dpo": {"name": "Délégué à la protection des données", "email": "dpd@mairie-lyon.example.fr"},
    "controller": {"name": "Le maire de Lyon", "email": "cabinet@mairie-lyon.example.fr"},
}


def scope_code(api_key: str, name: str) -> str:
    # Scope codes are unique across the platform, the providers' names are not ("adresse"...).
    return f"{api_key}_{name}"


class Command(BaseCommand):
    help = (
        "Inscrit au catalogue les API des fournisseurs de données de démonstration et donne à la commune "
        "de démonstration une habilitation validée à chacune. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default=os.environ.get("SANDBOX_PROVIDERS_URL", ""))
        parser.add_argument("--token-file", default=os.environ.get("SANDBOX_PROVIDERS_TOKEN_FILE", ""))
        parser.add_argument(
            "--credentials-file", default=str(embedded_db.var_dir() / "sandbox" / "exchange_credentials.json")
        )

    def handle(self, *args, url: str, token_file: str, credentials_file: str, **options):
        if not url:
            raise CommandError("SANDBOX_PROVIDERS_URL (ou --url) est requis.")
        try:
            token = token_from_file(token_file)
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        url = url.rstrip("/")
        User = get_user_model()
        consumer = Organisation.objects.filter(siret=CONSUMER_SIRET).first()
        applicant = User.objects.filter(username=APPLICANT).first()
        instructor = User.objects.filter(username=INSTRUCTOR).first()
        providers = {
            organisation.siret: organisation
            for organisation in Organisation.objects.filter(
                siret__in=[entry["provider_siret"] for entry in CATALOGUE.values()]
            )
        }
        if None in (consumer, applicant, instructor) or len(providers) < len(CATALOGUE):
            raise CommandError("Les données de démonstration manquent : lancez load_sandbox d'abord.")
        store_path = Path(credentials_file)
        store = json.loads(store_path.read_text(encoding="utf-8")) if store_path.is_file() else {}
        with transaction.atomic():
            for api in APIS:
                entry = CATALOGUE[api.key]
                product = self.register_api(api, entry, providers[entry["provider_siret"]], url, token)
                scopes = product.scopes.filter(
                    code__in=[scope_code(api.key, name) for name in entry["scopes"]]
                )
                self.habilitate(product, scopes, entry["purpose"], consumer, applicant, instructor)
                self.sandbox_secret(product, consumer, applicant, store)
        write_store(store_path, store)

    def sandbox_secret(self, product, consumer, applicant, store: dict) -> None:
        """The commune's credential for ``product`` gets a secret, kept in the sandbox credentials file
        (0600) so that the README's curl commands work right after `make run`; kept while it still works."""
        credential = (
            Credential.objects.select_related("habilitation")
            .filter(habilitation__consumer=consumer, habilitation__api=product, revoked_at__isnull=True)
            .first()
        )
        if credential is None:
            return
        known = store.get(product.slug) or {}
        if known.get("client_id") == credential.client_id and credential_secret_matches(
            credential, known.get("client_secret", "")
        ):
            return
        store[product.slug] = {
            "client_id": credential.client_id,
            "client_secret": credential_new_secret(credential, user=applicant),
            "purpose": str(credential.habilitation.public_id),
            "recipient": consumer.siret,
        }
        self.stdout.write(f"  + identifiant d'accès de {consumer} à {product.slug}")

    def register_api(self, api, entry, provider, url: str, token: str):
        product, changed = api_product_register(
            slug=entry["slug"],
            name=api.title,
            provider=provider,
            description=api.description,
            upstream_base_url=f"{url}/{api.key}",
            upstream_auth=UpstreamAuth.BEARER,
            upstream_header="",
            upstream_secret=token,
            status=ApiStatus.BETA,
            availability_target=Decimal("99.50"),
            latency_target_ms=500,
            openapi=openapi_document(api, url),
            published=True,
            scopes={
                scope_code(api.key, name): {
                    "label": scope.label,
                    "description": " ; ".join(f"{field} : {api.fields[field]}" for field in scope.fields),
                    "sensitivity": Sensitivity.PERSONAL,
                    "fields": list(scope.fields),
                }
                for name, scope in SCOPES[api.key].items()
            },
            legal_frameworks=entry["legal_frameworks"],
        )
        mark = "+" if changed else "="
        detail = f" ({', '.join(changed)})" if changed and changed != ["created"] else ""
        self.stdout.write(f"  {mark} API {product.slug}{detail}")
        return product

    def habilitate(self, product, scopes, purpose: str, consumer, applicant, instructor) -> None:
        """One validated habilitation of the commune to ``product``: created, or carried on from where
        an earlier run or a demo user left it, unless one already has an active authorization."""
        existing = Habilitation.objects.filter(consumer=consumer, api=product)
        if existing.filter(authorizations__state=AuthorizationState.ACTIVE).exists():
            self.stdout.write(f"  = habilitation de {consumer} à {product.slug}")
            return
        habilitation = existing.filter(
            applicant=applicant,
            state__in=[
                HabilitationState.DRAFT,
                HabilitationState.CHANGES_REQUESTED,
                HabilitationState.SUBMITTED,
            ],
        ).first()
        if habilitation is None:
            habilitation = habilitation_create(
                applicant=applicant,
                consumer=consumer,
                api=product,
                scopes=scopes,
                title=f"{product.name} — {consumer.name}",
                purpose=purpose,
                legal_basis_nature=LegalBasisNature.PUBLIC_MISSION,
                legal_basis_url=CRPA[2],
                retention_months=12,
                expected_volume=500,
                contacts=CONTACTS,
            )
        if habilitation.state != HabilitationState.SUBMITTED:
            habilitation = habilitation_transition(habilitation, "submit", user=applicant)
        habilitation_transition(habilitation, "validate", user=instructor, message="")
        self.stdout.write(f"  + habilitation de {consumer} à {product.slug} (validée)")


def write_store(path: Path, store: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(store, handle, indent=2)
