"""Placeholder — replaced by the problem+json handler."""

from rest_framework.views import exception_handler


def problem_exception_handler(exc, context):
    return exception_handler(exc, context)


def api_not_found(request, *args, **kwargs):
    from django.http import JsonResponse

    return JsonResponse({"status": 404}, status=404)  # placeholder
