"""OpenAPI 3 schema at /api/schema/ and Swagger UI at /api/docs/: public, valid, errors documented."""

import re

import pytest
from django.core.management import call_command

from tests.problems import PROBLEM_KEYS


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_schema_is_valid_openapi_without_warnings(tmp_path):
    # the command validates against the OpenAPI 3 JSON schema and fails on any generator warning
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert (tmp_path / "schema.yaml").read_text(encoding="utf-8").startswith("openapi: 3.")


def test_schema_is_public_and_has_the_problem_component(schema):
    assert schema["openapi"].startswith("3.")
    problem = schema["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == PROBLEM_KEYS
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/ProblemFieldError"}


def test_every_operation_has_a_french_summary_and_its_error_responses(schema):
    found = list(operations(schema))
    assert found
    for path, method, operation in found:
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)
        assert "500" in operation["responses"], (method, path)
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert response["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }, (method, path, status)


def test_error_responses_match_what_each_operation_can_return(schema):
    organisations = schema["paths"]["/api/v1/organisations/"]
    detail = schema["paths"]["/api/v1/organisations/{public_id}"]

    assert set(organisations["get"]["responses"]) == {"200", "400", "404", "429", "500"}
    assert set(organisations["post"]["responses"]) == {"201", "400", "401", "403", "413", "415", "429", "500"}
    assert set(detail["get"]["responses"]) == {"200", "404", "429", "500"}
    assert "WWW-Authenticate" in organisations["post"]["responses"]["401"]["headers"]
    assert organisations["get"]["summary"] == "Lister les organisations"


def test_list_operation_documents_pagination_and_filters(schema):
    operation = schema["paths"]["/api/v1/organisations/"]["get"]

    assert {parameter["name"] for parameter in operation["parameters"]} == {
        "kind",
        "departement",
        "region",
        "q",
        "page",
        "page_size",
    }
    page = schema["components"]["schemas"]["OrganisationPage"]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}


def test_swagger_ui_is_public_served_from_sidecar_assets_without_inline_script(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    # A strict Content-Security-Policy forbids inline scripts: the start-up script is a file.
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    script_url = re.search(r'<script src="(/api/docs/\?script=[^"]*)"', html)[1]
    script = client.get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200
    assert "/api/schema/" in script.content.decode()
