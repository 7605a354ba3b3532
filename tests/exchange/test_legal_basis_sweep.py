"""Legal basis PDFs are stored before their transaction commits: the nightly sweep deletes those a
rolled-back transaction left behind, once a day old, and never a file a habilitation, its history or an
authorization names."""

import os
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from exchange.portal_services import habilitation_attach_legal_basis, sweep_orphan_legal_basis_files
from exchange.services import habilitation_transition
from protection.models import JournalEntry
from tests.exchange.conftest import draft

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    files = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}
    settings.STORAGES = {**settings.STORAGES, "default": files}
    return tmp_path


def attach(habilitation, user):
    document = SimpleUploadedFile("fondement.pdf", PDF, content_type="application/pdf")
    return habilitation_attach_legal_basis(
        habilitation, user=user, document=document
    ).legal_basis_document.name


def age(name: str, days: float) -> None:
    when = (timezone.now() - timedelta(days=days)).timestamp()
    os.utime(default_storage.path(name), (when, when))


def test_a_rolled_back_attachment_is_swept_a_day_later_and_journaled(
    world, django_capture_on_commit_callbacks
):
    habilitation = draft(world)
    kept = attach(habilitation, world["applicant"])
    replaced = kept
    kept = attach(habilitation, world["applicant"])  # the first one stays named by the history
    with pytest.raises(RuntimeError), transaction.atomic():
        orphan = attach(habilitation, world["applicant"])
        raise RuntimeError("the rest of the form failed")
    recent_orphan = default_storage.save(
        "habilitations/legal-basis/recent.pdf", SimpleUploadedFile("r.pdf", PDF)
    )
    for name in (kept, replaced, orphan):
        age(name, 2)
    assert all(default_storage.exists(name) for name in (kept, replaced, orphan, recent_orphan))

    with django_capture_on_commit_callbacks(execute=True):
        swept = sweep_orphan_legal_basis_files()

    assert swept == [orphan]
    assert not default_storage.exists(orphan)
    assert all(
        default_storage.exists(name) for name in (kept, replaced, recent_orphan)
    )  # named, or too young
    entry = JournalEntry.objects.get(event_type="exchange.legal_basis_files_swept")
    assert entry.data == {"count": 1, "files": [orphan]}
    # nothing left to sweep: no second entry
    assert sweep_orphan_legal_basis_files() == []
    assert JournalEntry.objects.filter(event_type="exchange.legal_basis_files_swept").count() == 1


def test_a_file_named_only_by_an_authorization_is_kept(world, django_capture_on_commit_callbacks):
    habilitation = draft(world, legal_basis_url="")
    name = attach(habilitation, world["applicant"])
    habilitation_transition(habilitation, "submit", user=world["applicant"])
    habilitation_transition(habilitation, "validate", user=world["instructor"])
    # the habilitation and its history no longer name it: the validated snapshot still does
    habilitation.refresh_from_db()
    type(habilitation).objects.filter(pk=habilitation.pk).update(legal_basis_document="")
    habilitation.changes.filter(field="legal_basis_document").delete()
    age(name, 3)

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_orphan_legal_basis_files() == []
    assert default_storage.exists(name)


def test_without_any_file_the_sweep_does_nothing():
    assert sweep_orphan_legal_basis_files() == []
    assert not JournalEntry.objects.filter(event_type="exchange.legal_basis_files_swept").exists()
