"""/api/v1/journal/: inclusion proofs of journal entries and the public keys that sign the seals."""

import uuid

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from platform_core.api.errors import PROBLEM_CONTENT_TYPE, problem_response
from platform_core.api.schema import ProblemSerializer
from protection.models import SigningKey
from protection.signing import ALGORITHM
from protection.verification import NOT_SEALED_RETRY_AFTER, EntryNotSealed, entry_proof_for_user

_DATETIME_HELP = _("Date UTC au format AAAA-MM-JJTHH:MM:SS.ffffffZ.")


class ProofEntrySerializer(serializers.Serializer):
    """Champs d'une entrée du journal (voir protection/canonical.py)."""

    id = serializers.IntegerField(help_text=_("Numéro d'ordre de l'entrée dans le journal."))
    public_id = serializers.UUIDField(help_text=_("Identifiant public de l'entrée."))
    occurred_at = serializers.CharField(help_text=_DATETIME_HELP)
    event_type = serializers.CharField(help_text=_("Type d'évènement."))
    actor_type = serializers.CharField(help_text=_("Type d'acteur (user, organisation, client, system)."))
    actor_id = serializers.CharField(help_text=_("Identifiant public de l'acteur, ou chaîne vide."))
    actor_label = serializers.CharField(help_text=_("Libellé de l'acteur."))
    organisation_id = serializers.CharField(help_text=_("Organisation concernée, ou chaîne vide."))
    subject = serializers.CharField(help_text=_("Pseudonyme de la personne concernée, ou chaîne vide."))
    purpose = serializers.CharField(help_text=_("Finalité."))
    contract = serializers.CharField(help_text=_("Habilitation, ou chaîne vide."))
    outcome = serializers.CharField(help_text=_("Résultat."))
    request_id = serializers.CharField(help_text=_("Identifiant de la requête à l'origine de l'entrée."))
    data = serializers.DictField(help_text=_("Données de l'évènement."))
    deferred_disclosure_until = serializers.CharField(allow_null=True, help_text=_DATETIME_HELP)


class ProofSealSerializer(serializers.Serializer):
    """Sceau signé d'un lot d'entrées du journal."""

    batch_number = serializers.IntegerField(help_text=_("Numéro du lot scellé."))
    first_entry_id = serializers.IntegerField(help_text=_("Première entrée du lot."))
    last_entry_id = serializers.IntegerField(help_text=_("Dernière entrée du lot."))
    entry_count = serializers.IntegerField(help_text=_("Nombre d'entrées du lot."))
    merkle_root = serializers.CharField(help_text=_("Racine de Merkle (RFC 6962), hexadécimal."))
    previous_seal_hash = serializers.CharField(
        help_text=_("Empreinte du sceau du lot précédent (vide pour le premier lot).")
    )
    key_id = serializers.CharField(help_text=_("Clé de signature."))
    sealed_at = serializers.CharField(help_text=_DATETIME_HELP)
    seal_hash = serializers.CharField(
        help_text=_("SHA-256 (hexadécimal) du JSON canonique des huit champs précédents.")
    )
    signature = serializers.CharField(help_text=_("Signature Ed25519 (base64) de ce même JSON canonique."))


class EntryProofApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        entry = ProofEntrySerializer(help_text=_("Les membres canoniques de l'entrée."))
        canonical = serializers.CharField(help_text=_("Sérialisation canonique exacte de l'entrée."))
        leaf_hash = serializers.CharField(help_text=_("SHA-256(0x00 ‖ canonique), hexadécimal."))
        leaf_index = serializers.IntegerField(
            help_text=_("Position de l'entrée dans son lot (à partir de 0).")
        )
        tree_size = serializers.IntegerField(help_text=_("Nombre d'entrées du lot."))
        audit_path = serializers.ListField(
            child=serializers.CharField(), help_text=_("Chemin d'audit RFC 6962, empreintes hexadécimales.")
        )
        seal = ProofSealSerializer(help_text=_("Le sceau du lot, signé."))
        key_id = serializers.CharField(help_text=_("Clé qui a signé le sceau."))
        public_key = serializers.CharField(help_text=_("Clé publique Ed25519 (32 octets, base64)."))

    @extend_schema(
        operation_id="journal_entry_proof",
        summary=_("Obtenir la preuve d'inclusion d'une entrée du journal"),
        description=_(
            "Preuve qu'une entrée du journal figure dans un lot scellé : l'entrée et sa sérialisation "
            "canonique, son chemin d'audit (RFC 6962) jusqu'à la racine de Merkle du lot, le sceau "
            "signé (Ed25519) et la clé publique. Vérifiable hors ligne avec "
            "« python -m protection.proof preuve.json ». Réservé aux personnes qui peuvent voir "
            "l'entrée ; une entrée inconnue ou invisible donne une 404. Une entrée pas encore scellée "
            "donne une 409 avec l'en-tête Retry-After."
        ),
        parameters=[
            OpenApiParameter(
                "public_id",
                OpenApiTypes.UUID,
                OpenApiParameter.PATH,
                description=_("Identifiant public de l'entrée."),
            ),
            OpenApiParameter(
                "Retry-After",
                OpenApiTypes.INT,
                OpenApiParameter.HEADER,
                response=[409],
                description=_("Délai en secondes avant de réessayer."),
            ),
        ],
        responses={
            200: OutputSerializer,
            (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                response=ProblemSerializer,
                description=_(
                    "L'entrée n'est pas encore scellée (réessayez après le délai indiqué par Retry-After), "
                    "ou elle ne correspond plus à son sceau (journal-entry-altered)."
                ),
            ),
        },
    )
    def get(self, request, public_id: str):
        try:
            public_id = uuid.UUID(public_id)
        except ValueError:
            raise Http404 from None
        try:
            proof = entry_proof_for_user(request.user, public_id)
        except EntryNotSealed as error:
            return problem_response(
                request,
                error.status,
                error.code,
                error.detail,
                title=error.title,
                headers={"Retry-After": str(NOT_SEALED_RETRY_AFTER)},
            )
        return Response(proof)


class SigningKeyListApi(APIView):
    permission_classes = [permissions.AllowAny]

    class OutputSerializer(serializers.Serializer):
        key_id = serializers.CharField(help_text=_("Identifiant de la clé, nommé par chaque sceau."))
        algorithm = serializers.SerializerMethodField(help_text=_("Toujours « Ed25519 »."))
        public_key = serializers.CharField(help_text=_("Clé publique brute (32 octets), en base64."))
        created_at = serializers.DateTimeField(help_text=_("Date de publication."))
        retired_at = serializers.DateTimeField(
            allow_null=True, help_text=_("Date à laquelle la clé a cessé de signer, ou null.")
        )

        def get_algorithm(self, key) -> str:
            return ALGORITHM

    @extend_schema(
        operation_id="journal_keys_list",
        summary=_("Lister les clés publiques de scellement du journal"),
        description=_(
            "Clés publiques Ed25519 qui signent les sceaux du journal, y compris les clés retirées "
            "(les anciens sceaux restent vérifiables). Public."
        ),
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request):
        keys = SigningKey.objects.order_by("created_at", "key_id")
        return Response(self.OutputSerializer(keys, many=True).data)
