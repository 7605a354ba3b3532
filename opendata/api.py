"""/api/v1/opendata/: the public statistics as open data (JSON and CSV), their data dictionary, their DCAT
record and the journal's daily seals. Anonymous, rate-limited (group "opendata"), cacheable.

CSV: ask for ``…/stats.csv`` (or ``?format=csv``); UTF-8 without BOM, comma, CRLF, a header row whose
columns are described by ``schema.json``; a suppressed cell has an empty ``value`` and ``suppressed`` true.
"""

import csv
import io

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from opendata import metadata, selectors
from opendata.models import AggregationState

CACHE_CONTROL = "public, max-age=300"


class CsvRenderer(BaseRenderer):
    """Renders ``{"columns": [...], "rows": [{...}]}`` as CSV (the views hand it exactly that)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if not isinstance(data, dict) or "columns" not in data:  # not expected: errors are problem+json
            return b""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(data["columns"]), extrasaction="ignore")
        writer.writeheader()
        for row in data["rows"]:
            writer.writerow(
                {
                    key: ("true" if value else "false")
                    if isinstance(value, bool)
                    else ("" if value is None else value)
                    for key, value in row.items()
                }
            )
        return buffer.getvalue().encode("utf-8")


class OpenDataApi(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []  # public: no session or token is looked at
    throttle_scope = "opendata"
    renderer_classes = [JSONRenderer]
    csv_filename = ""

    def wants_csv(self, request) -> bool:
        return getattr(request.accepted_renderer, "format", "") == "csv"

    def respond(self, request, payload: dict, columns, rows) -> Response:
        if self.wants_csv(request):
            response = Response({"columns": columns, "rows": rows})
            response["Content-Disposition"] = f'attachment; filename="{self.csv_filename}"'
        else:
            response = Response(payload)
        response["Cache-Control"] = CACHE_CONTROL
        return response


def _aggregated_until() -> str | None:
    state = AggregationState.objects.filter(name="journal").first()
    return state.updated_at.isoformat() if state else None


_LICENCE = {"title": metadata.LICENCE_TITLE, "url": metadata.LICENCE_URL}
_STATS_PARAMETERS = [
    OpenApiParameter(
        "metric", str, description=_("Indicateur : %(values)s.") % {"values": ", ".join(selectors.METRICS)}
    ),
    OpenApiParameter(
        "group_by",
        str,
        description=_("Regroupements séparés par des virgules (deux au plus) parmi : %(values)s.")
        % {"values": ", ".join(selectors.DIMENSIONS)},
    ),
    OpenApiParameter(
        "from", OpenApiTypes.DATE, description=_("Premier jour (par défaut : 90 jours avant « to »).")
    ),
    OpenApiParameter(
        "to", OpenApiTypes.DATE, description=_("Dernier jour, au plus aujourd'hui (par défaut).")
    ),
    OpenApiParameter(
        "granularity",
        str,
        enum=list(selectors.GRANULARITIES),
        description=_("Série dans le temps : une ligne par jour, semaine (lundi) ou mois."),
    ),
    OpenApiParameter("departement", str, description=_("Code INSEE du département (23, 2A, 971…).")),
    OpenApiParameter("region", str, description=_("Code INSEE de la région (75, 11…).")),
]


class StatsRowSerializer(serializers.Serializer):
    period = serializers.DateField(required=False, help_text=_("Début de la période (avec granularity)."))
    metric = serializers.CharField(required=False)
    metric_label = serializers.CharField(required=False)
    identity_provider = serializers.CharField(required=False)
    identity_provider_label = serializers.CharField(required=False)
    service = serializers.CharField(required=False)
    service_label = serializers.CharField(required=False)
    api = serializers.CharField(required=False)
    api_label = serializers.CharField(required=False)
    organisation_kind = serializers.CharField(required=False)
    organisation_kind_label = serializers.CharField(required=False)
    departement = serializers.CharField(required=False)
    departement_label = serializers.CharField(required=False)
    region = serializers.CharField(required=False)
    region_label = serializers.CharField(required=False)
    value = serializers.IntegerField(allow_null=True, help_text=_("Null sous secret statistique."))
    suppressed = serializers.BooleanField(help_text=_("Vrai quand la valeur est masquée."))


class LicenceSerializer(serializers.Serializer):
    title = serializers.CharField()
    url = serializers.URLField()


class StatsApi(OpenDataApi):
    renderer_classes = [JSONRenderer, CsvRenderer]
    csv_filename = "maillage-statistiques.csv"

    class OutputSerializer(serializers.Serializer):
        query = serializers.DictField(child=serializers.CharField(), help_text=_("Les paramètres retenus."))
        threshold = serializers.IntegerField(help_text=_("Seuil du secret statistique."))
        total = serializers.IntegerField(allow_null=True, help_text=_("Total de la sélection."))
        total_suppressed = serializers.BooleanField()
        columns = serializers.ListField(child=serializers.CharField())
        rows = StatsRowSerializer(many=True)
        aggregated_until = serializers.DateTimeField(allow_null=True)
        licence = LicenceSerializer()

    @extend_schema(
        operation_id="opendata_stats",
        summary=_("Obtenir des statistiques d'usage de la plateforme"),
        description=_(
            "Nombre de connexions, d'échanges de données, d'éléments traités par lot, d'habilitations, "
            "de paiements et de versements d'archives, sur une période, regroupés selon un ou deux "
            "critères et/ou par jour, semaine ou mois. Les cases de moins de « threshold » évènements, "
            "et celles qui permettraient de les recalculer à partir des totaux, valent null avec "
            "« suppressed » vrai (secret statistique). CSV : /api/v1/opendata/stats.csv avec les mêmes "
            "paramètres (colonnes décrites par schema.json). Licence Ouverte 2.0."
        ),
        parameters=_STATS_PARAMETERS,
        responses={
            200: OpenApiResponse(OutputSerializer, description=_("JSON, ou CSV (text/csv) avec .csv.")),
        },
    )
    def get(self, request, format=None):  # noqa: A002 - DRF's format suffix keyword
        query = selectors.parse_query(request.query_params)
        result = selectors.run(query)
        payload = {
            "query": query.as_params(),
            "threshold": result.threshold,
            "total": result.total,
            "total_suppressed": result.total_suppressed,
            "columns": list(result.columns),
            "rows": result.rows,
            "aggregated_until": _aggregated_until(),
            "licence": _LICENCE,
        }
        return self.respond(request, payload, result.columns, result.rows)


class KeyFiguresApi(OpenDataApi):
    class OutputSerializer(serializers.Serializer):
        metric = serializers.CharField()
        label = serializers.CharField()
        value = serializers.IntegerField(allow_null=True)
        suppressed = serializers.BooleanField()
        previous_value = serializers.IntegerField(allow_null=True)
        previous_suppressed = serializers.BooleanField()
        trend_percent = serializers.FloatField(allow_null=True, help_text=_("Évolution en %, ou null."))
        date_from = serializers.DateField()
        date_to = serializers.DateField()
        previous_from = serializers.DateField()
        previous_to = serializers.DateField()

    @extend_schema(
        operation_id="opendata_key_figures",
        summary=_("Obtenir les chiffres clés et leur évolution"),
        description=_(
            "Pour chaque indicateur : le total de la période, celui de la période de même durée qui la "
            "précède et l'évolution en pourcentage (null si l'une des deux valeurs est sous secret "
            "statistique ou nulle). Par défaut les 30 derniers jours."
        ),
        parameters=_STATS_PARAMETERS[2:4],
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request):
        query = selectors.parse_query(
            {name: request.query_params.get(name, "") for name in ("from", "to")}, default_days=30
        )
        figures = selectors.key_figures(query.date_from, query.date_to)
        response = Response(figures)
        response["Cache-Control"] = CACHE_CONTROL
        return response


class OpennessRowSerializer(serializers.Serializer):
    section = serializers.CharField()
    key = serializers.CharField()
    label = serializers.CharField()
    value = serializers.IntegerField(allow_null=True)
    suppressed = serializers.BooleanField()


class OrganisationsApi(OpenDataApi):
    renderer_classes = [JSONRenderer, CsvRenderer]
    csv_filename = "maillage-organisations.csv"
    CSV_COLUMNS = ("section", "key", "key_2", "label", "value", "suppressed")

    class OutputSerializer(serializers.Serializer):
        threshold = serializers.IntegerField()
        total = serializers.DictField()
        by_role = serializers.ListField(child=serializers.DictField())
        by_role_and_kind = serializers.ListField(child=serializers.DictField())
        by_departement = serializers.ListField(child=serializers.DictField())
        by_region = serializers.ListField(child=serializers.DictField())
        service_providers = serializers.ListField(child=serializers.DictField())
        apis = serializers.ListField(child=serializers.DictField())
        licence = LicenceSerializer()

    @extend_schema(
        operation_id="opendata_organisations",
        summary=_("Obtenir les organisations qui utilisent la plateforme"),
        description=_(
            "Nombre d'organisations fournisseurs de service, fournisseurs de données et utilisatrices "
            "de données, par nature et par département et région (secret statistique appliqué), et la "
            "liste publique des fournisseurs de service et des API. CSV : organisations.csv (une ligne "
            "par case : section, key, key_2, label, value, suppressed)."
        ),
        responses={200: OpenApiResponse(OutputSerializer, description=_("JSON, ou CSV avec .csv."))},
    )
    def get(self, request, format=None):  # noqa: A002 - DRF's format suffix keyword
        openness = selectors.openness()
        rows = [
            {"section": "total", "key": "", "key_2": "", "label": str(_("Toutes")), **openness["total"]},
            *(
                {"section": "role", "key": row["role"], "key_2": "", "label": row["role_label"],
                 "value": row["value"], "suppressed": row["suppressed"]}
                for row in openness["by_role"]
            ),
            *(
                {"section": "role_kind", "key": row["role"], "key_2": row["organisation_kind"],
                 "label": f"{row['role_label']} — {row['organisation_kind_label']}",
                 "value": row["value"], "suppressed": row["suppressed"]}
                for row in openness["by_role_and_kind"]
            ),
            *(
                {"section": "departement", "key": row["departement"], "key_2": "",
                 "label": row["departement_label"], "value": row["value"], "suppressed": row["suppressed"]}
                for row in openness["by_departement"]
            ),
            *(
                {"section": "region", "key": row["region"], "key_2": "", "label": row["region_label"],
                 "value": row["value"], "suppressed": row["suppressed"]}
                for row in openness["by_region"]
            ),
        ]  # fmt: skip
        return self.respond(request, {**openness, "licence": _LICENCE}, self.CSV_COLUMNS, rows)


class SealsApi(OpenDataApi):
    renderer_classes = [JSONRenderer, CsvRenderer]
    csv_filename = "maillage-sceaux.csv"

    class SealSerializer(serializers.Serializer):
        batch_number = serializers.IntegerField()
        first_entry_id = serializers.IntegerField()
        last_entry_id = serializers.IntegerField()
        entry_count = serializers.IntegerField()
        merkle_root = serializers.CharField(help_text=_("Racine de Merkle (RFC 6962), hexadécimal."))
        previous_seal_hash = serializers.CharField()
        key_id = serializers.CharField(help_text=_("Clé publique : /api/v1/journal/keys."))
        sealed_at = serializers.CharField()
        seal_hash = serializers.CharField()
        signature = serializers.CharField(help_text=_("Signature Ed25519 (base64)."))

    class OutputSerializer(serializers.Serializer):
        date = serializers.DateField()
        seals = serializers.ListField(child=serializers.DictField())
        keys_url = serializers.CharField()
        licence = LicenceSerializer()

    @extend_schema(
        operation_id="opendata_seals",
        summary=_("Obtenir les sceaux du journal d'un jour"),
        description=_(
            "Les sceaux signés du journal de transparence faits ce jour-là (heure de Paris) : racine de "
            "Merkle de chaque lot d'entrées, empreinte chaînée au sceau précédent, clé et signature "
            "Ed25519. Qui détient une preuve d'inclusion (/api/v1/journal/entries/{id}/proof) vérifie "
            "que son sceau est celui publié ici. CSV : seals.csv."
        ),
        parameters=[
            OpenApiParameter("date", OpenApiTypes.DATE, description=_("Le jour (par défaut : aujourd'hui)."))
        ],
        responses={200: OpenApiResponse(OutputSerializer, description=_("JSON, ou CSV avec .csv."))},
    )
    def get(self, request, format=None):  # noqa: A002 - DRF's format suffix keyword
        day = selectors.parse_day(request.query_params)
        seals = selectors.seals_of_day(day)
        payload = {
            "date": day.isoformat(),
            "seals": seals,
            "keys_url": "/api/v1/journal/keys",
            "licence": _LICENCE,
        }
        self.csv_filename = f"maillage-sceaux-{day.isoformat()}.csv"
        return self.respond(request, payload, selectors.SEAL_COLUMNS, seals)


class SchemaApi(OpenDataApi):
    @extend_schema(
        operation_id="opendata_schema",
        summary=_("Obtenir le dictionnaire des données des statistiques"),
        description=_(
            "Le schéma TableSchema (Frictionless Data) du fichier stats.csv : chaque colonne, son type, "
            "sa signification, le dialecte CSV et la licence."
        ),
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        response = Response(metadata.stats_table_schema())
        response["Cache-Control"] = CACHE_CONTROL
        return response


class CatalogApi(OpenDataApi):
    @extend_schema(
        operation_id="opendata_catalog",
        summary=_("Obtenir la fiche DCAT du jeu de données"),
        description=_(
            "La fiche du jeu de données au format DCAT (JSON-LD) : distributions CSV et JSON, licence "
            "Ouverte 2.0, producteur, couverture temporelle et fréquence de mise à jour, pour le "
            "moissonnage par data.gouv.fr ou tout catalogue DCAT."
        ),
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        response = Response(metadata.catalog_record())
        response["Cache-Control"] = CACHE_CONTROL
        return response


def _csv_variant(view: type[OpenDataApi], operation_id: str, summary) -> type[OpenDataApi]:
    """The same view at its .csv address, CSV only: its own operation in the OpenAPI schema."""
    variant = type(f"{view.__name__.removesuffix('Api')}CsvApi", (view,), {"renderer_classes": [CsvRenderer]})
    return extend_schema_view(
        get=extend_schema(
            operation_id=operation_id,
            summary=summary,
            responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=_("CSV UTF-8."))},
        )
    )(variant)


StatsCsvApi = _csv_variant(StatsApi, "opendata_stats_csv", _("Télécharger des statistiques d'usage en CSV"))
OrganisationsCsvApi = _csv_variant(
    OrganisationsApi, "opendata_organisations_csv", _("Télécharger les organisations utilisatrices en CSV")
)
SealsCsvApi = _csv_variant(
    SealsApi, "opendata_seals_csv", _("Télécharger les sceaux du journal d'un jour en CSV")
)
