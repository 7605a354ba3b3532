"""Celery tasks of the trust layer."""

from celery import shared_task

from protection import sealing


@shared_task(name="protection.tasks.seal_journal_task", ignore_result=True)
def seal_journal_task() -> int:
    """Seal what is pending (scheduled every 2 s by CELERY_BEAT_SCHEDULE).

    Idempotent (sealed entries are never sealed again; a concurrent run returns at once) and bounded
    (horizon wait and number of batches per run are capped; a backlog is worked off tick after tick).
    """
    return len(sealing.seal_pending())
