"""OpenAPI: the Problem component and the error responses of every operation."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.openapi import AutoSchema
from rest_framework import permissions, serializers

from platform_core.api.errors import PROBLEM_CONTENT_TYPE


class PlatformSessionScheme(SessionScheme):
    """Registers the platform's session authentication (a subclass) as a cookie scheme."""

    target_class = "platform_core.api.authentication.SessionAuthentication"


class ProblemFieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(
        allow_null=True,
        help_text=_("Chemin pointé du champ en cause (par exemple « contacts.0.email »), null si global."),
    )
    code = serializers.CharField(help_text=_("Code stable de l'erreur (par exemple « required »)."))
    message = serializers.CharField(help_text=_("Message lisible, en français."))


# The docstring is the component's description in the published schema, hence in French.
class ProblemSerializer(serializers.Serializer):
    """Détail d'un problème (RFC 9457) : la forme de toute erreur de l'API (application/problem+json)."""

    type = serializers.URLField(help_text=_("URI stable du type de problème ; elle le documente."))
    title = serializers.CharField(help_text=_("Résumé du type de problème."))
    status = serializers.IntegerField(help_text=_("Code de statut HTTP."))
    detail = serializers.CharField(help_text=_("Explication propre à cette occurrence."))
    instance = serializers.CharField(help_text=_("Chemin de la requête en cause."))
    request_id = serializers.CharField(help_text=_("Identifiant de la requête (en-tête X-Request-ID)."))
    errors = ProblemFieldErrorSerializer(many=True, help_text=_("Erreurs par champ ; vide sinon."))


_DESCRIPTIONS = {
    400: _("Requête invalide : données ou paramètres refusés (détail par champ dans « errors »)."),
    401: _("Authentification requise ou refusée."),
    403: _("Accès refusé."),
    404: _("Ressource ou page introuvable."),
    405: _("Méthode non autorisée."),
    413: _("Corps de requête trop volumineux."),
    415: _("Type de contenu non pris en charge : envoyez du JSON."),
    429: _("Trop de requêtes."),
    500: _("Erreur interne ; à signaler avec le « request_id »."),
}
_HEADERS = {
    401: {"WWW-Authenticate": _("Schéma d'authentification attendu.")},
    405: {"Allow": _("Méthodes acceptées.")},
    429: {
        "Retry-After": _("Délai en secondes avant de réessayer."),
        "RateLimit-Limit": _("Quota de la fenêtre en cours."),
        "RateLimit-Remaining": _("Requêtes restantes dans la fenêtre (0)."),
        "RateLimit-Reset": _("Secondes avant la prochaine fenêtre."),
    },
}


class ProblemAutoSchema(AutoSchema):
    """Adds, on every operation, the problem+json responses it can actually return."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        problem = self.resolve_serializer(ProblemSerializer, "response").ref
        for status in sorted(self._problem_statuses(operation)):
            operation["responses"].setdefault(str(status), self._problem_response(status, problem))
        return operation

    def get_serializer_name(self, serializer, direction):
        """STYLE nests ``InputSerializer``/``OutputSerializer`` in each APIView: name their components
        after the view (``OrganisationCollectionApi.InputSerializer`` -> ``OrganisationCollectionInput``)
        so that views of different apps do not collide."""
        owner, _dot, name = type(serializer).__qualname__.rpartition(".")
        if not owner or "<locals>" in owner:
            return name
        return owner.rsplit(".", 1)[-1].removesuffix("Api").removesuffix("View") + name

    def _problem_statuses(self, operation: dict) -> set[int]:
        query = {
            parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "query"
        }
        has_body = "requestBody" in operation
        statuses = {500}
        if has_body or query:
            statuses.add(400)
        if has_body:
            statuses |= {413, 415}
        if not all(
            isinstance(permission, permissions.AllowAny) for permission in self.view.get_permissions()
        ):
            statuses |= {401, 403}
        if "{" in self.path or "page" in query:  # an unknown object, or a page past the end
            statuses.add(404)
        if self.view.get_throttles():
            statuses.add(429)
        return statuses

    def _problem_response(self, status: int, problem: dict) -> dict:
        response = {
            "description": str(_DESCRIPTIONS.get(status, "")),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": problem}},
        }
        if status in _HEADERS:
            response["headers"] = {
                name: {"schema": {"type": "string"}, "description": str(description)}
                for name, description in _HEADERS[status].items()
            }
        return response
