from celery import shared_task

from opendata.aggregation import aggregate_all


@shared_task(name="opendata.tasks.aggregate_journal_task", ignore_result=True)
def aggregate_journal_task() -> int:
    """Beat, every minute: the journal entries since the high-water mark into the daily statistics; then,
    when they changed, the landing page's tables computed for the next visitor."""
    counted = aggregate_all()
    if counted:
        from opendata.views import warm_landing_page

        warm_landing_page()
    return counted
