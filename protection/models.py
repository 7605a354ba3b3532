"""The journal: append-only, enforced by PostgreSQL triggers (migration 0002), sealed in batches.

Entries get their ``id`` from a sequence. Ids are unique and increasing in allocation order, not in
commit order, and rolled-back transactions leave holes: the sealer therefore seals only up to a horizon
below which no transaction can still commit (see protection/sealing.py), and each seal records the
exact id range and count it covers.
"""

import json
import uuid

from django.db import models
from django.db.models.functions import Chr, Concat, StrIndex
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from protection import canonical
from protection.enums import Outcome


class CanonicalJSONField(models.JSONField):
    """A JSON value stored as its canonical text (protection/canonical.py) in a ``json`` column.

    PostgreSQL keeps ``json`` text byte for byte (``jsonb`` would reorder keys and add spaces), so the
    sealer and the verifier hash the stored text as it is, inside the database. Lookups that need
    jsonb operators (``__contains``, ``__has_key``) are not available; key transforms are.
    """

    def db_type(self, connection):
        return "json"

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if hasattr(value, "as_sql"):
            return value
        from psycopg.types.json import Json

        return Json(value, dumps=canonical.canonical_json)

    def from_db_value(self, value, expression, connection):
        # psycopg already decodes json columns; key transforms may come back as text.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value


class JournalEntry(models.Model):
    id = models.BigAutoField(primary_key=True)
    public_id = models.UUIDField(_("identifiant public"), default=uuid.uuid4, unique=True, editable=False)
    occurred_at = models.DateTimeField(_("date"), default=timezone.now, db_index=True)
    event_type = models.CharField(_("type d'évènement"), max_length=64, db_index=True)
    actor_type = models.CharField(_("type d'acteur"), max_length=32)
    actor_id = models.CharField(_("acteur"), max_length=64, blank=True, db_index=True)
    actor_label = models.CharField(_("libellé de l'acteur"), max_length=255, blank=True)
    organisation_id = models.CharField(_("organisation"), max_length=64, blank=True, db_index=True)
    subject = models.CharField(_("personne concernée (pseudonyme)"), max_length=80, blank=True)
    purpose = models.CharField(_("finalité"), max_length=500, blank=True)
    contract = models.CharField(_("habilitation"), max_length=64, blank=True, db_index=True)
    outcome = models.CharField(_("résultat"), max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    request_id = models.CharField(_("identifiant de requête"), max_length=128, blank=True)
    data = CanonicalJSONField(_("données"), default=dict, blank=True)
    deferred_disclosure_until = models.DateTimeField(
        _("information différée jusqu'au"), null=True, blank=True
    )

    class Meta:
        verbose_name = _("entrée du journal")
        verbose_name_plural = _("journal")
        ordering = ["-id"]
        indexes = [models.Index(fields=["subject", "-id"], name="journal_subject_idx")]
        constraints = [
            models.CheckConstraint(
                name="journal_outcome_valid", condition=models.Q(outcome__in=Outcome.values)
            ),
            # The canonical form joins the fields with U+001F (protection/canonical.py): none may hold one.
            models.CheckConstraint(
                name="journal_no_separator",
                condition=models.Q(
                    Exact(
                        StrIndex(Concat(*canonical.TEXT_COLUMNS, output_field=models.TextField()), Chr(31)),
                        0,
                    )
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.event_type} ({self.occurred_at:%Y-%m-%d %H:%M:%S})"


class SigningKey(models.Model):
    """Public half of an Ed25519 key that signs seals; the private half stays outside the database."""

    key_id = models.SlugField(_("identifiant de clé"), max_length=32, unique=True)
    public_key = models.CharField(_("clé publique (base64)"), max_length=64)
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)
    retired_at = models.DateTimeField(_("retirée le"), null=True, blank=True)

    class Meta:
        verbose_name = _("clé de scellement")
        verbose_name_plural = _("clés de scellement")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.key_id


class Seal(models.Model):
    """One sealed batch: the Merkle root of entries first_entry_id..last_entry_id, chained and signed."""

    batch_number = models.PositiveBigIntegerField(_("numéro de lot"), unique=True)
    first_entry_id = models.BigIntegerField(_("première entrée"))
    last_entry_id = models.BigIntegerField(_("dernière entrée"))
    entry_count = models.PositiveIntegerField(_("nombre d'entrées"))
    merkle_root = models.CharField(_("racine de Merkle"), max_length=64)
    previous_seal_hash = models.CharField(_("empreinte du sceau précédent"), max_length=64, blank=True)
    seal_hash = models.CharField(_("empreinte du sceau"), max_length=64, unique=True)
    key = models.ForeignKey(
        SigningKey, on_delete=models.PROTECT, to_field="key_id", related_name="seals", verbose_name=_("clé")
    )
    signature = models.CharField(_("signature (base64)"), max_length=128)
    sealed_at = models.DateTimeField(_("scellé le"), default=timezone.now)

    class Meta:
        verbose_name = _("sceau")
        verbose_name_plural = _("sceaux")
        ordering = ["-batch_number"]
        indexes = [models.Index(fields=["last_entry_id"], name="seal_last_entry_idx")]
        constraints = [
            models.CheckConstraint(
                name="seal_range_ordered", condition=models.Q(first_entry_id__lte=models.F("last_entry_id"))
            ),
        ]

    def __str__(self) -> str:
        return f"lot {self.batch_number} ({self.first_entry_id}–{self.last_entry_id})"


class BatchLeaves(models.Model):
    """The leaf hashes of a sealed batch, in id order (32 bytes each), kept at sealing time.

    Derived data, never trusted on its own: a proof built from them is checked against the signed
    root, and verification recomputes every leaf from the entries. They make proofs a lookup instead
    of a rehash of the whole batch, and let verification name the entry that changed.
    """

    seal = models.OneToOneField(
        Seal, on_delete=models.PROTECT, related_name="leaves", verbose_name=_("sceau")
    )
    hashes = models.BinaryField(_("empreintes des feuilles"))

    class Meta:
        verbose_name = _("feuilles d'un lot")
        verbose_name_plural = _("feuilles des lots")

    def __str__(self) -> str:
        return f"feuilles du {self.seal}"

    def leaf_list(self) -> list[bytes]:
        return canonical.split_leaves(bytes(self.hashes))


class PurgedBatch(models.Model):
    """A sealed batch whose entries were removed past retention: the seal stays, the chain stays checkable."""

    seal = models.OneToOneField(Seal, on_delete=models.PROTECT, related_name="purge", verbose_name=_("sceau"))
    purged_at = models.DateTimeField(_("purgé le"), default=timezone.now)
    entry_count = models.PositiveIntegerField(_("entrées supprimées"))

    class Meta:
        verbose_name = _("lot purgé")
        verbose_name_plural = _("lots purgés")
        ordering = ["-purged_at"]

    def __str__(self) -> str:
        return f"{self.seal} purgé le {self.purged_at:%Y-%m-%d}"


class VerificationRun(models.Model):
    """One verification of the sealed journal (manage.py verify_journal or the periodic task). Insert-only."""

    started_at = models.DateTimeField(_("commencée le"))
    finished_at = models.DateTimeField(_("terminée le"))
    first_batch = models.PositiveBigIntegerField(_("premier lot"), null=True, blank=True)
    last_batch = models.PositiveBigIntegerField(_("dernier lot"), null=True, blank=True)
    entries_checked = models.PositiveBigIntegerField(_("entrées vérifiées"), default=0)
    ok = models.BooleanField(_("conforme"))
    failing_batch = models.PositiveBigIntegerField(_("lot en échec"), null=True, blank=True)
    failing_entry = models.BigIntegerField(_("entrée en échec"), null=True, blank=True)
    message = models.CharField(_("message"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("vérification du journal")
        verbose_name_plural = _("vérifications du journal")
        ordering = ["-id"]

    def __str__(self) -> str:
        status = "conforme" if self.ok else "en échec"
        return f"vérification du {self.started_at:%Y-%m-%d %H:%M:%S} ({status})"
