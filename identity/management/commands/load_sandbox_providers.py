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
from identity.models import IdentityProvider
from platform_core import embedded_db
from protection import journal

REALMS = (
    # slug, name, realm, audience, level, enabled (companies sign in with later work)
    ("demo-usagers", "Identité de démonstration", "usagers", ProviderAudience.CITIZEN, EidasLevel.LOW, True),
    ("demo-agents", "Agents de démonstration", "agents", ProviderAudience.AGENT, EidasLevel.LOW, True),
    ("demo-entreprises", "Entreprises de démonstration", "entreprises", ProviderAudience.COMPANY,
     EidasLevel.LOW, False),
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
