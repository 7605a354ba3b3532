"""The registry of problem types: every `type` URI an API error can carry is listed here.

HTTP-level problems are declared below; domain problems come from the ``DomainError``
subclasses themselves (their ``code``, ``status`` and ``title``), so an app that adds an
exception class adds its problem type without touching this module.
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from platform_core.exceptions import DomainError


@dataclass(frozen=True)
class ProblemType:
    code: str
    status: int | None  # None: any status
    title: str | Promise
    description: str | Promise

    def as_json(self) -> dict:
        return {
            "type": problem_type_uri(self.code),
            "code": self.code,
            "status": self.status,
            "title": str(self.title),
            "description": str(self.description),
        }


_HTTP_PROBLEMS = [
    ProblemType(
        "bad-request",
        400,
        _("Requête incorrecte"),
        _("La requête ne peut pas être traitée telle qu'elle a été envoyée."),
    ),
    ProblemType(
        "validation-error",
        400,
        _("Données invalides"),
        _(
            "Un ou plusieurs champs sont invalides : la liste « errors » nomme chaque champ "
            "(chemin pointé, par exemple « contacts.0.email ») avec un code et un message."
        ),
    ),
    ProblemType(
        "malformed-request",
        400,
        _("Requête mal formée"),
        _("Le corps de la requête n'a pas pu être lu (JSON mal formé, par exemple)."),
    ),
    ProblemType(
        "not-authenticated",
        401,
        _("Authentification requise"),
        _("Cette opération demande d'être authentifié : voir l'en-tête WWW-Authenticate."),
    ),
    ProblemType(
        "authentication-failed",
        401,
        _("Échec de l'authentification"),
        _("Les éléments d'authentification fournis ont été refusés."),
    ),
    ProblemType(
        "permission-denied",
        403,
        _("Accès refusé"),
        _("L'appelant est authentifié mais n'a pas le droit d'effectuer cette opération."),
    ),
    ProblemType(
        "csrf-failed",
        403,
        _("Vérification CSRF échouée"),
        _(
            "Une requête authentifiée par cookie de session doit porter le jeton CSRF ; "
            "les clients d'API utilisent plutôt un jeton OAuth 2.0."
        ),
    ),
    ProblemType(
        "not-found",
        404,
        _("Ressource introuvable"),
        _("Aucune ressource ne correspond à cette adresse (ou l'appelant ne peut pas la voir)."),
    ),
    ProblemType(
        "method-not-allowed",
        405,
        _("Méthode non autorisée"),
        _("Cette adresse n'accepte pas cette méthode HTTP : voir l'en-tête Allow."),
    ),
    ProblemType(
        "not-acceptable",
        406,
        _("Format de réponse non disponible"),
        _("Aucun des formats demandés dans l'en-tête Accept n'est disponible (l'API répond en JSON)."),
    ),
    ProblemType("conflict", 409, _("Conflit"), _("La requête entre en conflit avec l'état de la ressource.")),
    ProblemType(
        "request-too-large",
        413,
        _("Requête trop volumineuse"),
        _("Le corps de la requête dépasse la taille maximale acceptée par la plateforme."),
    ),
    ProblemType(
        "unsupported-media-type",
        415,
        _("Format de requête non pris en charge"),
        _("Le type de contenu envoyé n'est pas accepté : envoyez du JSON (application/json)."),
    ),
    ProblemType(
        "throttled",
        429,
        _("Trop de requêtes"),
        _("Le quota de requêtes est atteint : réessayez après le délai indiqué par l'en-tête Retry-After."),
    ),
    ProblemType(
        "server-error",
        500,
        _("Erreur interne"),
        _(
            "Une erreur inattendue s'est produite ; elle a été journalisée. "
            "Communiquez le « request_id » au support."
        ),
    ),
    ProblemType(
        "service-unavailable",
        503,
        _("Service indisponible"),
        _("Le service est momentanément indisponible ; réessayez plus tard."),
    ),
    ProblemType("http-error", None, _("Erreur HTTP"), _("Erreur HTTP sans sémantique particulière.")),
]
_HTTP_BY_CODE = {problem.code: problem for problem in _HTTP_PROBLEMS}
_CODE_OF_STATUS = {
    problem.status: problem.code
    for problem in reversed(_HTTP_PROBLEMS)  # reversed: the first code listed for a status wins
    if problem.status
}


def problem_type_uri(code: str) -> str:
    return f"{settings.PUBLIC_URL}/api/problems/{code}"


def code_for_status(status: int) -> str:
    return _CODE_OF_STATUS.get(status, "http-error")


def _domain_problems() -> dict[str, ProblemType]:
    found: dict[str, ProblemType] = {}
    pending = [DomainError]
    while pending:
        error_class = pending.pop()
        pending.extend(error_class.__subclasses__())
        description = getattr(error_class, "description", None) or error_class.title
        found.setdefault(
            error_class.code,
            ProblemType(error_class.code, error_class.status, error_class.title, description),
        )
    return found


def problem_types() -> dict[str, ProblemType]:
    """Every known problem type by code; the HTTP-level declaration wins when a domain error reuses a code."""
    return {**_domain_problems(), **_HTTP_BY_CODE}


def get_problem_type(code: str) -> ProblemType | None:
    return problem_types().get(code)
