"""Error pages: DSFR HTML pages for the portal, problem+json (RFC 9457) under /api/.

Wired as handler400/403/404/500 in platform_core.urls and as CSRF_FAILURE_VIEW.
"""

import logging
from http import HTTPStatus

from django.http import HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import requires_csrf_token

from platform_core.api.errors import problem_response
from platform_core.context_processors import platform_context

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"

PAGES = {
    400: {
        "title": _("Requête incorrecte"),
        "lead": _("Le serveur n'a pas pu comprendre votre demande."),
        "explanation": _(
            "La requête envoyée est incomplète ou mal formée. Revenez à la page précédente et "
            "réessayez ; si le problème persiste, contactez-nous."
        ),
        "pictogram": "system/warning",
    },
    403: {
        "title": _("Accès refusé"),
        "lead": _("Vous n'avez pas l'autorisation d'accéder à cette page."),
        "explanation": _(
            "Cette page est réservée à certaines personnes ou organisations. Si vous pensez y avoir "
            "droit, connectez-vous avec le bon compte ou demandez l'accès à l'administrateur de "
            "votre organisation."
        ),
        "pictogram": "system/padlock",
    },
    404: {
        "title": _("Page non trouvée"),
        "lead": _("La page que vous cherchez est introuvable. Excusez-nous pour la gêne occasionnée."),
        "explanation": _(
            "Si vous avez tapé l'adresse web dans le navigateur, vérifiez qu'elle est correcte. La "
            "page n'est peut-être plus disponible. Dans ce cas, pour continuer votre visite, vous "
            "pouvez consulter notre page d'accueil."
        ),
        "pictogram": "system/technical-error",
    },
    500: {
        "title": _("Erreur inattendue"),
        "lead": _(
            "Désolé, le service rencontre un problème, nous travaillons pour le résoudre le plus vite "
            "possible."
        ),
        "explanation": _(
            "Essayez de rafraîchir la page ou bien réessayez plus tard. Si le problème persiste, "
            "contactez-nous en précisant l'heure de l'erreur."
        ),
        "pictogram": "system/technical-error",
    },
}

CSRF_PAGE = {
    **PAGES[403],
    "title": _("Session expirée"),
    "lead": _("Le formulaire n'a pas pu être envoyé car votre session a expiré."),
    "explanation": _(
        "Pour votre sécurité, les formulaires ne sont valables qu'un temps limité et nécessitent "
        "l'acceptation des cookies. Rechargez la page puis envoyez à nouveau le formulaire."
    ),
}

# Last resort when even the template cannot be rendered: no template, no translation.
BARE_500 = (
    '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Erreur 500 — Maillage</title></head>'
    "<body><h1>Erreur inattendue</h1><p>Erreur 500. Réessayez plus tard.</p>"
    '<p><a href="/">Page d\'accueil</a></p></body></html>'
)


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def _problem(request, status: int, code: str | None = None, detail: str | None = None) -> HttpResponse:
    return problem_response(request, status, code, detail)


def _bare_problem(status: int) -> HttpResponse:
    """The last resort when even problem_response failed: nothing here can raise."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    return JsonResponse(body, status=status, content_type="application/problem+json")


def _page(request, status: int, page: dict) -> HttpResponse:
    return render(request, "errors/error.html", {"status": status, **page}, status=status)


@requires_csrf_token
def bad_request(request, exception=None):
    if _is_api(request):
        return _problem(request, 400)
    return _page(request, 400, PAGES[400])


@requires_csrf_token
def permission_denied(request, exception=None):
    if _is_api(request):
        return _problem(request, 403)
    return _page(request, 403, PAGES[403])


@requires_csrf_token
def page_not_found(request, exception=None):
    if _is_api(request):
        return _problem(request, 404)
    return _page(request, 404, PAGES[404])


def csrf_failure(request, reason=""):
    if _is_api(request):
        return _problem(request, 403, "csrf-failed", str(_("Jeton CSRF absent ou invalide.")))
    return _page(request, 403, CSRF_PAGE)


def server_error(request):
    """Render without context processors: the database or a processor may be what failed."""
    if _is_api(request):
        try:
            return _problem(request, 500)
        except Exception:  # the last handler standing must answer something
            logger.exception("problem+json rendering failed for a server error")
            return _bare_problem(500)
    try:
        context = {
            **platform_context(request.path),
            "request": request,  # for the CSP nonce of the DSFR scripts
            "status": 500,
            **PAGES[500],
        }
        html = loader.get_template("errors/error.html").render(context)
    except Exception:
        logger.exception("the 500 page could not be rendered")
        html = BARE_500
    return HttpResponseServerError(html)
