"""What harvesters read about the open data: the data dictionary (Frictionless TableSchema) of the
statistics file and the DCAT record of the dataset (JSON-LD), for data.gouv.fr and any DCAT catalogue."""

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from opendata.aggregation import RULES
from opendata.models import AggregationState, Cuboid, DailyStat
from opendata.selectors import DIMENSIONS, GRANULARITIES, METRICS, SEAL_COLUMNS, threshold

LICENCE_URL = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
LICENCE_TITLE = "Licence Ouverte / Open Licence version 2.0"
CSV_DIALECT = {"delimiter": ",", "lineTerminator": "\r\n", "header": True, "doubleQuote": True}


def _url(name: str) -> str:
    return settings.PUBLIC_URL.rstrip("/") + reverse(name)


def stats_table_schema() -> dict:
    """TableSchema of /api/v1/opendata/stats.csv: every column any query can return, in order."""
    fields = [
        {
            "name": "period",
            "type": "date",
            "format": "%Y-%m-%d",
            "title": _("Début de la période"),
            "description": _(
                "Premier jour du jour, de la semaine (lundi) ou du mois compté ; présent quand "
                "« granularity » est donné (%(values)s)."
            )
            % {"values": ", ".join(GRANULARITIES)},
        }
    ]
    for dimension, label in DIMENSIONS.items():
        field = {
            "name": dimension,
            "type": "string",
            "title": str(label),
            "description": _(
                "Présent quand « group_by » le nomme ; chaîne vide : non renseigné ou sans objet."
            ),
        }
        if dimension == "metric":
            field["constraints"] = {"enum": list(METRICS)}
        fields.append(field)
        fields.append(
            {
                "name": f"{dimension}_label",
                "type": "string",
                "title": _("Libellé : %(label)s") % {"label": label},
                "description": _("Nom lisible de la valeur de la colonne « %(name)s ».")
                % {"name": dimension},
            }
        )
    fields += [
        {
            "name": "value",
            "type": "integer",
            "title": _("Nombre"),
            "description": _(
                "Nombre d'évènements ; vide quand la case est couverte par le secret statistique "
                "(moins de %(threshold)d, ou masquée pour qu'une case secrète ne puisse pas être recalculée)."
            )
            % {"threshold": threshold()},
            "constraints": {"minimum": 0},
        },
        {
            "name": "suppressed",
            "type": "boolean",
            "title": _("Secret statistique"),
            "trueValues": ["true"],
            "falseValues": ["false"],
            "description": _("« true » quand la valeur est masquée par le secret statistique."),
        },
    ]
    return {
        "$schema": "https://specs.frictionlessdata.io/schemas/table-schema.json",
        "name": "maillage-statistiques",
        "title": _("Statistiques d'usage de la plateforme Maillage"),
        "description": _(
            "Une ligne par case du tableau demandé (paramètres metric, group_by, from, to, granularity, "
            "departement, region). Colonnes présentes : « period » avec granularity, puis celles "
            "de chaque regroupement dans l'ordre de group_by (code, libellé), puis value et suppressed. "
            "Encodage UTF-8, séparateur virgule, fins de ligne CRLF."
        ),
        "fields": fields,
        "missingValues": [""],
        "metrics": [
            {
                "name": metric,
                "title": str(label),
                "events": sorted({r.event_type for r in RULES if r.metric == metric}),
            }
            for metric, label in METRICS.items()
        ],
        "dialect": CSV_DIALECT,
        "encoding": "utf-8",
        "licenses": [{"name": "etalab-2.0", "path": LICENCE_URL, "title": LICENCE_TITLE}],
    }


def seals_table_schema_fields() -> list[dict]:
    types = {"batch_number": "integer", "first_entry_id": "integer", "last_entry_id": "integer",
             "entry_count": "integer", "sealed_at": "datetime"}  # fmt: skip
    return [{"name": name, "type": types.get(name, "string")} for name in SEAL_COLUMNS]


def catalog_record() -> dict:
    """The dataset as a DCAT-AP record (JSON-LD): distributions, licence, publisher, coverage, frequency."""
    days = DailyStat.objects.filter(cuboid=Cuboid.STAR)
    first_day = days.order_by("day").values_list("day", flat=True).first()
    last_day = days.order_by("-day").values_list("day", flat=True).first()
    state = AggregationState.objects.filter(name="journal").first()
    publisher = {
        "@type": "foaf:Organization",
        "foaf:name": settings.OPENDATA_PUBLISHER_NAME,
        "foaf:homepage": settings.PUBLIC_URL,
    }
    licence = {"@id": LICENCE_URL, "dct:title": LICENCE_TITLE}

    def distribution(name: str, title: str, media_type: str, conforms_to: str | None = None) -> dict:
        item = {
            "@type": "dcat:Distribution",
            "dct:title": title,
            "dcat:accessURL": _url(name),
            "dcat:downloadURL": _url(name),
            "dcat:mediaType": media_type,
            "dct:format": media_type.split("/")[-1].upper(),
            "dct:license": licence,
        }
        if conforms_to:
            item["dct:conformsTo"] = {"@id": conforms_to}
        return item

    record = {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
        },
        "@id": _url("api-opendata-catalog"),
        "@type": "dcat:Dataset",
        "dct:identifier": "maillage-statistiques",
        "dct:title": _("Statistiques d'usage de la plateforme Maillage"),
        "dct:description": _(
            "Connexions aux services publics, échanges de données entre administrations, traitements par "
            "lot, habilitations, paiements et versements d'archives passés par la plateforme, par jour, "
            "type, fournisseur d'identité, service, API, nature d'organisation, département et région. "
            "Les petits effectifs sont couverts par le secret statistique. Inclut les sceaux quotidiens "
            "du journal de transparence."
        ),
        "dcat:keyword": [
            _("statistiques"),
            _("identité numérique"),
            _("échanges de données"),
            _("transparence"),
        ],
        "dct:language": {"@id": "http://publications.europa.eu/resource/authority/language/FRA"},
        "dct:publisher": publisher,
        "dct:license": licence,
        "dct:accrualPeriodicity": {"@id": "http://purl.org/cld/freq/daily"},
        "dct:spatial": {"@id": "http://publications.europa.eu/resource/authority/country/FRA"},
        "dcat:landingPage": settings.PUBLIC_URL.rstrip("/") + "/statistiques",
        "dcat:contactPoint": {"@type": "vcard:Organization", "vcard:fn": settings.OPENDATA_PUBLISHER_NAME},
        "dct:modified": state.updated_at.isoformat() if state else None,
        "dct:temporal": {
            "@type": "dct:PeriodOfTime",
            "dcat:startDate": first_day.isoformat() if first_day else None,
            "dcat:endDate": last_day.isoformat() if last_day else None,
        },
        "dcat:distribution": [
            distribution(
                "api-opendata-stats-csv", _("Statistiques (CSV)"), "text/csv", _url("api-opendata-schema")
            ),
            distribution("api-opendata-stats", _("Statistiques (JSON)"), "application/json"),
            distribution("api-opendata-key-figures", _("Chiffres clés (JSON)"), "application/json"),
            distribution(
                "api-opendata-organisations", _("Organisations utilisatrices (JSON)"), "application/json"
            ),
            distribution(
                "api-opendata-organisations-csv", _("Organisations utilisatrices (CSV)"), "text/csv"
            ),
            distribution("api-opendata-seals", _("Sceaux quotidiens du journal (JSON)"), "application/json"),
            distribution("api-opendata-seals-csv", _("Sceaux quotidiens du journal (CSV)"), "text/csv"),
            distribution(
                "api-opendata-schema", _("Dictionnaire des données (TableSchema)"), "application/json"
            ),
        ],
    }
    record["@context"]["vcard"] = "http://www.w3.org/2006/vcard/ns#"
    return record
