"""DRF authentication classes. DRF imports these while rest_framework.views loads: never import it here."""

from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions


class CsrfFailed(exceptions.PermissionDenied):
    """A 403 of its own problem type (csrf-failed): the caller should use a token, not ask for rights."""

    default_code = "csrf_failed"


class SessionAuthentication(authentication.SessionAuthentication):
    def enforce_csrf(self, request):
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied:
            raise CsrfFailed(_("Vérification CSRF échouée : requête refusée.")) from None
