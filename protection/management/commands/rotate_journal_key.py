"""Add a new Ed25519 key that signs the journal's seals from now on.

The platform reads its keys from the environment, which a command cannot change: when
JOURNAL_SIGNING_KEYS (or JOURNAL_SIGNING_KEYS_FILE) is set, the new ``id:key`` entry is printed, to be
appended (last = active) by the operator. When the keys come from the file generated in var/secrets,
the entry is appended to that file. Either way, processes pick the key up when they restart; old keys
must stay listed so that their public halves stay published (old seals keep verifying with them).
"""

import base64
import os
import re
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from protection import journal
from protection.models import SigningKey

VARIABLE = "JOURNAL_SIGNING_KEYS"
EVENT_TYPE = "journal.key_rotated"


def _next_key_id(known: set[str]) -> str:
    numbers = [int(match[1]) for key_id in known if (match := re.fullmatch(r"j(\d+)", key_id))]
    return f"j{max(numbers, default=0) + 1}"


def _append_to(path: Path, entry: str) -> None:
    current = path.read_text(encoding="utf-8").strip()
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"{current},{entry}" if current else entry)
    os.replace(temporary, path)


class Command(BaseCommand):
    help = (
        "Crée une nouvelle clé de scellement du journal (Ed25519) : l'ajoute au fichier généré dans "
        "var/secrets, ou affiche l'entrée à ajouter à JOURNAL_SIGNING_KEYS."
    )

    def handle(self, **options):
        known = {key_id for key_id, _seed in settings.JOURNAL_SIGNING_KEYS}
        known |= set(SigningKey.objects.values_list("key_id", flat=True))
        key_id = _next_key_id(known)
        entry = f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode('ascii')}"
        from_environment = VARIABLE in os.environ or f"{VARIABLE}_FILE" in os.environ
        if from_environment:
            self.stdout.write(
                f"Ajoutez cette entrée à la fin de {VARIABLE} (séparée par une virgule), puis redémarrez "
                "les processus (web, workers, beat). Gardez les clés précédentes dans la liste.\n"
            )
            self.stdout.write(entry)
        else:
            path = Path(settings.SECRETS_DIR) / VARIABLE.lower()
            if not path.exists():
                raise CommandError(f"{path} est introuvable : les clés ne viennent pas du fichier généré")
            _append_to(path, entry)
            self.stdout.write(
                f"Clé {key_id} ajoutée à {path} ; elle signera les sceaux après le redémarrage des "
                "processus (web, workers, beat)."
            )
        journal.record(EVENT_TYPE, actor="rotate_journal_key", data={"key_id": key_id})
