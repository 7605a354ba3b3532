"""Celery tasks of the shared kernel (found by the Celery app's autodiscovery)."""

from platform_core.sandbox.activity import record_sandbox_activity

__all__ = ["record_sandbox_activity"]
