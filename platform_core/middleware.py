"""The platform's outermost middleware: request id for everything, problem+json boundary for /api/."""

import logging
import re
import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from platform_core.api.errors import is_api_request, problem_response, request_too_large
from platform_core.logging import request_id_var

REQUEST_ID_HEADER = "X-Request-ID"
# What a dependency out of reach raises: the database's connection, Redis's (cache, quotas).
UNAVAILABLE = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)
UNAVAILABLE_RETRY_AFTER = 5  # seconds
_ACCEPTED = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

logger = logging.getLogger("platform_core.api")


class RequestIdMiddleware:
    """Tags each request with an id (X-Request-ID, accepted when well-formed) echoed on the response
    and carried by every log line; under /api/, also turns what escapes the views into problem+json.

    The two jobs share one class because both must run first: the id before anything logs, the body
    size check before anything reads the body.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _ACCEPTED.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            if is_api_request(request) and _declares_too_large_body(request):
                response = request_too_large(request)
            else:
                response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response

    def process_exception(self, request, exception):
        """Exceptions of views under /api/ that DRF's handler left alone (or of plain Django views)."""
        if not is_api_request(request):
            return None
        if isinstance(exception, RequestDataTooBig):
            return request_too_large(request)
        if isinstance(exception, Http404):
            return problem_response(request, 404, "not-found")
        if isinstance(exception, PermissionDenied):
            return problem_response(request, 403, "permission-denied")
        if isinstance(exception, SuspiciousOperation):
            logging.getLogger(f"django.security.{exception.__class__.__name__}").error(str(exception))
            return problem_response(request, 400, "bad-request")
        if isinstance(exception, UNAVAILABLE):
            # PostgreSQL or Redis out of reach (restart, failover, overload): the client's request was fine
            # and may be sent again, which a 503 with Retry-After says and a 500 does not.
            logger.error("Service unavailable on %s %s", request.method, request.path, exc_info=exception,
                         extra={"status_code": 503})  # fmt: skip
            return problem_response(
                request, 503, "service-unavailable", headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)}
            )
        logger.error(
            "Unhandled exception on %s %s",
            request.method,
            request.path,
            exc_info=exception,
            extra={"status_code": 500},
        )
        return problem_response(request, 500, "server-error")


def _declares_too_large_body(request) -> bool:
    """Refuse on the declared length, before any parser reads the body.

    DRF's JSON parser reads the stream without Django's DATA_UPLOAD_MAX_MEMORY_SIZE check. Multipart
    bodies are left to Django's parser, which applies that limit to fields and not to uploaded files.
    """
    if request.content_type == "multipart/form-data":
        return False
    limit = settings.API_BODY_LIMITS.get(request.path_info, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return limit is not None and length > limit
