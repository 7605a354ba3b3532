"""Writes the habilitation portal needs beyond exchange.services: attaching the legal basis PDF to a
habilitation being edited (habilitation_update changes the tracked text fields only).

Same rules as exchange.services: the person needs ``change_habilitation`` on the habilitation, which must
be a draft or sent back for changes; the change is kept in the field-level history and journaled.
"""

import uuid

from django.db import transaction
from django.utils.translation import gettext as _

from exchange import events
from exchange.models import Habilitation, HabilitationChange
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
