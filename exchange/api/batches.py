"""Batch transfers: submit a batch, follow it, download its results; manage the webhook secrets.

Authenticated like the gateway (exchange/gateway.py): a client-credentials bearer token of the
consumer's credential. A batch is visible to every credential of the organisation that submitted it;
to anyone else it does not exist (404).
"""

from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange import batches
from exchange.gateway import _credential_for
from exchange.models import BatchFormat, BatchStatus, WebhookStatus
from platform_core.api.schema import ProblemAutoSchema
from platform_core.exceptions import DomainError

FORMATS = {
    "application/x-ndjson": BatchFormat.JSONL,
    "application/jsonl": BatchFormat.JSONL,
    "application/json-lines": BatchFormat.JSONL,
    "text/csv": BatchFormat.CSV,
}


class BatchNotFound(DomainError):
    code = "batch-not-found"
    status = 404
    title = _("Lot introuvable")
    description = _("Aucun lot de votre organisation ne porte cet identifiant.")


class _CredentialSchema(ProblemAutoSchema):
    """The credential is checked by the view (as by the gateway), not by a DRF permission: its 401 and 403
    are declared here, with the view's own ``problem_statuses``."""

    def _problem_statuses(self, operation: dict) -> set[int]:
        return (
            super()._problem_statuses(operation)
            | {401, 403}
            | set(getattr(self.view, "problem_statuses", ()))
        )


class _CredentialApi(APIView):
    """The gateway's authentication: checked in the view, refusals as problem+json (401/403)."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_scope = "batches"
    schema = _CredentialSchema()

    def credential(self, request):
        credential, scopes = _credential_for(request)
        return credential, scopes

    def batch(self, request, public_id):
        credential, _scopes = self.credential(request)
        batch = batches.get_batch_for_credential(credential, public_id)
        if batch is None:
            raise BatchNotFound(str(BatchNotFound.description))
        return batch


class BatchLinksSerializer(serializers.Serializer):
    status = serializers.CharField(help_text=_("Adresse de l'état du lot."))
    results_jsonl = serializers.CharField(help_text=_("Résultats en JSON Lines."))
    results_csv = serializers.CharField(help_text=_("Résultats en CSV."))


class BatchWebhookSerializer(serializers.Serializer):
    url = serializers.CharField(help_text=_("Adresse de notification, ou chaîne vide."))
    status = serializers.ChoiceField(choices=WebhookStatus.choices, help_text=_("État de la notification."))
    attempts = serializers.IntegerField(help_text=_("Tentatives de remise."))


class BatchOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text=_("Identifiant du lot."))
    status = serializers.ChoiceField(choices=BatchStatus.choices, help_text=_("État du lot."))
    api = serializers.CharField(help_text=_("API appelée."))
    path = serializers.CharField(help_text=_("Opération appelée."))
    format = serializers.ChoiceField(choices=BatchFormat.choices, help_text=_("Format déposé."))
    total = serializers.IntegerField(help_text=_("Nombre d'éléments."))
    done = serializers.IntegerField(help_text=_("Éléments traités (réponse du fournisseur, 2xx ou 4xx)."))
    failed = serializers.IntegerField(help_text=_("Éléments en échec (fournisseur en panne, accès retiré)."))
    pending = serializers.IntegerField(help_text=_("Éléments restant à traiter."))
    percent = serializers.FloatField(help_text=_("Avancement, en pourcentage."))
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    webhook = BatchWebhookSerializer()
    links = BatchLinksSerializer()


def _links(request, batch) -> dict:
    def absolute(name):
        return request.build_absolute_uri(reverse(name, args=[batch.public_id]))

    return {
        "status": absolute("api-batch-detail"),
        "results_jsonl": absolute("api-batch-results-jsonl"),
        "results_csv": absolute("api-batch-results-csv"),
    }


def _output(request, batch) -> dict:
    return {
        "id": batch.public_id,
        "status": batch.status,
        "api": batch.api.slug,
        "path": batch.path,
        "format": batch.input_format,
        "total": batch.total,
        "done": batch.processed_count - batch.failed_count,
        "failed": batch.failed_count,
        "pending": batch.pending_count,
        "percent": batch.percent,
        "created_at": batch.created_at,
        "started_at": batch.started_at,
        "finished_at": batch.finished_at,
        "webhook": {
            "url": batch.webhook_url,
            "status": batch.webhook_status,
            "attempts": batch.webhook_attempts,
        },
        "links": _links(request, batch),
    }


_BATCH_ID = OpenApiParameter(
    "public_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description=_("Identifiant du lot.")
)


class BatchCollectionApi(_CredentialApi):
    problem_statuses = (409, 422)  # a webhook without a secret; an Idempotency-Key used for another body

    class QuerySerializer(serializers.Serializer):
        api = serializers.SlugField(help_text=_("Identifiant de l'API (celle de l'habilitation)."))
        path = serializers.CharField(
            max_length=300, help_text=_("Opération de l'API : v1/quotient-familial…")
        )
        recipient = serializers.CharField(max_length=20, help_text=_("SIRET destinataire des données."))
        purpose = serializers.CharField(max_length=64, help_text=_("Identifiant de l'habilitation."))
        webhook_url = serializers.CharField(
            required=False, allow_blank=True, max_length=500,
            help_text=_("Adresse https notifiée (POST signé) à la fin du lot."),
        )  # fmt: skip

    @extend_schema(
        operation_id="batches_create",
        summary=_("Déposer un lot"),
        description=_(
            "Le corps est une suite d'éléments, en JSON Lines (application/x-ndjson : un objet par ligne) ou "
            "en CSV (text/csv, une ligne d'en-tête) : les paramètres de l'API pour une personne (identité "
            "pivot nomNaissance, prenoms, dateNaissance, sexe, codeLieuNaissance, codePaysNaissance, et "
            "ceux de l'API comme annee et mois), avec un case_id facultatif ; 100 000 éléments au plus. "
            "L'en-tête Idempotency-Key est requis : la même clé avec la même requête renvoie le même lot."
        ),
        parameters=[
            QuerySerializer,
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description=_("Clé choisie par le client, unique par dépôt."),
            ),
        ],  # fmt: skip
        request={"application/x-ndjson": OpenApiTypes.STR, "text/csv": OpenApiTypes.STR},
        responses={202: BatchOutputSerializer},
    )
    def post(self, request):
        credential, scopes = self.credential(request)
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        input_format = FORMATS.get(request.content_type.split(";")[0].strip().lower())
        if input_format is None:
            from rest_framework.exceptions import UnsupportedMediaType

            raise UnsupportedMediaType(request.content_type)
        raw = request._request  # the Django request: its body is read as a stream, never whole
        submission = batches.batch_submit(
            credential=credential,
            scopes=scopes,
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
            input_format=input_format,
            lines=iter(raw.readline, b""),
            **{"webhook_url": "", **query.validated_data},
        )
        batch = submission.batch
        body = _output(request, batch)
        headers = {"Location": body["links"]["status"]}
        if not submission.created:
            headers["Idempotent-Replayed"] = "true"
        return Response(BatchOutputSerializer(body).data, status=202, headers=headers)


class BatchDetailApi(_CredentialApi):
    @extend_schema(
        operation_id="batches_retrieve",
        summary=_("Suivre un lot"),
        description=_("État, totaux et avancement d'un lot de votre organisation."),
        parameters=[_BATCH_ID],
        responses={200: BatchOutputSerializer},
    )
    def get(self, request, public_id):
        batch = self.batch(request, public_id)
        response = Response(BatchOutputSerializer(_output(request, batch)).data)
        response["Cache-Control"] = "no-store"
        return response


def _streamed(rows, content_type: str, filename: str):
    response = StreamingHttpResponse(rows, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


class BatchResultsJsonlApi(_CredentialApi):
    @extend_schema(
        operation_id="batches_results_jsonl",
        summary=_("Résultats d'un lot (JSON Lines)"),
        description=_(
            "Une ligne par élément, dans l'ordre du dépôt : line, case_id, status (pending, processing, "
            "done, failed), http_status, error et result (la réponse réduite aux champs accordés)."
        ),
        parameters=[_BATCH_ID],
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR},
    )
    def get(self, request, public_id):
        batch = self.batch(request, public_id)
        return _streamed(batches.results_jsonl(batch), "application/x-ndjson", f"lot-{batch.public_id}.jsonl")


class BatchResultsCsvApi(_CredentialApi):
    @extend_schema(
        operation_id="batches_results_csv",
        summary=_("Résultats d'un lot (CSV)"),
        description=_(
            "Une ligne par élément : line, case_id, status, http_status, error, puis une colonne par champ "
            "accordé (les valeurs composées en JSON)."
        ),
        parameters=[_BATCH_ID],
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request, public_id):
        batch = self.batch(request, public_id)
        return _streamed(batches.results_csv(batch), "text/csv; charset=utf-8", f"lot-{batch.public_id}.csv")


class WebhookSecretSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id", help_text=_("Identifiant du secret."))
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text=_("Fin de validité ; null : aucune."))


class WebhookSecretCreatedSerializer(WebhookSecretSerializer):
    secret = serializers.CharField(help_text=_("Le secret, montré cette seule fois."))


class WebhookSecretCollectionApi(_CredentialApi):
    class InputSerializer(serializers.Serializer):
        retire_others_in = serializers.IntegerField(
            required=False, min_value=0, max_value=30 * 86400, allow_null=True,
            help_text=_("Délai en secondes avant l'expiration des autres secrets (absent : ils restent)."),
        )  # fmt: skip

    @extend_schema(
        operation_id="batches_webhook_secrets_list",
        summary=_("Lister les secrets de notification"),
        description=_("Les secrets de notification de l'identifiant d'accès (jamais leur valeur)."),
        responses={200: WebhookSecretSerializer(many=True)},
    )
    def get(self, request):
        credential, _scopes = self.credential(request)
        return Response(WebhookSecretSerializer(credential.webhook_secrets.all(), many=True).data)

    @extend_schema(
        operation_id="batches_webhook_secrets_create",
        summary=_("Créer un secret de notification"),
        description=_(
            "Un nouveau secret pour vérifier les notifications (en-tête Maillage-Signature : un v1 par "
            "secret actif). Pour une rotation : créer le nouveau, l'installer, puis retirer l'ancien."
        ),
        request=InputSerializer,
        responses={201: WebhookSecretCreatedSerializer},
    )
    def post(self, request):
        credential, _scopes = self.credential(request)
        data = self.InputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        secret, value = batches.webhook_secret_create(
            credential=credential, retire_others_in=data.validated_data.get("retire_others_in")
        )
        output = {**WebhookSecretSerializer(secret).data, "secret": value}
        response = Response(output, status=201)
        response["Cache-Control"] = "no-store"
        return response


class WebhookSecretDetailApi(_CredentialApi):
    @extend_schema(
        operation_id="batches_webhook_secrets_destroy",
        summary=_("Retirer un secret de notification"),
        description=_("Le secret cesse aussitôt de signer les notifications."),
        parameters=[
            OpenApiParameter(
                "public_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description=_("Identifiant du secret.")
            )
        ],  # fmt: skip
        responses={204: None},
    )
    def delete(self, request, public_id):
        credential, _scopes = self.credential(request)
        if batches.webhook_secret_retire(credential=credential, public_id=public_id) is None:
            raise BatchNotFound(_g("Aucun secret de cet identifiant d'accès ne porte cet identifiant."))
        return Response(status=204)
