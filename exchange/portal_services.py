"""Writes the habilitation portal needs beyond exchange.services: attaching the legal basis PDF to a
habilitation being edited (habilitation_update changes the tracked text fields only), and sweeping the
PDFs that transactions rolled back left behind.

Same rules as exchange.services: the person needs ``change_habilitation`` on the habilitation, which must
be a draft or sent back for changes; the change is kept in the field-level history and journaled.
"""

import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from exchange import events
from exchange.models import Authorization, Habilitation, HabilitationChange
from exchange.services import EDITABLE, Forbidden
from platform_core.exceptions import Conflict
from protection import journal


def legal_basis_file_name() -> str:
    """A stored name that owes nothing to the uploaded file's own name."""
    return f"{uuid.uuid4().hex}.pdf"


@transaction.atomic
def habilitation_attach_legal_basis(habilitation: Habilitation, *, user, document) -> Habilitation:
    """Replace the legal basis PDF of an editable habilitation; ``document`` is an uploaded file whose
    content was checked by the caller (PDF, size)."""
    habilitation = Habilitation.objects.select_for_update().select_related("api").get(pk=habilitation.pk)
    if not user.has_perm("exchange.change_habilitation", habilitation):
        raise Forbidden(_("Vous n'avez pas le droit de faire cela sur cette habilitation."))
    if habilitation.state not in EDITABLE:
        raise Conflict(_("Seul un brouillon ou une habilitation à modifier peut être changé."))
    old = habilitation.legal_basis_document.name or ""
    habilitation.legal_basis_document.save(legal_basis_file_name(), document, save=False)
    habilitation.save(update_fields=["legal_basis_document", "updated_at"])
    HabilitationChange.objects.create(
        habilitation=habilitation,
        author=user,
        field="legal_basis_document",
        old_value=old,
        new_value=habilitation.legal_basis_document.name,
    )
    journal.record(
        events.HABILITATION_CHANGED.code,
        actor=user,
        organisation=habilitation.consumer,
        data={
            "habilitation": str(habilitation.public_id),
            "api": habilitation.api.slug,
            "fields": ["legal_basis_document"],
        },
    )
    return habilitation


# A file younger than this may belong to a transaction still running: never swept.
ORPHAN_GRACE = timedelta(days=1)
logger = logging.getLogger(__name__)


def sweep_orphan_legal_basis_files(now=None) -> list[str]:
    """Delete the legal basis PDFs that no habilitation, history line or authorization names: a file is
    stored before its transaction commits, and stays behind when that transaction rolls back (an invalid
    form further on, a conflict). Journaled, then deleted once the entry commits; a file that cannot be
    deleted is logged and tried again at the next sweep. Returns the names deleted."""
    now = now or timezone.now()
    field = Habilitation._meta.get_field("legal_basis_document")
    storage, directory = field.storage, field.upload_to.rstrip("/")
    try:
        _directories, files = storage.listdir(directory)
    except FileNotFoundError:
        return []
    stored = {f"{directory}/{name}" for name in files}
    if not stored:
        return []
    named = set(
        Habilitation.objects.exclude(legal_basis_document="").values_list("legal_basis_document", flat=True)
    )
    for old, new in HabilitationChange.objects.filter(field="legal_basis_document").values_list(
        "old_value", "new_value"
    ):
        named.update(value for value in (old, new) if isinstance(value, str))
    for in_snapshot, legal_basis in Authorization.objects.values_list(
        "snapshot__legal_basis_document", "legal_basis"
    ):
        named.update(value for value in (in_snapshot, legal_basis) if isinstance(value, str))
    orphans = sorted(name for name in stored - named if storage.get_modified_time(name) < now - ORPHAN_GRACE)
    if not orphans:
        return []
    with transaction.atomic():
        journal.record(
            events.LEGAL_BASIS_FILES_SWEPT.code,
            actor=None,
            data={"count": len(orphans), "files": orphans[:50]},
        )
        transaction.on_commit(lambda: _delete(storage, orphans))
    return orphans


def _delete(storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            logger.warning("legal basis file %s could not be deleted; the next sweep tries again", name)
