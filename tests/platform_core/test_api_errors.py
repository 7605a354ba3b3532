"""Every error under /api/ is application/problem+json (RFC 9457), whatever raised it.

Errors no production endpoint raises on demand (a crash, a throttle, a nested validation error...)
come from the small views below, mounted next to the real routes for the tests marked with
``pytest.mark.urls(__name__)``.
"""

import json

import pytest
from django.db import OperationalError
from django.http import Http404, HttpResponse
from django.urls import path
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from platform_core import urls as platform_urls
from platform_core.exceptions import DomainError
from tests.factories import UserFactory
from tests.problems import assert_problem
from tests.servers import free_port

# --- Views that raise on demand ---------------------------------------------------------------


class QuotaExceeded(DomainError):
    code = "test-quota-exceeded"
    status = 409
    title = "Quota dépassé"


class ContactSerializer(serializers.Serializer):
    email = serializers.EmailField()


class NestedInputApi(APIView):
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField()
        contacts = ContactSerializer(many=True)

        def validate(self, attrs):
            raise serializers.ValidationError("Ensemble incohérent.", code="inconsistent")

    def post(self, request):
        self.InputSerializer(data=request.data).is_valid(raise_exception=True)
        return Response({})


class CrashingApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("secret internals: password=hunter2")


class DatabaseLostApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise OperationalError("server closed the connection unexpectedly")


class DomainErrorApi(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        raise QuotaExceeded(
            "Quota mensuel atteint.", errors=[{"field": "items", "code": "too_many", "message": "Trop."}]
        )


class DjangoNotFoundApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise Http404("internal detail")


class AlwaysThrottled(BaseThrottle):
    def allow_request(self, request, view):
        return False

    def wait(self):
        return 42.3


class ThrottledApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [AlwaysThrottled]

    def get(self, request):
        return Response({})


class RefusingAuthentication(BaseAuthentication):
    def authenticate(self, request):
        raise AuthenticationFailed("Jeton révoqué.")

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class AuthenticationFailingApi(APIView):
    authentication_classes = [RefusingAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({})


class MultipartApi(APIView):
    permission_classes = [AllowAny]
    parser_classes = [MultiPartParser]

    def post(self, request):
        return Response({"keys": sorted(request.data)})


def plain_crashing_view(request):
    raise RuntimeError("secret internals")


def plain_not_found_view(request):
    raise Http404("internal detail")


def plain_form_view(request):
    return HttpResponse(",".join(sorted(request.POST)))


urlpatterns = [
    path("api/v1/test/nested", NestedInputApi.as_view()),
    path("api/v1/test/crash", CrashingApi.as_view()),
    path("api/v1/test/database-lost", DatabaseLostApi.as_view()),
    path("api/v1/test/domain", DomainErrorApi.as_view()),
    path("api/v1/test/not-found", DjangoNotFoundApi.as_view()),
    path("api/v1/test/throttled", ThrottledApi.as_view()),
    path("api/v1/test/authentication", AuthenticationFailingApi.as_view()),
    path("api/v1/test/multipart", MultipartApi.as_view()),
    path("api/test/plain/crash", plain_crashing_view),
    path("api/test/plain/not-found", plain_not_found_view),
    path("api/test/plain/form", plain_form_view),
    *platform_urls.urlpatterns,
]
handler400 = platform_urls.handler400
handler403 = platform_urls.handler403
handler404 = platform_urls.handler404
handler500 = platform_urls.handler500

with_test_views = pytest.mark.urls(__name__)


@pytest.fixture
def staff_client(api_client):
    api_client.force_login(UserFactory(staff=True))
    return api_client


# --- 400 ----------------------------------------------------------------------------------------


@with_test_views
def test_nested_validation_errors_are_flattened_with_dotted_paths(api_client):
    # given contacts where the second email is wrong and a missing name
    payload = {"contacts": [{"email": "a@example.gouv.fr"}, {"email": "pas-un-courriel"}]}

    # when
    response = api_client.post("/api/v1/test/nested", payload, format="json")

    # then
    body = assert_problem(response, 400, "validation-error")
    assert {(error["field"], error["code"]) for error in body["errors"]} == {
        ("name", "required"),
        ("contacts.1.email", "invalid"),
    }


@with_test_views
def test_non_field_errors_have_a_null_field(api_client):
    response = api_client.post(
        "/api/v1/test/nested", {"name": "x", "contacts": [{"email": "a@example.gouv.fr"}]}, format="json"
    )

    body = assert_problem(response, 400, "validation-error")
    assert body["errors"] == [{"field": None, "code": "inconsistent", "message": "Ensemble incohérent."}]


@pytest.mark.django_db
def test_malformed_json_is_a_400_problem(staff_client):
    response = staff_client.post("/api/v1/organisations/", '{"name": "x",', content_type="application/json")

    body = assert_problem(response, 400, "malformed-request")
    assert body["errors"] == []


# --- 401 / 403 ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_write_is_a_401_problem_with_www_authenticate(api_client):
    response = api_client.post("/api/v1/organisations/", {}, format="json")

    assert_problem(response, 401, "not-authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@with_test_views
def test_refused_credentials_are_a_401_problem(api_client):
    response = api_client.get("/api/v1/test/authentication")

    body = assert_problem(response, 401, "authentication-failed")
    assert body["detail"] == "Jeton révoqué."
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.django_db
def test_missing_rights_are_a_403_problem(api_client):
    api_client.force_login(UserFactory())  # an agent, not platform staff

    response = api_client.post("/api/v1/organisations/", {}, format="json")

    assert_problem(response, 403, "permission-denied")


@pytest.mark.django_db
def test_session_write_without_csrf_token_is_a_csrf_problem():
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(UserFactory(staff=True))

    response = client.post("/api/v1/organisations/", {}, format="json")

    assert_problem(response, 403, "csrf-failed")


@with_test_views
@pytest.mark.django_db
def test_csrf_failure_of_a_plain_view_under_api_is_a_403_problem():
    client = APIClient(enforce_csrf_checks=True)

    response = client.post("/api/test/plain/form", {"a": "1"})

    # CSRF_FAILURE_VIEW (platform_core.views.errors) answers through problem_response under /api/.
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content)["request_id"] == response["X-Request-ID"]


# --- 404 / 405 / 406 / 415 ----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/", "/api/nowhere", "/api/v1/nowhere/", "/api/v9/organisations/"])
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_api_routes_are_404_problems(client, url, method):
    response = getattr(client, method)(url)

    assert_problem(response, 404, "not-found")


@with_test_views
@pytest.mark.parametrize("url", ["/api/v1/test/not-found", "/api/test/plain/not-found"])
def test_django_http404_is_a_404_problem_without_its_internal_message(client, url):
    response = client.get(url)

    body = assert_problem(response, 404, "not-found")
    assert "internal detail" not in response.content.decode()
    assert body["errors"] == []


@pytest.mark.django_db
def test_wrong_method_is_a_405_problem_with_allow(staff_client):
    response = staff_client.delete("/api/v1/organisations/")

    assert_problem(response, 405, "method-not-allowed")
    assert {method.strip() for method in response["Allow"].split(",")} >= {"GET", "POST"}


@pytest.mark.django_db
def test_unavailable_response_format_is_a_406_problem(api_client):
    response = api_client.get("/api/v1/organisations/", HTTP_ACCEPT="text/html")

    assert_problem(response, 406, "not-acceptable")


@pytest.mark.django_db
def test_form_body_is_a_415_problem(staff_client):
    response = staff_client.post("/api/v1/organisations/", {"name": "x"})  # multipart, not JSON

    assert_problem(response, 415, "unsupported-media-type")


# --- 409 (domain) / 413 / 429 / 500 -------------------------------------------------------------


@with_test_views
def test_domain_errors_keep_their_code_status_title_and_errors(api_client):
    response = api_client.post("/api/v1/test/domain", {}, format="json")

    body = assert_problem(response, 409, "test-quota-exceeded")
    assert body["title"] == "Quota dépassé"
    assert body["detail"] == "Quota mensuel atteint."
    assert body["errors"] == [{"field": "items", "code": "too_many", "message": "Trop."}]


@pytest.fixture
def small_body_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    return 1024


@pytest.mark.django_db
def test_oversized_json_body_is_a_413_problem_before_authentication(api_client, small_body_limit):
    payload = {"name": "x" * 2 * small_body_limit}

    response = api_client.post("/api/v1/organisations/", payload, format="json")

    body = assert_problem(response, 413, "request-too-large")
    assert str(small_body_limit) in body["detail"]


@with_test_views
@pytest.mark.parametrize("url", ["/api/v1/test/multipart", "/api/test/plain/form"])
def test_oversized_form_field_read_lazily_is_a_413_problem(client, small_body_limit, url):
    # given a multipart body: its length is not checked up front (files may be large), but Django's
    # parser raises RequestDataTooBig when the view reads an oversized field
    response = client.post(url, {"field": "x" * 2 * small_body_limit})

    assert_problem(response, 413, "request-too-large")


@with_test_views
def test_multipart_within_the_limit_is_accepted(client, small_body_limit):
    response = client.post("/api/v1/test/multipart", {"field": "x"})

    assert response.status_code == 200
    assert response.json() == {"keys": ["field"]}


@with_test_views
def test_throttled_request_is_a_429_problem_with_retry_after(api_client):
    response = api_client.get("/api/v1/test/throttled")

    assert_problem(response, 429, "throttled")
    assert response["Retry-After"] == "43"  # whole seconds, rounded up


@with_test_views
@pytest.mark.parametrize("url", ["/api/v1/test/crash", "/api/test/plain/crash"])
def test_unhandled_exception_is_a_500_problem_logged_with_the_request_id(client, log_lines, url):
    # when a view crashes
    response = client.get(url, HTTP_X_REQUEST_ID="crash-1")

    # then the caller gets a problem without internals
    body = assert_problem(response, 500, "server-error")
    assert body["request_id"] == "crash-1"
    assert "secret" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    # and the traceback is logged under the request id (django.request adds a line of its own)
    errors = [line for line in log_lines() if line["level"] == "ERROR"]
    assert {line["request_id"] for line in errors} == {"crash-1"}
    tracebacks = [line["exception"] for line in errors if "exception" in line]
    assert len(tracebacks) == 1
    assert "RuntimeError: secret internals" in tracebacks[0]


@with_test_views
def test_a_database_out_of_reach_is_a_503_problem_with_retry_after_logged(client, log_lines):
    response = client.get("/api/v1/test/database-lost", HTTP_X_REQUEST_ID="db-lost-1")

    body = assert_problem(response, 503, "service-unavailable")
    assert response["Retry-After"] == "5"
    assert "closed" not in response.content.decode()  # no internals
    errors = [line for line in log_lines() if line["level"] == "ERROR" and "exception" in line]
    assert body["request_id"] == "db-lost-1" and [line["request_id"] for line in errors] == ["db-lost-1"]
    assert "OperationalError" in errors[0]["exception"]


def test_redis_out_of_reach_is_a_503_problem_for_the_api_and_the_gateway(client, settings):
    # given the cache (quotas included) on a Redis address where nothing listens
    settings.CACHES = {"default": {"BACKEND": "platform_core.cache.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}}  # fmt: skip

    # when a client calls an API view (DRF's throttle) and the gateway (its own quota)
    answers = [client.get("/api/v1/organisations/"),
               client.get("/api/v1/gateway/caf/v1/x", HTTP_AUTHORIZATION="Bearer t")]  # fmt: skip

    # then both are 503 problems the client may send again, not 500s
    for answer in answers:
        assert_problem(answer, 503, "service-unavailable")
        assert answer["Retry-After"] == "5"


def test_problem_response_is_public_for_the_html_error_handlers(rf):
    from platform_core.api.errors import problem_response

    request = rf.get("/api/whatever")

    response = problem_response(request, 503)

    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content)["type"].endswith("/api/problems/service-unavailable")
