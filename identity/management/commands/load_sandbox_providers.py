"""Register the sandbox identity provider's realms as identity providers (FI) of this instance.

    manage.py load_sandbox_providers [--url http://127.0.0.1:8001] [--secret-file FILE]

`make run` calls it (through prepare_platform) with the sandbox provider it starts. Idempotent: the
records are created, or brought back to the sandbox's address and secret; each change is journaled.
"""

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from identity import events
from identity.enums import EidasLevel, ProviderAudience
from identity.hashers import ClientSecretHasher
from identity.models import FederatedIdentity, IdentityProvider, ServiceProvider, User
from identity.sandbox_idp.accounts import accounts_of as sandbox_accounts_of
from identity.sandbox_idp.accounts import subject_of
from identity.services import service_provider_create, service_provider_update
from platform_core import embedded_db
from platform_core.models import Organisation
from protection import journal
from protection.pseudonyms import pseudonym_for

DEMO_FS_CLIENT_ID = "mairie-demo"
DEMO_FS_SIRET = "21690123100011"  # the sandbox's commune (platform_core/sandbox)
# With the family quotient of the sandbox CAF ("dites-le-nous une fois"): the commune holds a validated
# habilitation to that API (load_sandbox_exchange), which the demo service's sign-ins rely on.
DEMO_FS_SCOPES = "openid profile birth email identite_pivot caf_quotient_familial"
REALMS = (
    # slug, name, realm, audience, level, enabled
    # The citizens' realm has an eidas2 account: it can vouch up to eidas2, and says so in each acr.
    ("demo-usagers", "Identité de démonstration", "usagers", ProviderAudience.CITIZEN, EidasLevel.SUBSTANTIAL,
     True),
    ("demo-agents", "Agents de démonstration", "agents", ProviderAudience.AGENT, EidasLevel.LOW, True),
    ("demo-entreprises", "Entreprises de démonstration", "entreprises", ProviderAudience.COMPANY,
     EidasLevel.LOW, True),
)  # fmt: skip


class Command(BaseCommand):
    help = "Déclare les royaumes du fournisseur d'identité de démonstration comme fournisseurs d'identité."

    def add_arguments(self, parser):
        parser.add_argument("--url", default=os.environ.get("SANDBOX_IDP_PUBLIC_URL", ""))
        parser.add_argument(
            "--secret-file", default=str(embedded_db.var_dir() / "sandbox" / "idp_client_secret")
        )

    def handle(self, *args, url: str, secret_file: str, **options):
        if not url:
            raise CommandError("SANDBOX_IDP_PUBLIC_URL (ou --url) est requis.")
        try:
            secret = Path(secret_file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise CommandError(f"Secret client illisible ({error}).") from None
        with transaction.atomic():
            for order, (slug, name, realm, audience, level, enabled) in enumerate(REALMS):
                issuer = f"{url.rstrip('/')}/{realm}"
                provider = IdentityProvider.objects.filter(slug=slug).first()
                wanted = {"name": name, "issuer": issuer, "audience": audience, "eidas_level": level,
                          "client_id": "maillage", "scopes": "openid profile email birth",
                          "display_order": order * 10, "enabled": enabled}  # fmt: skip
                if provider is None:
                    provider = IdentityProvider(slug=slug, client_secret=secret, **wanted)
                    event = events.PROVIDER_CREATED
                else:
                    changed = [k for k, v in wanted.items() if getattr(provider, k) != v]
                    if provider.client_secret != secret:
                        changed.append("client_secret")
                    if not changed:
                        self.stdout.write(f"  = {slug} ({issuer})")
                        continue
                    for key, value in wanted.items():
                        setattr(provider, key, value)
                    provider.client_secret = secret
                    event = events.PROVIDER_CHANGED
                provider.save()
                journal.record(
                    event.code, actor=None, data={"slug": slug, "issuer": issuer, "enabled": enabled}
                )
                self.stdout.write(f"  + {slug} ({issuer})")
        self.link_sandbox_accounts()
        fs_url = os.environ.get("SANDBOX_FS_PUBLIC_URL", "")
        fs_secret_file = os.environ.get("SANDBOX_FS_CLIENT_SECRET_FILE", "")
        if fs_url and fs_secret_file:
            self.register_demo_service(fs_url.rstrip("/"), Path(fs_secret_file))

    @transaction.atomic
    def link_sandbox_accounts(self) -> None:
        """The sandbox FI's accounts named after Maillage's sandbox users (demo.agent, demo.instructeur…)
        lead to those users: agents and company representatives sign in through an identity provider
        (ProConnect-like), never with a password, and these accounts carry the roles the demo needs."""
        for slug, _name, realm, _audience, _level, _enabled in REALMS:
            provider = IdentityProvider.objects.get(slug=slug)
            for account in sandbox_accounts_of(realm):
                user = User.objects.filter(username=account.login).first()
                if user is None:  # load_sandbox has not run: nothing to link
                    continue
                subject = subject_of(realm, account.login)
                link = FederatedIdentity.objects.filter(provider=provider, subject=subject).first()
                if link is not None and link.user_id == user.pk:
                    self.stdout.write(f"  = {account.login} ({slug})")
                    continue
                FederatedIdentity.objects.update_or_create(
                    provider=provider, subject=subject, defaults={"user": user}
                )
                journal.record(
                    events.USER_CHANGED.code,
                    actor=None,
                    subject=pseudonym_for(str(user.public_id)),
                    data={"federated_identity": slug, "sandbox_account": account.login},
                )
                self.stdout.write(f"  + {account.login} ({slug})")

    @transaction.atomic
    def register_demo_service(self, url: str, secret_file: Path) -> None:
        """The demo service provider (identity/sandbox_fs): a public town hall's site, a client of
        Maillage's OpenID provider. Created once, then kept at the demo's address and secret."""
        try:
            secret = secret_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise CommandError(f"Secret du fournisseur de service illisible ({error}).") from None
        wanted = {
            "redirect_uris": f"{url}/callback",
            "post_logout_redirect_uris": f"{url}/logged-out",
        }
        service = ServiceProvider.objects.filter(application__client_id=DEMO_FS_CLIENT_ID).first()
        if service is None:
            town_hall = Organisation.objects.filter(siret=DEMO_FS_SIRET).first()
            if town_hall is None:
                raise CommandError("La mairie de démonstration manque : lancez load_sandbox d'abord.")
            service_provider_create(
                organisation=town_hall,
                name="Mairie de démonstration",
                client_id=DEMO_FS_CLIENT_ID,
                secret=secret,
                redirect_uris=[wanted["redirect_uris"]],
                post_logout_redirect_uris=[wanted["post_logout_redirect_uris"]],
                scopes=DEMO_FS_SCOPES,
                eidas_levels=[EidasLevel.LOW, EidasLevel.SUBSTANTIAL],
                # Private, so that the sandbox journey shows the consent page (a public service shows
                # an information page instead).
                private=True,
            )
            self.stdout.write(f"  + {DEMO_FS_CLIENT_ID} ({url})")
            return
        application = service.application
        changed = [field for field, value in wanted.items() if getattr(application, field) != value]
        if not ClientSecretHasher().verify(secret, application.client_secret):
            changed.append("client_secret")
            application.client_secret = secret
        if not service.private:
            service_provider_update(service, private=True)
        if not set(DEMO_FS_SCOPES.split()) <= set(service.scope_list):
            service_provider_update(
                service, scopes=" ".join(dict.fromkeys([*service.scope_list, *DEMO_FS_SCOPES.split()]))
            )
        if not changed:
            self.stdout.write(f"  = {DEMO_FS_CLIENT_ID} ({url})")
            return
        for field, value in wanted.items():
            setattr(application, field, value)
        application.save()
        journal.record(
            events.SERVICE_CHANGED.code,
            actor=None,
            organisation=service.organisation,
            data={"fs": DEMO_FS_CLIENT_ID, "fields": sorted(changed)},
        )
        self.stdout.write(f"  ~ {DEMO_FS_CLIENT_ID} ({url})")
