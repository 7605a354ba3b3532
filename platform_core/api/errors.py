"""Every error under /api/ is application/problem+json (RFC 9457).

Three entry points build the same body through ``problem_response``:
- ``problem_exception_handler``: DRF's exception handler (validation, auth, parsing, domain errors...);
- ``platform_core.middleware.RequestIdMiddleware``: what escapes any view under /api/ (500, 413...);
- the views below: unknown /api/ routes and the problem-type documentation.
The HTML error handlers and CSRF_FAILURE_VIEW (platform_core.views.errors) call ``problem_response``
for /api/ paths too.
"""

import json

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

from platform_core.api.authentication import CsrfFailed
from platform_core.api.problems import code_for_status, get_problem_type, problem_type_uri, problem_types
from platform_core.exceptions import DomainError
from platform_core.logging import request_id_var

PROBLEM_CONTENT_TYPE = "application/problem+json"
API_PREFIX = "/api/"


def is_api_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def problem_response(
    request: HttpRequest,
    status: int,
    code: str | None = None,
    detail: str | None = None,
    *,
    title: str | None = None,
    errors: list[dict] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """A problem+json response; ``code`` defaults to the generic problem type of ``status``."""
    code = code or code_for_status(status)
    problem_type = get_problem_type(code)
    if title is None:
        title = problem_type.title if problem_type else _("Erreur")
    if detail is None:
        detail = problem_type.description if problem_type else title
    body = {
        "type": problem_type_uri(code),
        "title": str(title),
        "status": status,
        "detail": str(detail),
        "instance": request.path,
        "request_id": getattr(request, "request_id", None) or request_id_var.get(),
        "errors": [_field_error(error) for error in errors or []],
    }
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )
    # Clients and caches must not store error bodies meant for one request.
    response["Cache-Control"] = "no-store"
    return response


def _field_error(error: dict) -> dict:
    field = error.get("field")
    return {
        "field": None if field in (None, "", api_settings.NON_FIELD_ERRORS_KEY) else str(field),
        "code": str(error.get("code") or "invalid"),
        "message": str(error.get("message", "")),
    }


def flatten_validation_errors(detail, path: str = "") -> list[dict]:
    """DRF's nested error structure as a flat list; fields are dotted paths like ``contacts.0.email``."""
    if isinstance(detail, dict):
        return [
            error
            for key, value in detail.items()
            for error in flatten_validation_errors(
                value, path if key == api_settings.NON_FIELD_ERRORS_KEY else _join(path, key)
            )
        ]
    if isinstance(detail, list):
        # A list holds either the messages of one field or, for many=True, one entry per item.
        return [
            error
            for index, item in enumerate(detail)
            for error in flatten_validation_errors(
                item, _join(path, index) if isinstance(item, dict | list) else path
            )
        ]
    return [
        {"field": path or None, "code": getattr(detail, "code", None) or "invalid", "message": str(detail)}
    ]


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


# DRF exceptions whose problem type is more precise than the generic one of their status.
_DRF_CODES = [
    (exceptions.ValidationError, "validation-error"),
    (exceptions.ParseError, "malformed-request"),
    (exceptions.NotAuthenticated, "not-authenticated"),
    (exceptions.AuthenticationFailed, "authentication-failed"),
    (CsrfFailed, "csrf-failed"),
]


def problem_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER. Returns None for unexpected errors: the middleware turns them into a 500."""
    request = context["request"]
    if isinstance(exc, DomainError):
        set_rollback()
        return problem_response(request, exc.status, exc.code, exc.detail, title=exc.title, errors=exc.errors)
    if isinstance(exc, RequestDataTooBig):
        return request_too_large(request)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None

    set_rollback()
    headers = {}
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    if wait := getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(wait))
    code = next((code for kind, code in _DRF_CODES if isinstance(exc, kind)), None)
    errors = []
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_validation_errors(exc.detail)
        detail = _("Les données envoyées ne sont pas valides.")
    else:
        detail = str(exc.detail)
    # DRF turns a 401 into a 403 when no authenticator can name a scheme: keep its status, not ours.
    if code and (problem_type := get_problem_type(code)) and problem_type.status != exc.status_code:
        code = None
    return problem_response(request, exc.status_code, code, detail, errors=errors, headers=headers)


def request_too_large(request: HttpRequest) -> HttpResponse:
    return problem_response(
        request,
        413,
        "request-too-large",
        _("Le corps de la requête dépasse la taille maximale de %(limit)d octets.")
        % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
    )


@csrf_exempt  # nothing here acts on a request: a POST to a wrong address deserves a 404, not a 403
def api_not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """Every /api/ address no route claims."""
    return problem_response(
        request, 404, "not-found", _("Aucune ressource de l'API ne correspond à cette adresse.")
    )


def problem_type_list(request: HttpRequest) -> HttpResponse:
    types = sorted(problem_types().values(), key=lambda problem: (problem.status or 999, problem.code))
    return JsonResponse(
        {"problems": [problem.as_json() for problem in types]}, json_dumps_params={"ensure_ascii": False}
    )


def problem_type_detail(request: HttpRequest, code: str) -> HttpResponse:
    problem_type = get_problem_type(code)
    if problem_type is None:
        return problem_response(request, 404, "not-found", _("Type de problème inconnu : %s.") % code)
    return JsonResponse(problem_type.as_json(), json_dumps_params={"ensure_ascii": False})
