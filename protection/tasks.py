"""Celery tasks of the trust layer."""

from celery import shared_task

from protection import sealing, verification


@shared_task(name="protection.tasks.seal_journal_task", ignore_result=True)
def seal_journal_task() -> int:
    """Seal what is pending (scheduled every 2 s by CELERY_BEAT_SCHEDULE).

    Idempotent (sealed entries are never sealed again; a concurrent run returns at once) and bounded
    (horizon wait and number of batches per run are capped; a backlog is worked off tick after tick).
    """
    return len(sealing.seal_pending())


@shared_task(name="protection.tasks.verify_journal_task", ignore_result=True)
def verify_journal_task() -> int | None:
    """Verify the batches sealed since the last successful verification (scheduled by CELERY_BEAT_SCHEDULE).

    Recorded as a VerificationRun and a "journal.verified" entry; the full check of every batch is
    `manage.py verify_journal`. Returns the run's id, None when no batch was sealed since.
    """
    run = verification.verify_journal_incrementally()
    return run.pk if run else None


@shared_task(name="protection.tasks.purge_journal_task", ignore_result=True)
def purge_journal_task() -> int:
    """Remove the sealed batches past retention (scheduled daily by CELERY_BEAT_SCHEDULE); the purge
    journals itself. Returns the number of entries removed."""
    from protection.purge import purge_expired

    return purge_expired(wet_run=True).entries
