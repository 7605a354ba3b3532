import os

from celery import Celery, signals

from platform_core.logging import request_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings")

app = Celery("maillage")
# Settings are read lazily, so importing this module does not configure Django.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The request id travels with each task message, so a worker's log lines name the request that queued
# the task (and tasks queued by a task inherit it).
REQUEST_ID_TASK_HEADER = "request_id"
_request_id_tokens: dict = {}


@signals.before_task_publish.connect(dispatch_uid="platform_core.request_id.publish")
def _add_request_id_header(headers=None, **kwargs):
    request_id = request_id_var.get()
    if headers is not None and request_id != "-":
        headers.setdefault(REQUEST_ID_TASK_HEADER, request_id)


@signals.task_prerun.connect(dispatch_uid="platform_core.request_id.prerun")
def _set_task_request_id(task_id=None, task=None, **kwargs):
    request = task.request
    # A worker exposes custom message headers as request attributes; an eager call runs in the
    # caller's context, where the id is already set, and has none.
    request_id = getattr(request, REQUEST_ID_TASK_HEADER, None) or (request.headers or {}).get(
        REQUEST_ID_TASK_HEADER
    )
    if request_id:
        _request_id_tokens[task_id] = request_id_var.set(request_id)


@signals.task_postrun.connect(dispatch_uid="platform_core.request_id.postrun")
def _reset_task_request_id(task_id=None, **kwargs):
    token = _request_id_tokens.pop(task_id, None)
    if token is not None:
        request_id_var.reset(token)
