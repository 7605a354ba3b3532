"""Assertions on RFC 9457 problem responses, shared by the API tests."""

import json

from django.conf import settings

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id", "errors"}


def assert_problem(response, status: int, code: str) -> dict:
    """The response is an RFC 9457 problem of type ``code``, tied to its request id."""
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = json.loads(response.content)
    assert set(body) == PROBLEM_KEYS
    assert body["type"] == f"{settings.PUBLIC_URL}/api/problems/{code}"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert body["instance"] == response.wsgi_request.path
    assert body["request_id"] == response["X-Request-ID"]
    for error in body["errors"]:
        assert set(error) == {"field", "code", "message"}
    return body
