"""Each problem `type` is a URI that documents itself: /api/problems/ and /api/problems/{code}."""

import json

import pytest
from django.conf import settings

from platform_core.exceptions import Conflict, InvalidInput
from tests.problems import assert_problem

HTTP_CODES = {
    "bad-request",
    "validation-error",
    "malformed-request",
    "not-authenticated",
    "authentication-failed",
    "permission-denied",
    "csrf-failed",
    "not-found",
    "method-not-allowed",
    "not-acceptable",
    "conflict",
    "request-too-large",
    "unsupported-media-type",
    "throttled",
    "server-error",
}


def test_problem_types_are_listed_with_http_and_domain_codes(client):
    response = client.get("/api/problems/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    problems = {problem["code"]: problem for problem in response.json()["problems"]}
    assert HTTP_CODES | {Conflict.code, InvalidInput.code, "domain-error"} <= set(problems)
    for code, problem in problems.items():
        assert problem["type"] == f"{settings.PUBLIC_URL}/api/problems/{code}"
        assert problem["title"] and problem["description"]


@pytest.mark.parametrize("code", sorted(HTTP_CODES))
def test_each_problem_type_uri_resolves_to_its_description(client, code):
    response = client.get(f"/api/problems/{code}")

    assert response.status_code == 200
    assert response.json()["code"] == code
    assert response.json()["type"].endswith(f"/api/problems/{code}")


@pytest.mark.django_db
def test_type_of_an_actual_problem_resolves(client):
    problem = json.loads(client.get("/api/v1/organisations/", {"kind": "kingdom"}).content)

    response = client.get(problem["type"].removeprefix(settings.PUBLIC_URL))

    assert response.json()["title"] == problem["title"]
    assert response.json()["status"] == 400


def test_unknown_problem_type_is_a_404_problem(client):
    response = client.get("/api/problems/no-such-problem")

    assert_problem(response, 404, "not-found")
