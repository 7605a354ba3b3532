"""Periodic jobs of the exchange hub (scheduled in CELERY_BEAT_SCHEDULE)."""

from celery import shared_task


@shared_task(name="exchange.tasks.warn_expiring_credentials_task", ignore_result=True)
def warn_expiring_credentials_task() -> int:
    """The technical contacts of credentials expiring in 30, 7 or 1 days get an e-mail (once each)."""
    from exchange.services import warn_expiring_credentials

    return warn_expiring_credentials()
