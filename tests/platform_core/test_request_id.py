"""X-Request-ID: accepted when well-formed, generated otherwise, echoed, logged, carried to Celery tasks."""

import logging
import re
import uuid

import pytest
from celery.worker.request import Request as WorkerRequest

from platform_core.celery import app as celery_app
from platform_core.logging import request_id_var
from tests.problems import assert_problem

with_test_views = pytest.mark.urls("tests.platform_core.test_api_errors")

GENERATED = re.compile(r"^[0-9a-f]{32}$")

task_logger = logging.getLogger("tests.platform_core.task")


@celery_app.task(name="tests.platform_core.log_request_id", ignore_result=True)
def log_request_id_task():
    task_logger.info("inside the task")
    return request_id_var.get()


# --- HTTP -------------------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["abc-123", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "lb:1.2_3", "x" * 128])
def test_well_formed_request_id_is_accepted_and_echoed(client, request_id):
    response = client.get("/api/nowhere", HTTP_X_REQUEST_ID=request_id)

    assert response["X-Request-ID"] == request_id
    assert assert_problem(response, 404, "not-found")["request_id"] == request_id


def test_missing_request_id_is_generated(client):
    first = client.get("/api/nowhere")
    second = client.get("/api/nowhere")

    assert GENERATED.match(first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize(
    "malformed", ["", "with space", "x" * 129, "accentué", "a/b", "<script>", "id;drop", "a\tb"]
)
def test_malformed_request_id_is_replaced(client, malformed):
    response = client.get("/api/nowhere", HTTP_X_REQUEST_ID=malformed)

    assert GENERATED.match(response["X-Request-ID"])


@pytest.mark.django_db
def test_request_id_is_echoed_on_successful_responses(client):
    response = client.get("/api/v1/organisations/", HTTP_X_REQUEST_ID="list-1")

    assert response.status_code == 200
    assert response["X-Request-ID"] == "list-1"


@with_test_views
def test_every_log_line_of_a_request_carries_its_id(client, log_lines):  # noqa: F811
    # when a request logs (here a crash: the middleware and django.request both log it)
    client.get("/api/v1/test/crash", HTTP_X_REQUEST_ID="logged-1")

    # then
    lines = log_lines()
    assert lines
    assert {line["request_id"] for line in lines} == {"logged-1"}


def test_log_lines_outside_a_request_have_no_id(log_lines):  # noqa: F811
    logging.getLogger("tests").warning("outside")

    assert log_lines()[0]["request_id"] == "-"


# --- Celery -----------------------------------------------------------------------------------


def publish(queue_name):
    # An explicit connection, closed here, rather than the app's pool that outlives the test.
    with celery_app.connection_for_write() as connection:
        log_request_id_task.apply_async(queue=queue_name, connection=connection)


def run_as_worker(message):
    """Execute a task message with the worker's own Request class (without a pool), acking it as a worker."""
    return WorkerRequest(
        message, app=celery_app, task=log_request_id_task, on_ack=lambda *args: message.ack()
    ).execute()


@pytest.fixture
def queue_name():
    """A queue no worker listens to, on the test Redis, removed afterwards."""
    name = f"tests-request-id-{uuid.uuid4().hex}"
    yield name
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_delete(name)


def test_queued_task_runs_under_the_request_id_of_the_request_that_queued_it(queue_name, log_lines):  # noqa: F811
    # given a task queued while serving a request
    token = request_id_var.set("queued-by-1")
    try:
        publish(queue_name)
    finally:
        request_id_var.reset(token)

    # then the message carries the request id in its headers
    with celery_app.connection_for_read() as connection:
        queue = connection.SimpleQueue(queue_name)
        message = queue.get(timeout=5)
        assert message.headers["request_id"] == "queued-by-1"

        # when a worker executes it
        returned = run_as_worker(message)
        queue.close()

    # then the task ran under that id, its log lines carry it, and the worker's context is clean again
    assert returned == "queued-by-1"
    task_lines = [line for line in log_lines() if line["logger"] == task_logger.name]
    assert [line["request_id"] for line in task_lines] == ["queued-by-1"]
    assert request_id_var.get() == "-"


def test_task_queued_outside_a_request_carries_no_request_id(queue_name):
    publish(queue_name)

    with celery_app.connection_for_read() as connection:
        queue = connection.SimpleQueue(queue_name)
        message = queue.get(timeout=5)
        assert "request_id" not in message.headers
        returned = run_as_worker(message)
        queue.close()

    assert returned == "-"


def test_eager_task_keeps_the_callers_request_id():
    token = request_id_var.set("eager-1")
    try:
        result = log_request_id_task.apply()
        after = request_id_var.get()
    finally:
        request_id_var.reset(token)

    assert result.get() == "eager-1"
    assert after == "eager-1"
