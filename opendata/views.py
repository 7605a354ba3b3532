"""The public statistics page (/statistiques).

Every figure comes from opendata.selectors, the reads the open-data API publishes: each view of the page
is one StatsQuery derived from the visitor's filters, and links to the API's CSV and JSON of that very
query, so the page, its downloads and the API agree cell for cell, secret cells included.
"""

import dataclasses
import json
from datetime import date
from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from opendata import selectors
from platform_core.exceptions import DomainError
from platform_core.geography import DEPARTEMENT_NAMES, REGION_NAMES, REGION_OF_DEPARTEMENT

# The rankings show the busiest rows; the whole list is in their downloads.
RANKING_SIZE = 10
# What the rankings and the identity-provider share count.
SERVICE_METRIC = "sign_ins"
API_METRIC = "exchanges"
IDENTITY_PROVIDER_METRIC = "sign_ins"
# The time series' default step, by length of the period: a readable number of points.
DAILY_UP_TO_DAYS = 92
WEEKLY_UP_TO_DAYS = 2 * 366

# dsfr-chart's maps name régions by their ISO 3166-2 letters (overseas ones by their département's code),
# not by their INSEE code.
MAP_REGION_CODES = {
    "01": "971",
    "02": "972",
    "03": "973",
    "04": "974",
    "06": "976",
    "11": "IDF",
    "24": "CVL",
    "27": "BFC",
    "28": "NOR",
    "32": "HDF",
    "44": "GES",
    "52": "PDL",
    "53": "BRE",
    "75": "NAQ",
    "76": "OCC",
    "84": "ARA",
    "93": "PAC",
    "94": "20R",
}

OVERSEAS_REGIONS = {"01", "02", "03", "04", "06"}

GRANULARITY_LABELS = {
    "day": gettext_lazy("jour"),
    "week": gettext_lazy("semaine"),
    "month": gettext_lazy("mois"),
}
# The page's filters by the API's parameter names, which parse_query's errors name.
FIELD_LABELS = {
    "from": gettext_lazy("Du"),
    "to": gettext_lazy("Au"),
    "granularity": gettext_lazy("Pas de temps"),
    "metric": gettext_lazy("Type d'activité"),
    "region": gettext_lazy("Région"),
    "departement": gettext_lazy("Département"),
}


def statistics(request):
    with selectors.one_version():  # one query for the version of all its tables
        return _statistics(request)


def _statistics(request):
    errors = []
    try:
        query = selectors.parse_query(request.GET)
    except DomainError as error:
        # A readable page rather than an error page: the default figures under an alert naming the
        # refused filters, the form still showing what was typed so that it can be corrected.
        errors = [
            {**item, "field_label": FIELD_LABELS.get(item.get("field"), "")}
            for item in (error.errors or [{"message": error.detail}])
        ]
        query = selectors.parse_query({})
    views = _views(query)
    context = {
        "query": query,
        "errors": errors,
        "form": _form(request, query, errors),
        "period": _period_label(query),
        "region_name": REGION_NAMES.get(query.region or "", ""),
        "departement_name": DEPARTEMENT_NAMES.get(query.departement or "", ""),
        "evolution_metric": _metric_name(query),
        "granularity_label": GRANULARITY_LABELS[views["evolution"]["query"].granularity],
        "national_url": _page_url(query, region=None, departement=None),
        "key_figures": _key_figures(query),
        "views": views,
        "rankings": [views["services"], views["apis"]],
        "charts": [view["chart"] for view in views.values() if view["chart"]],
        "downloads": list(views.values()),
        "threshold": views["types"]["result"].threshold,
        "openness": _openness(),
        "files": _files(query),
        "breadcrumb_data": {"current": _("Statistiques")},
    }
    return render(request, "opendata/statistics.html", context, status=400 if errors else 200)


def warm_landing_page() -> None:
    """Compute (hence cache, opendata/selectors.py) the tables of /statistiques without filters in every
    language: most visitors open that page, and after an aggregation run none of them waits for it."""
    for language, _name in settings.LANGUAGES:
        with translation.override(language), selectors.one_version():
            query = selectors.parse_query({})
            _views(query)
            _key_figures(query)


# --- The views: one StatsQuery each ------------------------------------------------------------------


def _views(query) -> dict:
    views = {
        "evolution": _view(
            "evolution",
            _("Évolution dans le temps"),
            query,
            group_by=() if query.metric else ("metric",),
            granularity=query.granularity or _default_granularity(query),
        ),
        "types": _view(
            "types", _("Répartition par type d'activité"), query, metric=None, group_by=("metric",)
        ),
        "identity_providers": _view(
            "fournisseurs-identite",
            _("Connexions par fournisseur d'identité"),
            query,
            metric=IDENTITY_PROVIDER_METRIC,
            group_by=("identity_provider",),
        ),
    }
    region = query.region or REGION_OF_DEPARTEMENT.get(query.departement or "", "")
    if region:
        # Drilled down: the région's départements, on dsfr-chart's map of one région; all of them even
        # when one is chosen, the map being where one compares it with its neighbours.
        views["departements"] = _view(
            "carte-departements",
            _("Par département : %(region)s") % {"region": REGION_NAMES[region]},
            query,
            region=region,
            departement=None,
            group_by=("departement",),
        )
        views["departements"]["region"] = region
    else:
        views["regions"] = _view("carte-regions", _("Par région"), query, group_by=("region",))
        views["departements"] = _view(
            "carte-departements", _("Par département"), query, group_by=("departement",)
        )
    views["services"] = _view(
        "classement-services",
        _("Services en ligne les plus utilisés (connexions)"),
        query,
        metric=SERVICE_METRIC,
        group_by=("service",),
    )
    views["apis"] = _view(
        "classement-api", _("API les plus appelées (échanges)"), query, metric=API_METRIC, group_by=("api",)
    )
    _add_charts(views, query)
    return views


def _view(view_id: str, title: str, base, **changes) -> dict:
    changes.setdefault("granularity", None)
    query = dataclasses.replace(base, **changes)
    result = selectors.run(query)
    dimension = query.group_by[0] if query.group_by else ""
    params = urlencode(query.as_params())
    return {
        "id": view_id,
        "table_id": f"{view_id}-table",
        "title": title,
        "query": query,
        "result": result,
        "dimension": dimension,
        "heading": selectors.DIMENSIONS.get(dimension, ""),
        # The page reads rows by one name whatever the dimension: "code" and "label".
        "rows": [
            {**row, "code": row.get(dimension, ""), "label": _label(dimension, row)} for row in result.rows
        ],
        "json": reverse("api-opendata-stats") + "?" + params,
        "csv": reverse("api-opendata-stats-csv") + "?" + params,
    }


def _label(dimension: str, row: dict) -> str:
    label = row.get(f"{dimension}_label", "")
    # Départements go by name and number, as people look them up.
    return f"{label} ({row[dimension]})" if dimension == "departement" and row[dimension] else label


def _default_granularity(query) -> str:
    days = (query.date_to - query.date_from).days + 1
    return "day" if days <= DAILY_UP_TO_DAYS else "week" if days <= WEEKLY_UP_TO_DAYS else "month"


def _ranked(rows: list[dict]) -> list[dict]:
    """Largest first; secret cells last (where they stand would hint at their size), then by name."""
    return sorted(rows, key=lambda row: (row["suppressed"], -(row["value"] or 0), str(row["label"])))


def _page_url(query, **changes) -> str:
    """This page's address for the query's filters (a view's group-by is not a filter of the page)."""
    params = dataclasses.replace(query, group_by=(), **changes).as_params()
    return reverse("opendata:statistics") + ("?" + urlencode(params) if params else "")


# --- Charts: each one an element of @gouvfr/dsfr-chart and its attributes --------------------------


def _add_charts(views: dict, query) -> None:
    evolution = views["evolution"]
    if query.metric:
        periods = [row["period"] for row in evolution["rows"]]
        names = [_metric_name(query)]
        cells = [[row] for row in evolution["rows"]]
    else:
        periods, names, cells = _pivot(evolution["rows"])
    evolution["series"] = names
    evolution["table_rows"] = [
        {"period": period, "period_label": _date_label(period), "cells": cells[index]}
        for index, period in enumerate(periods)
    ]
    # A secret cell is a gap in its line (null), never a zero. Nothing to draw, no chart: the table says so.
    evolution["chart"] = (
        _chart(
            "evolution",
            "line-chart",
            x=[[_date_label(period) for period in periods]] * len(names),
            y=[[row[column]["value"] for row in cells] for column in range(len(names))],
            name=names,
            selected_palette="categorical" if len(names) > 1 else "default",
        )
        if periods
        else None
    )

    rank = {code: index for index, code in enumerate(selectors.METRICS)}
    views["types"]["rows"].sort(key=lambda row: rank.get(row["code"], len(rank)))
    views["types"]["chart"] = _bar_chart("types", views["types"]["rows"], _("Nombre"))

    providers = views["identity_providers"]
    shown = _visible(providers["rows"])
    providers["chart"] = (
        _chart(
            "fournisseurs-identite",
            "pie-chart",
            x=[[row["label"] for row in shown]],
            y=[[row["value"] for row in shown]],
            name=[row["label"] for row in shown],
            fill="true",
            selected_palette="categorical",
        )
        if shown
        else None
    )

    metric_name = _metric_name(query)
    departements = views["departements"]
    if "regions" in views:
        regions = views["regions"]
        for row in regions["rows"]:
            row["url"] = _page_url(query, region=row["code"], departement=None) + "#carte"
        regions["chart"] = _map_chart(
            "carte-regions", "map-chart", regions, metric_name, areas=REGION_NAMES, level="reg"
        )
        # The région map drills down to the same address as the région's row in the table.
        regions["chart"]["drill"] = {
            MAP_REGION_CODES[row["code"]]: row["url"]
            for row in regions["rows"]
            if row["code"] in MAP_REGION_CODES
        }
        departements["chart"] = _map_chart(
            "carte-departements", "map-chart", departements, metric_name, areas=DEPARTEMENT_NAMES, level="dep"
        )
    elif departements["region"] in OVERSEAS_REGIONS:
        # map-chart-reg draws mainland régions only; an overseas one is its département's inset.
        departements["chart"] = _map_chart(
            "carte-departements", "map-chart", departements, metric_name, areas=DEPARTEMENT_NAMES, level="dep"
        )
    else:
        departements["chart"] = _map_chart(
            "carte-departements",
            "map-chart-reg",
            departements,
            metric_name,
            # Every département: map-chart-reg hides those it has a value for outside the région.
            areas=DEPARTEMENT_NAMES,
            region=MAP_REGION_CODES[departements["region"]],
        )

    for key in ("services", "apis"):
        view = views[key]
        view["ranked"] = _ranked(view["rows"])[:RANKING_SIZE]
        view["chart"] = _bar_chart(view["id"], view["ranked"], str(selectors.METRICS[view["query"].metric]))


def _pivot(rows: list[dict]):
    """Rows of (period, metric) as one column per metric over the periods. A cell the statistics do not
    hold counted nothing: 0 (the daily table stores no empty cell)."""
    periods = sorted({row["period"] for row in rows})
    names = {}
    by_cell = {}
    for row in rows:
        names.setdefault(row["code"], row["label"] or row["code"])
        by_cell[(row["period"], row["code"])] = row
    codes = [code for code in selectors.METRICS if code in names]
    zero = {"value": 0, "suppressed": False}
    cells = [[by_cell.get((period, code), zero) for code in codes] for period in periods]
    return periods, [names[code] for code in codes], cells


def _visible(rows: list[dict]) -> list[dict]:
    """The cells a chart can draw: a secret cell has no value to draw; its table says why."""
    return [row for row in rows if not row["suppressed"] and row["value"] is not None]


def _bar_chart(chart_id: str, rows: list[dict], name: str) -> dict | None:
    shown = _visible(rows)
    if not shown:
        return None
    return _chart(
        chart_id,
        "bar-chart",
        x=[[row["label"] for row in shown]],
        y=[[row["value"] for row in shown]],
        name=[name],
        horizontal="true",
        selected_palette="default",
    )


def _map_chart(chart_id: str, tag: str, view: dict, metric_name: str, *, areas, **attrs) -> dict:
    """A map of ``areas`` (their codes): an area without a row counted nothing and is drawn as 0; a
    secret one is left out, so dsfr-chart leaves it uncoloured (statistiques.css greys it)."""
    codes = MAP_REGION_CODES if view["dimension"] == "region" else {}
    data = {codes.get(code, code): 0 for code in areas}
    for row in view["rows"]:
        code = codes.get(row["code"], row["code"])
        if row["suppressed"] or row["value"] is None:
            data.pop(code, None)
        elif code:
            data[code] = row["value"]
    total = view["result"].total
    return _chart(
        chart_id,
        tag,
        data=data,
        value="" if total is None else str(total),
        name=metric_name,
        date=_period_label(view["query"]),
        selected_palette="sequentialAscending",
        **attrs,
    )


def _chart(chart_id: str, tag: str, **attrs) -> dict:
    """A chart for static/js/statistiques.js, published with json_script: its element and attributes,
    lists and dicts as the JSON text dsfr-chart parses."""
    return {
        "id": chart_id,
        "script_id": f"{chart_id}-chart",
        "tag": tag,
        "drill": {},
        "attrs": {
            name.replace("_", "-"): value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            for name, value in attrs.items()
        },
    }


# --- Key figures, files, labels, the filter form ---------------------------------------------------


def _key_figures(query) -> list[dict]:
    figures = []
    for figure in selectors.key_figures(query.date_from, query.date_to):
        trend = figure["trend_percent"]
        figures.append(
            {
                **figure,
                "previous": {"value": figure["previous_value"], "suppressed": figure["previous_suppressed"]},
                "direction": "" if trend is None else "up" if trend > 0 else "down" if trend < 0 else "flat",
                "trend_label": "" if trend is None else f"{number_format(abs(trend), 1)} %",
            }
        )
    return figures


def _files(query) -> dict:
    """The open data beyond the page's views: reference files, whatever the filters."""
    key_figures = urlencode({"from": query.date_from.isoformat(), "to": query.date_to.isoformat()})
    return {
        "key_figures": reverse("api-opendata-key-figures") + "?" + key_figures,
        "organisations_json": reverse("api-opendata-organisations"),
        "organisations_csv": reverse("api-opendata-organisations-csv"),
        "seals_json": reverse("api-opendata-seals"),
        "seals_csv": reverse("api-opendata-seals-csv"),
        "schema": reverse("api-opendata-schema"),
        "catalog": reverse("api-opendata-catalog"),
        "api_docs": reverse("api-docs"),
    }


def _openness() -> dict:
    """The openness figures, each table's rows with one "label" (a role and kind row names both)."""
    openness = selectors.openness()
    tables = [
        ("ouverture-roles", _("Organisations par rôle"), _("Rôle"), openness["by_role"], ("role",)),
        (
            "ouverture-natures",
            _("Organisations par rôle et par nature"),
            _("Rôle et nature"),
            openness["by_role_and_kind"],
            ("role", "organisation_kind"),
        ),
        ("ouverture-regions", _("Organisations par région"), _("Région"), openness["by_region"], ("region",)),
        (
            "ouverture-departements",
            _("Organisations par département"),
            _("Département"),
            openness["by_departement"],
            ("departement",),
        ),
    ]
    openness["tables"] = [
        {
            "id": table_id,
            "caption": caption,
            "heading": heading,
            "rows": [{**row, "label": " — ".join(row[f"{key}_label"] for key in keys)} for row in rows],
        }
        for table_id, caption, heading, rows, keys in tables
    ]
    return openness


def _metric_name(query) -> str:
    return str(selectors.METRICS[query.metric]) if query.metric else _("Toutes activités")


def _period_label(query) -> str:
    return _("du %(start)s au %(end)s") % {
        "start": date_format(query.date_from, "j F Y"),
        "end": date_format(query.date_to, "j F Y"),
    }


def _date_label(value: str) -> str:
    return date_format(date.fromisoformat(value), "SHORT_DATE_FORMAT")


def _form(request, query, errors) -> dict:
    """The filters as asked (even refused, to be corrected), their choices and their errors."""
    by_field: dict[str, list[str]] = {}
    for error in errors:
        field = error.get("field") if error.get("field") in FIELD_LABELS else "other"
        by_field.setdefault(field, []).append(error.get("message") or error.get("code") or "")
    asked = request.GET

    def value(name: str, current: str) -> str:
        return asked.get(name, "") if name in asked else current

    return {
        "from": value("from", query.date_from.isoformat()),
        "to": value("to", query.date_to.isoformat()),
        "granularity": value("granularity", query.granularity or ""),
        "metric": value("metric", query.metric or ""),
        "region": value("region", query.region or ""),
        "departement": value("departement", query.departement or ""),
        "metrics": [(code, str(label)) for code, label in selectors.METRICS.items()],
        "granularities": [(code, GRANULARITY_LABELS[code]) for code in selectors.GRANULARITIES],
        "regions": sorted(REGION_NAMES.items(), key=lambda item: item[1]),
        "departements": [(code, f"{code} — {name}") for code, name in DEPARTEMENT_NAMES.items()],
        "errors": by_field,
    }
