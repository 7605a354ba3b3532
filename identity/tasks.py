"""Periodic housekeeping of Maillage's OpenID provider (scheduled in CELERY_BEAT_SCHEDULE)."""

from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

AUTHORIZATION_KEPT = timedelta(days=1)  # far beyond a code's 30 s: a late replay still finds its record


@shared_task(name="identity.tasks.purge_expired_tokens_task", ignore_result=True)
def purge_expired_tokens_task() -> dict:
    """Delete expired codes, access and ID tokens (django-oauth-toolkit's clear_expired) and the
    authorization records past AUTHORIZATION_KEPT; the journal keeps the history. Returns the counts."""
    from oauth2_provider.models import AccessToken, Grant, IDToken, clear_expired

    from identity import events
    from identity.models import Authorization
    from protection import journal

    now = timezone.now()
    before = {
        "codes": Grant.objects.filter(expires__lt=now).count(),
        "access": AccessToken.objects.filter(expires__lt=now).count(),
        "identity": IDToken.objects.filter(expires__lt=now).count(),
    }
    with transaction.atomic():
        clear_expired()
        authorizations = Authorization.objects.filter(created_at__lt=now - AUTHORIZATION_KEPT).delete()[0]
        counts = {**before, "records": authorizations}
        journal.record(events.TOKENS_PURGED.code, actor=None, data=counts)
    return counts
