"""The public statistics: every read the page, the API and the downloads make, disclosure control applied.

Nothing leaves this module unprotected: ``run``, ``key_figures`` and ``openness`` return cells where
small counts are already None with ``suppressed`` set (opendata/suppression.py).
"""

import contextlib
import contextvars
import hashlib
import itertools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import DateField, F, Func, Q, Sum
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from opendata.models import Cuboid, DailyStat, StatisticsVersion
from opendata.suppression import suppress
from platform_core.enums import OrganisationKind
from platform_core.exceptions import InvalidInput
from platform_core.geography import DEPARTEMENT_NAMES, REGION_NAMES, REGION_OF_DEPARTEMENT

METRICS: dict[str, str] = {
    "sign_ins": gettext_lazy("Connexions"),
    "exchanges": gettext_lazy("Échanges de données"),
    "batch_items": gettext_lazy("Éléments traités par lot"),
    "habilitations": gettext_lazy("Habilitations validées"),
    "payments": gettext_lazy("Paiements"),
    "archive_ingests": gettext_lazy("Versements d'archives"),
}
DIMENSIONS: dict[str, str] = {
    "metric": gettext_lazy("Indicateur"),
    "identity_provider": gettext_lazy("Fournisseur d'identité"),
    "service": gettext_lazy("Service en ligne"),
    "api": gettext_lazy("API"),
    "organisation_kind": gettext_lazy("Nature de l'organisation"),
    "departement": gettext_lazy("Département"),
    "region": gettext_lazy("Région"),
}
GRANULARITIES = ("day", "week", "month")
MAX_GROUP_BY = 2
MAX_RANGE_DAYS = 5 * 365 + 1  # five years, a leap day included
# Daily series across a dimension: at most a year of days (the table would hold ~100 × 366 rows).
MAX_DAILY_RANGE_WITH_DIMENSION = 366
MAX_DAILY_RANGE = 2 * 366
EARLIEST = date(2000, 1, 1)
NOT_SPECIFIED = gettext_lazy("Non renseigné")


class InvalidStatsQuery(InvalidInput):
    code = "invalid-stats-query"
    title = gettext_lazy("Requête de statistiques invalide")
    description = gettext_lazy(
        "Un ou plusieurs filtres sont invalides (indicateur, regroupement, période, département, "
        "région) : la liste « errors » nomme chaque paramètre avec un code et un message."
    )


@dataclass(frozen=True)
class StatsQuery:
    metric: str | None
    group_by: tuple[str, ...]
    date_from: date
    date_to: date
    granularity: str | None = None
    departement: str | None = None
    region: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The columns that identify a row: the period first when there is one."""
        return (("period",) if self.granularity else ()) + self.group_by

    def as_params(self) -> dict[str, str]:
        params = {
            "metric": self.metric or "",
            "group_by": ",".join(self.group_by),
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "granularity": self.granularity or "",
            "departement": self.departement or "",
            "region": self.region or "",
        }
        return {name: value for name, value in params.items() if value}


@dataclass(frozen=True)
class StatsResult:
    query: StatsQuery
    rows: list[dict]
    total: int | None
    total_suppressed: bool
    threshold: int
    columns: tuple[str, ...] = field(default=())


def threshold() -> int:
    return settings.OPENDATA_SUPPRESSION_THRESHOLD


def today() -> date:
    return timezone.localdate()


# --- Parsing -----------------------------------------------------------------------------------


def _parse_date(value: str, name: str, errors: list[dict]) -> date | None:
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or len(value) != 10:
        errors.append(
            {"field": name, "code": "invalid_date", "message": _("Date attendue au format AAAA-MM-JJ.")}
        )
        return None
    if parsed < EARLIEST:
        errors.append(
            {
                "field": name,
                "code": "date_too_early",
                "message": _("Les statistiques commencent le %(date)s.") % {"date": EARLIEST.isoformat()},
            }
        )
        return None
    return parsed


def parse_query(params: Mapping[str, str], *, default_days: int = 90) -> StatsQuery:
    """A StatsQuery from request parameters (all optional); InvalidStatsQuery naming every bad one."""
    errors: list[dict] = []

    def get(name: str) -> str:
        value = params.get(name) or ""
        return value.strip() if isinstance(value, str) else ""

    metric = get("metric") or None
    if metric is not None and metric not in METRICS:
        errors.append(
            {
                "field": "metric",
                "code": "unknown_metric",
                "message": _("Indicateur inconnu : %(value)s. Valeurs possibles : %(values)s.")
                % {"value": metric[:40], "values": ", ".join(METRICS)},
            }
        )
    group_by = tuple(part.strip() for part in get("group_by").split(",") if part.strip())
    unknown = [part for part in group_by if part not in DIMENSIONS]
    if unknown:
        errors.append(
            {
                "field": "group_by",
                "code": "unknown_dimension",
                "message": _("Regroupement inconnu : %(value)s. Valeurs possibles : %(values)s.")
                % {"value": ", ".join(part[:40] for part in unknown[:3]), "values": ", ".join(DIMENSIONS)},
            }
        )
    elif len(set(group_by)) != len(group_by):
        errors.append(
            {"field": "group_by", "code": "duplicate_dimension", "message": _("Regroupement répété.")}
        )
    elif len(group_by) > MAX_GROUP_BY:
        errors.append(
            {
                "field": "group_by",
                "code": "too_many_dimensions",
                "message": _("Au plus %(max)d regroupements.") % {"max": MAX_GROUP_BY},
            }
        )
    granularity = get("granularity") or None
    if granularity is not None and granularity not in GRANULARITIES:
        errors.append(
            {
                "field": "granularity",
                "code": "unknown_granularity",
                "message": _("Pas de temps inconnu : %(value)s. Valeurs possibles : %(values)s.")
                % {"value": granularity[:40], "values": ", ".join(GRANULARITIES)},
            }
        )
    elif granularity is not None and len(group_by) > 1:
        errors.append(
            {
                "field": "group_by",
                "code": "too_many_dimensions",
                "message": _("Une série dans le temps se regroupe selon un seul critère au plus."),
            }
        )
    departement = get("departement").upper() or None
    if departement is not None and departement not in DEPARTEMENT_NAMES:
        errors.append(
            {
                "field": "departement",
                "code": "unknown_departement",
                "message": _("Département inconnu : %(value)s (code INSEE attendu, par exemple 23 ou 2A).")
                % {"value": departement[:10]},
            }
        )
    region = get("region") or None
    if region is not None and region not in REGION_NAMES:
        errors.append(
            {
                "field": "region",
                "code": "unknown_region",
                "message": _("Région inconnue : %(value)s (code INSEE attendu, par exemple 75).")
                % {"value": region[:10]},
            }
        )
    if (
        departement in DEPARTEMENT_NAMES
        and region in REGION_NAMES
        and REGION_OF_DEPARTEMENT[departement] != region
    ):
        errors.append(
            {
                "field": "departement",
                "code": "departement_outside_region",
                "message": _("Le département %(dep)s n'est pas dans la région %(region)s.")
                % {"dep": departement, "region": region},
            }
        )

    current = today()
    date_to = _parse_date(get("to"), "to", errors) if get("to") else current
    date_from = (
        _parse_date(get("from"), "from", errors)
        if get("from")
        else (date_to or current) - timedelta(days=default_days - 1)
    )
    if date_to is not None and date_to > current:
        errors.append(
            {
                "field": "to",
                "code": "date_in_future",
                "message": _("La période ne peut pas dépasser aujourd'hui (%(today)s).")
                % {"today": current.isoformat()},
            }
        )
    if date_from is not None and date_to is not None:
        span = (date_to - date_from).days + 1
        if date_from > date_to:
            errors.append(
                {
                    "field": "from",
                    "code": "inverted_range",
                    "message": _("Le début de la période est après sa fin."),
                }
            )
        elif span > MAX_RANGE_DAYS:
            errors.append(
                {
                    "field": "from",
                    "code": "range_too_long",
                    "message": _("La période dépasse cinq ans : %(days)d jours.") % {"days": span},
                }
            )
        elif granularity == "day" and span > (
            MAX_DAILY_RANGE_WITH_DIMENSION if group_by else MAX_DAILY_RANGE
        ):
            errors.append(
                {
                    "field": "granularity",
                    "code": "too_many_periods",
                    "message": _(
                        "Trop de jours pour une série quotidienne : choisissez la semaine ou le mois."
                    ),
                }
            )
    if errors:
        raise InvalidStatsQuery(_("Les paramètres de la requête sont invalides."), errors=errors)
    return StatsQuery(
        metric=metric,
        group_by=group_by,
        date_from=date_from,
        date_to=date_to,
        granularity=granularity,
        departement=departement,
        region=region,
    )


# --- Running -----------------------------------------------------------------------------------


class _TruncDate(Func):
    """date_trunc of a date column, as a date: Django's TruncWeek/TruncMonth cast it to timestamptz first,
    which costs a time-zone conversion per row and keeps the planner from using the column as it is."""

    output_field = DateField()
    template = "date_trunc('%(kind)s', %(expressions)s::timestamp)::date"


_CATALOG = frozenset({"metric", "identity_provider", "service", "api"})
_GEOGRAPHY = frozenset({"metric", "organisation_kind", "departement", "region"})


def _family(query: StatsQuery) -> tuple[int, int]:
    """The (daily, monthly) cuboids with every dimension the query groups or filters by, smallest first."""
    needed = set(query.group_by) | ({"region"} if query.region else set())
    needed |= {"departement"} if query.departement else set()
    if needed <= _CATALOG:
        return Cuboid.CATALOG, Cuboid.CATALOG_MONTH
    if needed <= _GEOGRAPHY:
        return Cuboid.GEOGRAPHY, Cuboid.GEOGRAPHY_MONTH
    return Cuboid.STAR, Cuboid.STAR_MONTH


def _periods(query: StatsQuery) -> Q:
    """The rows covering date_from..date_to: whole months from the monthly cuboid when the query does not
    need days or weeks, the days of the partial months at both ends from the daily one."""
    daily, monthly = _family(query)
    first, last = query.date_from, query.date_to
    if query.granularity not in (None, "month"):
        return Q(cuboid=daily, day__gte=first, day__lte=last)
    month_start = first if first.day == 1 else (first.replace(day=1) + timedelta(days=32)).replace(day=1)
    months_end = last if (last + timedelta(days=1)).day == 1 else last.replace(day=1) - timedelta(days=1)
    if month_start > months_end:  # no whole month inside the range
        return Q(cuboid=daily, day__gte=first, day__lte=last)
    return (
        Q(cuboid=daily, day__gte=first, day__lt=month_start)
        | Q(cuboid=monthly, day__gte=month_start, day__lte=months_end)
        | Q(cuboid=daily, day__gt=months_end, day__lte=last)
    )


def _cells(query: StatsQuery) -> dict[tuple, int]:
    stats = DailyStat.objects.filter(_periods(query))
    if query.metric:
        stats = stats.filter(metric=query.metric)
    if query.departement:
        stats = stats.filter(departement=query.departement)
    if query.region:
        stats = stats.filter(region=query.region)
    columns = list(query.group_by)
    if query.granularity == "day":
        stats = stats.annotate(period=F("day"))
        columns.insert(0, "period")
    elif query.granularity:
        stats = stats.annotate(period=_TruncDate(F("day"), kind=query.granularity))
        columns.insert(0, "period")
    if not columns:
        total = stats.aggregate(value=Sum("count"))["value"] or 0
        return {(): total} if total else {}
    rows = stats.order_by().values(*columns).annotate(value=Sum("count")).values_list(*columns, "value")
    return {tuple(row[:-1]): row[-1] for row in rows}


def _coarsen(dimension: str, value):
    if dimension == "departement":
        return ("region", REGION_OF_DEPARTEMENT.get(value, ""))
    return None


def lines_of(keys: tuple[str, ...], cells: Mapping[tuple, int]) -> list[list[tuple]]:
    """The sets of cells whose sums are published (here or by another query of the same API): for each
    coordinate, kept, dropped, or — a département — replaced by its région; every combination but
    "all kept" (the cells themselves) groups the cells into lines."""
    options = []
    for dimension in keys:
        choices = ["keep", "drop"]
        if dimension == "departement":
            choices.append("coarsen")
        options.append(choices)
    lines: list[list[tuple]] = []
    for combination in itertools.product(*options):
        if all(choice == "keep" for choice in combination):
            continue
        groups: dict[tuple, list[tuple]] = defaultdict(list)
        for key in cells:
            projected = tuple(
                value if choice == "keep" else (_coarsen(dimension, value) if choice == "coarsen" else None)
                for dimension, value, choice in zip(keys, key, combination, strict=True)
            )
            groups[projected].append(key)
        lines.extend(groups.values())
    return lines


# --- Caching ----------------------------------------------------------------------------------
#
# A published table changes only when DailyStat does, and every write to it gives the statistics a new
# version (StatisticsVersion, set by a trigger in the writing transaction): answers are cached under the
# version they were computed at, so a new aggregation run is seen by the next request. Names of services,
# APIs and identity providers are not part of the version: CACHE_SECONDS bounds how long a renamed one
# keeps its old name in the tables.

CACHE_SECONDS = 600
_pinned_version: contextvars.ContextVar = contextvars.ContextVar("opendata_version", default=None)


def statistics_version() -> str | None:
    """The statistics' current version; None before the first write (nothing is cached then)."""
    token = StatisticsVersion.objects.filter(pk=1).values_list("token", flat=True).first()
    return str(token) if token else None


@contextlib.contextmanager
def one_version():
    """Every ``run`` inside reads the version once: a page of many tables makes one query for it."""
    if _pinned_version.get() is not None:  # already inside one
        yield
        return
    marker = _pinned_version.set((statistics_version(),))
    try:
        yield
    finally:
        _pinned_version.reset(marker)


def _cache_key(query: StatsQuery, version: str) -> str:
    identity = repr((query, threshold(), get_language()))
    return f"opendata:run:{version}:{hashlib.sha256(identity.encode()).hexdigest()[:40]}"


def run(query: StatsQuery) -> StatsResult:
    """The published table of ``query``: cells, disclosure control, labels; cached under the version."""
    pinned = _pinned_version.get()
    version = pinned[0] if pinned else statistics_version()
    if version is None:
        return _run(query)
    key = _cache_key(query, version)
    result = cache.get(key)
    if result is None:
        result = _run(query)
        cache.set(key, result, CACHE_SECONDS)
    return result


def _run(query: StatsQuery) -> StatsResult:
    cells = _cells(query)
    limit = threshold()
    keys = query.keys
    total = sum(cells.values())
    hidden = suppress(cells, lines_of(keys, cells), limit) if keys else set()
    total_suppressed = 0 < total < limit
    if not keys and total_suppressed:
        hidden = set(cells)
    labels = _labels(query.group_by, cells, keys)
    rows = []
    for key in sorted(cells, key=_row_order):
        row: dict = {}
        for dimension, value in zip(keys, key, strict=True):
            if dimension == "period":
                row["period"] = value.isoformat()
                continue
            row[dimension] = value
            label = labels.get(dimension, {}).get(value)
            if label is not None:
                row[f"{dimension}_label"] = label
        suppressed = key in hidden
        row["value"] = None if suppressed else cells[key]
        row["suppressed"] = suppressed
        rows.append(row)
    columns = tuple(
        column
        for dimension in keys
        for column in ((dimension,) if dimension in ("period",) else (dimension, f"{dimension}_label"))
    ) + ("value", "suppressed")
    return StatsResult(
        query=query,
        rows=rows,
        total=None if total_suppressed else total,
        total_suppressed=total_suppressed,
        threshold=limit,
        columns=columns,
    )


def _row_order(key: tuple):
    return tuple(str(part) for part in key)


def _labels(dimensions: tuple[str, ...], cells, keys) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    for dimension in dimensions:
        position = keys.index(dimension)
        values = {key[position] for key in cells}
        labels[dimension] = label_map(dimension, values)
    return labels


def label_map(dimension: str, values) -> dict[str, str]:
    """Human names of the values of a dimension (empty values: "Non renseigné")."""
    values = set(values)
    names: dict[str, str] = {}
    if dimension == "metric":
        names = {value: str(METRICS.get(value, value)) for value in values}
    elif dimension == "departement":
        names = {value: DEPARTEMENT_NAMES.get(value, value) for value in values}
    elif dimension == "region":
        names = {value: REGION_NAMES.get(value, value) for value in values}
    elif dimension == "organisation_kind":
        kinds = dict(OrganisationKind.choices)
        names = {value: str(kinds.get(value, value)) for value in values}
    elif dimension == "identity_provider":
        from identity.models import IdentityProvider

        names = dict(IdentityProvider.objects.filter(slug__in=values).values_list("slug", "name"))
    elif dimension == "service":
        from identity.models import ServiceProvider

        names = dict(
            ServiceProvider.objects.filter(application__client_id__in=values).values_list(
                "application__client_id", "application__name"
            )
        )
    elif dimension == "api":
        from exchange.models import ApiProduct

        names = dict(ApiProduct.objects.filter(slug__in=values).values_list("slug", "name"))
    if "" in values:
        names[""] = str(NOT_SPECIFIED)
    return {value: names.get(value) or value for value in values}


# --- Key figures -------------------------------------------------------------------------------


def key_figures(date_from: date, date_to: date) -> list[dict]:
    """Per metric: its value over the period, over the same number of days just before, the trend (%).

    The same table as ``run(group_by=metric)``, suppression included, so the figures match the API.
    """
    days = (date_to - date_from).days + 1
    previous_to = date_from - timedelta(days=1)
    previous_from = previous_to - timedelta(days=days - 1)
    with one_version():
        current = _by_metric(date_from, date_to)
        previous = _by_metric(previous_from, previous_to)
    figures = []
    for metric, label in METRICS.items():
        value, suppressed = current.get(metric, (0, False))
        before, before_suppressed = previous.get(metric, (0, False))
        trend = None
        if not suppressed and not before_suppressed and before:
            trend = round((value - before) * 100 / before, 1)
        figures.append(
            {
                "metric": metric,
                "label": str(label),
                "value": value,
                "suppressed": suppressed,
                "previous_value": before,
                "previous_suppressed": before_suppressed,
                "trend_percent": trend,
                "date_from": date_from.isoformat(),
                "date_to": date_to.isoformat(),
                "previous_from": previous_from.isoformat(),
                "previous_to": previous_to.isoformat(),
            }
        )
    return figures


def _by_metric(date_from: date, date_to: date) -> dict[str, tuple[int | None, bool]]:
    result = run(StatsQuery(None, ("metric",), date_from, date_to))
    return {row["metric"]: (row["value"], row["suppressed"]) for row in result.rows}


# --- Openness ----------------------------------------------------------------------------------

ROLES = {
    "service_providers": gettext_lazy("Fournisseurs de service"),
    "data_providers": gettext_lazy("Fournisseurs de données"),
    "consumers": gettext_lazy("Utilisateurs de données"),
}


def _organisations_by_role() -> dict[str, set[int]]:
    from exchange.models import ApiProduct, Authorization, AuthorizationState
    from identity.models import ServiceProvider

    return {
        "service_providers": set(ServiceProvider.objects.values_list("organisation_id", flat=True)),
        "data_providers": set(
            ApiProduct.objects.filter(published=True).values_list("provider_id", flat=True)
        ),
        "consumers": set(
            Authorization.objects.filter(state=AuthorizationState.ACTIVE).values_list(
                "consumer_id", flat=True
            )
        ),
    }


def _protected_rows(keys: tuple[str, ...], cells: dict[tuple, int], limit: int) -> list[dict]:
    hidden = suppress(cells, lines_of(keys, cells), limit)
    labels = {dimension: label_map(dimension, {key[i] for key in cells}) for i, dimension in enumerate(keys)}
    labels.pop("role", None)
    rows = []
    for key in sorted(cells, key=_row_order):
        row = {}
        for dimension, value in zip(keys, key, strict=True):
            row[dimension] = value
            row[f"{dimension}_label"] = str(ROLES[value]) if dimension == "role" else labels[dimension][value]
        suppressed = key in hidden
        row["value"] = None if suppressed else cells[key]
        row["suppressed"] = suppressed
        rows.append(row)
    return rows


def openness() -> dict:
    """Organisations using the platform, by role, kind and geography; and the public lists of services
    and APIs. Counts of organisations go through the same disclosure control as the statistics."""
    from exchange.models import ApiProduct
    from identity.models import ServiceProvider
    from platform_core.models import Organisation

    limit = threshold()
    by_role = _organisations_by_role()
    using = set().union(*by_role.values())
    organisations = {
        row[0]: row[1:]
        for row in Organisation.objects.filter(pk__in=using).values_list(
            "pk", "kind", "departement_code", "region_code"
        )
    }
    role_kind: dict[tuple, int] = defaultdict(int)
    for role, members in by_role.items():
        for pk in members:
            role_kind[(role, organisations[pk][0])] += 1
    by_departement: dict[tuple, int] = defaultdict(int)
    by_region: dict[tuple, int] = defaultdict(int)
    for _kind, departement, region in organisations.values():
        by_departement[(departement,)] += 1
        by_region[(region,)] += 1
    total = len(using)
    services = (
        ServiceProvider.objects.select_related("application", "organisation")
        .order_by("application__name")
        .values_list("application__client_id", "application__name", "organisation__name")
    )
    apis = (
        ApiProduct.objects.filter(published=True)
        .select_related("provider")
        .order_by("name")
        .values_list("slug", "name", "provider__name", "status")
    )
    return {
        "threshold": limit,
        "total": {"value": None if 0 < total < limit else total, "suppressed": 0 < total < limit},
        # Roles overlap (an organisation may provide and consume): no margin links them, primary only.
        "by_role": [
            {
                "role": role,
                "role_label": str(label),
                "value": None if 0 < len(by_role[role]) < limit else len(by_role[role]),
                "suppressed": 0 < len(by_role[role]) < limit,
            }
            for role, label in ROLES.items()
        ],
        "by_role_and_kind": _protected_rows(("role", "organisation_kind"), dict(role_kind), limit),
        "by_departement": _protected_rows(("departement",), dict(by_departement), limit),
        "by_region": _protected_rows(("region",), dict(by_region), limit),
        "service_providers": [
            {"client_id": client_id, "name": name, "organisation": organisation}
            for client_id, name, organisation in services
        ],
        "apis": [
            {"slug": slug, "name": name, "provider": provider, "status": status}
            for slug, name, provider, status in apis
        ],
    }


# --- Transparency log ----------------------------------------------------------------------------

SEAL_COLUMNS = (
    "batch_number",
    "first_entry_id",
    "last_entry_id",
    "entry_count",
    "merkle_root",
    "previous_seal_hash",
    "key_id",
    "sealed_at",
    "seal_hash",
    "signature",
)


def parse_day(params: Mapping[str, str], name: str = "date") -> date:
    """The day named by ``params[name]`` (today when absent); InvalidStatsQuery when malformed or future."""
    errors: list[dict] = []
    value = (params.get(name) or "").strip()
    day = _parse_date(value, name, errors) if value else today()
    if day is not None and day > today():
        errors.append(
            {"field": name, "code": "date_in_future", "message": _("Ce jour n'est pas encore passé.")}
        )
    if errors:
        raise InvalidStatsQuery(_("Les paramètres de la requête sont invalides."), errors=errors)
    return day


def seals_of_day(day: date) -> list[dict]:
    """The journal's seals made on ``day`` (Europe/Paris), as signed: anyone holding an inclusion proof
    checks its seal against these public roots, and the chain through ``previous_seal_hash``."""
    from opendata.aggregation import day_bounds
    from protection.canonical import format_datetime
    from protection.models import Seal

    start, end = day_bounds(day, day)
    seals = Seal.objects.filter(sealed_at__gte=start, sealed_at__lt=end).order_by("batch_number")
    return [
        {
            "batch_number": seal.batch_number,
            "first_entry_id": seal.first_entry_id,
            "last_entry_id": seal.last_entry_id,
            "entry_count": seal.entry_count,
            "merkle_root": seal.merkle_root,
            "previous_seal_hash": seal.previous_seal_hash,
            "key_id": seal.key_id,
            "sealed_at": format_datetime(seal.sealed_at),
            "seal_hash": seal.seal_hash,
            "signature": seal.signature,
        }
        for seal in seals
    ]
