"""Re-encrypt every encrypted column under the active key (after a key rotation, see protection/crypto.py).

Dry run by default: counts, per column and per key, the values not yet under the active key.
``--wet-run`` rewrites them in batches (pk order, rows locked); values already under the active key
are skipped by the query itself, so an interrupted run simply resumes when started again.
"""

import logging

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.db.models.functions import Cast

from protection import crypto, journal
from protection.fields import encrypted_fields

logger = logging.getLogger(__name__)

EVENT_TYPE = "protection.fields_reencrypted"

_RAW = "_stored_ciphertext"
_KEY = "_stored_key_id"


def _stale(model, field, ring: crypto.Keyring):
    """Stored values not under the active key, read raw: the cast skips the field's decryption."""
    return (
        model._base_manager.annotate(**{_RAW: Cast(field.name, models.TextField())})
        .filter(**{f"{_RAW}__isnull": False})
        .exclude(**{f"{_RAW}__startswith": crypto.active_prefix(ring)})
    )


def _count_by_key(model, field, ring: crypto.Keyring) -> dict[str, int]:
    key_id = models.Func(
        models.F(_RAW),
        models.Value(":"),
        models.Value(3),
        function="split_part",
        output_field=models.TextField(),
    )
    rows = (
        _stale(model, field, ring)
        .annotate(**{_KEY: key_id})
        .values(_KEY)
        .annotate(count=models.Count("pk"))
        .order_by(_KEY)
    )
    return {row[_KEY]: row["count"] for row in rows}


class Command(BaseCommand):
    help = (
        "Rechiffre sous la clé active (la dernière de FIELD_ENCRYPTION_KEYS) les champs chiffrés. "
        "Simulation par défaut ; --wet-run pour réécrire."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--wet-run", action="store_true", help="réécrire les valeurs (sinon : simulation)"
        )
        parser.add_argument("--batch-size", type=int, default=500, help="lignes par transaction (500)")

    def handle(self, *, wet_run: bool, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size doit être au moins 1")
        ring = crypto.keyring()
        fields = encrypted_fields(apps)
        self.stdout.write(f"Clé active : {ring.active_key_id} — {len(fields)} champ(s) chiffré(s).")
        unreadable = 0
        for model, field in fields:
            label = f"{model._meta.label}.{field.name}"
            by_key = _count_by_key(model, field, ring)
            total = sum(by_key.values())
            detail = ", ".join(
                f"{key_id}: {count}" + ("" if key_id in ring.key_ids else " (clé absente du trousseau)")
                for key_id, count in by_key.items()
            )
            self.stdout.write(
                f"{label} : {total} valeur(s) à rechiffrer" + (f" ({detail})" if detail else "")
            )
            if wet_run and total:
                unreadable += self._rewrite(model, field, ring, label, total, batch_size)
        if not wet_run:
            self.stdout.write("Simulation : rien n'a été modifié. Relancer avec --wet-run pour rechiffrer.")
        if unreadable:
            raise CommandError(
                f"{unreadable} valeur(s) illisible(s) laissée(s) en l'état : clé retirée trop tôt, "
                "ou valeur altérée (voir les avertissements ci-dessus)."
            )

    def _rewrite(self, model, field, ring: crypto.Keyring, label: str, total: int, batch_size: int) -> int:
        done = unreadable = 0
        last_pk = None
        while True:
            with transaction.atomic():
                batch = _stale(model, field, ring).select_for_update().order_by("pk")
                if last_pk is not None:
                    batch = batch.filter(pk__gt=last_pk)
                rows = list(batch.values_list("pk", _RAW)[:batch_size])
                rewritten = 0
                for pk, stored in rows:
                    try:
                        plaintext = ring.decrypt(stored, context=field.context)
                    except crypto.DecryptionError as error:
                        unreadable += 1
                        logger.warning("reencrypt_fields: %s pk=%s skipped: %s", label, pk, error)
                        self.stderr.write(f"{label} pk={pk} : illisible, laissée en l'état ({error})")
                        continue
                    # A plain-text Value: the field would otherwise encrypt the ciphertext a second time.
                    ciphertext = models.Value(
                        ring.encrypt(plaintext, context=field.context), models.TextField()
                    )
                    model._base_manager.filter(pk=pk).update(**{field.attname: ciphertext})
                    rewritten += 1
                if rewritten:
                    journal.record(
                        EVENT_TYPE,
                        actor="reencrypt_fields",
                        data={"field": label, "rewritten": rewritten, "key_id": ring.active_key_id},
                    )
            done += rewritten
            self.stdout.write(f"  {label} : lot de {len(rows)} ligne(s), {done}/{total} rechiffrée(s)")
            if len(rows) < batch_size:
                break
            last_pk = rows[-1][0]
        logger.info("reencrypt_fields: %s, %s value(s) now under key %s", label, done, ring.active_key_id)
        return unreadable
