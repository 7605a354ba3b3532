"""Re-derive every membership's object permissions (habilitations, service providers) from the
memberships: repairs those a membership created without its receivers missed (before they were held
strongly, an agent joining by sign-in got none). Idempotent; `make run` runs it."""

from django.core.management.base import BaseCommand
from django.db import transaction

from exchange.services import sync_membership
from identity.services import sync_membership_permissions
from platform_core.models import Membership


class Command(BaseCommand):
    help = "Re-derive the object permissions of every membership (habilitations, service providers)."

    def handle(self, *args, **options):
        count = 0
        for membership in Membership.objects.select_related("user", "organisation").iterator():
            with transaction.atomic():
                sync_membership(membership)
                sync_membership_permissions(membership)
            count += 1
        self.stdout.write(f"  = permissions de {count} appartenance(s) vérifiées")
