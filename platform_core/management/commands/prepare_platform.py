import os

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "`make run`: migrate, create the cache table, collect static files, load the sandbox."

    def add_arguments(self, parser):
        parser.add_argument("--no-sandbox", action="store_true", help="Do not load the demo data.")

    def handle(self, *args, no_sandbox: bool = False, **options):
        # One process instead of four: `make run` pays Django's start-up once.
        self.stdout.write(self.style.MIGRATE_HEADING("Migrations"))
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        self.stdout.write(self.style.MIGRATE_HEADING("Static files"))
        call_command("collectstatic", interactive=False, verbosity=0)
        if not no_sandbox:
            self.stdout.write(self.style.MIGRATE_HEADING("Sandbox data"))
            # `make run` is the sandbox: its demo accounts are wanted even with DEBUG=0.
            call_command("load_sandbox", force=True)
            # Months of synthetic activity over communes of many départements, aggregated, so that
            # /statistiques means something on first start (opendata; idempotent).
            call_command("load_sandbox_activity")
            if os.environ.get("SANDBOX_IDP_PUBLIC_URL"):
                # The sandbox identity provider `make run` starts (identity/sandbox_idp), as this
                # instance's FI; by command name, as platform_core does not import identity.
                call_command("load_sandbox_providers")
            if os.environ.get("SANDBOX_PROVIDERS_URL") and os.environ.get("SANDBOX_PROVIDERS_TOKEN_FILE"):
                # The sandbox data providers `make run` starts (exchange/sandbox_providers), in the
                # catalogue, with a validated habilitation of the sandbox commune to each.
                call_command("load_sandbox_exchange")
            # Object permissions in step with memberships, whoever joined meanwhile (exchange; by name).
            call_command("resync_permissions")
