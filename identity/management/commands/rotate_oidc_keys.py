from django.core.management.base import BaseCommand
from django.db import transaction

from identity import events, op_keys
from protection import journal


class Command(BaseCommand):
    help = (
        "Met en service de nouvelles clés de signature des jetons d'identité (ES256 et RS256) ; les "
        "précédentes restent publiées OIDC_RETIRED_KEY_DAYS jours."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            kids = op_keys.rotate()
            journal.record(events.OP_KEYS_ROTATED.code, actor=None, data={"new_kids": kids})
        self.stdout.write(self.style.SUCCESS(f"Nouvelles clés actives : {', '.join(kids)}"))
