"""Periodic jobs of the exchange hub (scheduled in CELERY_BEAT_SCHEDULE)."""

from celery import shared_task


@shared_task(name="exchange.tasks.warn_expiring_credentials_task", ignore_result=True)
def warn_expiring_credentials_task() -> int:
    """The technical contacts of credentials expiring in 30, 7 or 1 days get an e-mail (once each)."""
    from exchange.services import warn_expiring_credentials

    return warn_expiring_credentials()


@shared_task(name="exchange.tasks.sweep_orphan_legal_basis_files_task", ignore_result=True)
def sweep_orphan_legal_basis_files_task() -> int:
    """The legal basis PDFs left behind by rolled-back transactions, deleted (exchange/portal_services.py)."""
    from exchange.portal_services import sweep_orphan_legal_basis_files

    return len(sweep_orphan_legal_basis_files())


# Batch transfers (exchange/batches.py), on the "batches" queue (CELERY_TASK_ROUTES). Acknowledged late and
# requeued when the worker process dies: a chunk is idempotent, its items are claimed with leases.


@shared_task(
    name="exchange.tasks.batch_start_task", ignore_result=True, acks_late=True, reject_on_worker_lost=True
)
def batch_start_task(batch_pk: int) -> int:
    from exchange.batches import batch_start

    return batch_start(batch_pk)


@shared_task(
    bind=True,
    name="exchange.tasks.batch_chunk_task",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # bounded by the items' own attempts (BATCH_MAX_ATTEMPTS)
)
def batch_chunk_task(self, batch_pk: int, chunk: int) -> None:
    from exchange.batches import batch_process_chunk

    delay = batch_process_chunk(batch_pk, chunk)
    if delay is not None:
        # Items wait for a retry after an upstream fault: the same chunk, later (exponential backoff).
        raise self.retry(countdown=delay)


@shared_task(
    bind=True,
    name="exchange.tasks.batch_webhook_task",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # bounded by WEBHOOK_MAX_ATTEMPTS
)
def batch_webhook_task(self, batch_pk: int) -> None:
    from exchange.batches import webhook_deliver

    delay = webhook_deliver(batch_pk)
    if delay is not None:
        raise self.retry(countdown=delay)


@shared_task(name="exchange.tasks.batches_sweep_task", ignore_result=True)
def batches_sweep_task() -> int:
    from exchange.batches import batches_sweep

    return batches_sweep()
