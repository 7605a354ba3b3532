"""Maillage's OpenID provider endpoints for service providers, under /api/v2 (FranceConnect v2 paths)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from identity import op_keys


class JwksApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes = []  # public, and never worth a session lookup

    @extend_schema(
        operation_id="oidc_jwks",
        summary=_("Clés publiques des jetons d'identité (JWKS)"),
        description=_(
            "Jeu de clés JSON (RFC 7517) qui vérifie les jetons d'identité et les réponses userinfo "
            "signés par Maillage : les clés actives (ES256, RS256) et celles retirées depuis peu, pour "
            "que les jetons émis juste avant une rotation restent vérifiables."
        ),
        responses={
            200: OpenApiResponse(description=_("Un objet JSON « keys » : la liste des clés publiques."))
        },
        tags=["OpenID Connect"],
    )
    def get(self, request):
        response = Response({"keys": op_keys.keyring().published()})
        response["Cache-Control"] = "public, max-age=300"
        return response
