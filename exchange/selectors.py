"""Reads of the exchange hub that have rules."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from exchange.models import ApiProduct, ApiScope, Habilitation, HabilitationState
from platform_core.models import Organisation


def published_api_list(*, q: str = "", status: str = "") -> QuerySet[ApiProduct]:
    """The public catalogue: published APIs only, searched in their name, description, provider and
    scopes."""
    apis = ApiProduct.objects.filter(published=True)
    if status:
        apis = apis.filter(status=status)
    if q:
        apis = apis.filter(
            Q(name__icontains=q)
            | Q(description__icontains=q)
            | Q(provider__name__icontains=q)
            | Q(scopes__label__icontains=q)
            | Q(scopes__code__icontains=q)
        ).distinct()
    return apis.select_related("provider").prefetch_related(
        Prefetch("scopes", queryset=ApiScope.objects.order_by("code")), "legal_frameworks"
    )


def get_published_api(slug: str) -> ApiProduct:
    """A published API of the catalogue; 404 for any other (unpublished ones are not public)."""
    api = published_api_list().filter(slug=slug).first()
    if api is None:
        raise Http404
    return api


def public_openapi(api: ApiProduct) -> dict:
    """The API's OpenAPI document as the catalogue publishes it, for consumers: the provider's
    ``servers`` (the upstream address) and security give way to the gateway's, and every operation
    gets the gateway's context parameters (consumers call the gateway, never the provider)."""
    import copy

    from django.conf import settings

    document = copy.deepcopy(api.openapi or {})
    document["servers"] = [
        {"url": f"{settings.PUBLIC_URL}/api/v1/gateway/{api.slug}", "description": "Passerelle Maillage"}
    ]
    scopes = {scope.code: scope.label for scope in api.scopes.all()}
    components = document.setdefault("components", {})
    components["securitySchemes"] = {
        "maillage": {
            "type": "oauth2",
            "description": "Identifiant d'accès délivré à la validation de l'habilitation "
            "(client credentials).",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": f"{settings.PUBLIC_URL}/api/v1/oauth/token",
                    "scopes": scopes,
                }
            },
        }
    }
    document["security"] = [{"maillage": sorted(scopes)}]
    for item in (document.get("paths") or {}).values():
        if not isinstance(item, dict):
            continue
        item.pop("servers", None)
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation.pop("security", None)
                names = {p.get("name") for p in operation.get("parameters", []) if isinstance(p, dict)}
                operation["parameters"] = [
                    *operation.get("parameters", []),
                    *(parameter for parameter in GATEWAY_PARAMETERS if parameter["name"] not in names),
                ]
    return document


def _query_parameter(name: str, required: bool, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


GATEWAY_PARAMETERS = (
    _query_parameter(
        "recipient", True, {"type": "string", "pattern": "^[0-9]{14}$"},
        "SIRET du destinataire : celui de l'organisation habilitée ou un destinataire de l'habilitation.",
    ),
    _query_parameter(
        "purpose", True, {"type": "string", "format": "uuid"},
        "Identifiant de l'habilitation (ou de l'autorisation) au titre de laquelle l'appel est fait.",
    ),
    _query_parameter(
        "case_id", False, {"type": "string", "maxLength": 100},
        "Référence du dossier traité, reprise dans le journal.",
    ),
)  # fmt: skip


def habilitation_list_for(user, *, state: str = "") -> QuerySet[Habilitation]:
    """The habilitations a person may see, on the applicant's side or the provider's, newest change
    first; ``state`` filters when it is one of the states (anything else is ignored)."""
    from guardian.shortcuts import get_objects_for_user

    habilitations = get_objects_for_user(
        user,
        "exchange.view_habilitation",
        klass=Habilitation.objects.select_related("api__provider", "consumer"),
        accept_global_perms=False,
    )
    if state in HabilitationState.values:
        habilitations = habilitations.filter(state=state)
    return habilitations.order_by("-updated_at", "-pk")


def get_habilitation_for_user(user, public_id) -> Habilitation:
    """A habilitation the person may see; 404 for any other, so that its existence does not leak."""
    habilitation = (
        Habilitation.objects.select_related("api__provider", "consumer", "applicant")
        .filter(public_id=public_id)
        .first()
    )
    if habilitation is None or not user.has_perm("exchange.view_habilitation", habilitation):
        raise Http404
    return habilitation


def habilitation_consumers_for(user) -> QuerySet[Organisation]:
    """The organisations a person may apply for: their own memberships."""
    return Organisation.objects.filter(memberships__user=user).distinct().order_by("name", "siret")


USAGE_WINDOWS = (
    ("10min", timedelta(minutes=10)),
    ("30h", timedelta(hours=30)),
    ("8d", timedelta(days=8)),
)


def gateway_usage(habilitation, now=None) -> list[dict]:
    """Gateway calls and errors under this habilitation's authorizations over the last 10 minutes,
    30 hours and 8 days, from the journal (its contract column is indexed)."""
    from exchange import events
    from protection.models import JournalEntry

    now = now or timezone.now()
    public_ids = habilitation.authorizations.values_list("public_id", flat=True)
    contracts = [str(public_id) for public_id in public_ids]
    if not contracts:
        return []
    calls = JournalEntry.objects.filter(event_type=events.GATEWAY_CALL.code, contract__in=contracts)
    windows = {
        f"calls_{name}": Count("id", filter=Q(occurred_at__gte=now - span)) for name, span in USAGE_WINDOWS
    } | {
        f"errors_{name}": Count("id", filter=Q(occurred_at__gte=now - span, outcome="failure"))
        for name, span in USAGE_WINDOWS
    }
    totals = calls.filter(occurred_at__gte=now - USAGE_WINDOWS[-1][1]).aggregate(**windows)
    return [
        {"window": name, "calls": totals[f"calls_{name}"], "errors": totals[f"errors_{name}"]}
        for name, _span in USAGE_WINDOWS
    ]


# --- the consumer dashboard of a credential ----------------------------------------------------------


def credential_list_for(user) -> QuerySet:
    """The credentials a person manages: those of their organisations' habilitations (the consumer side,
    ``change_habilitation``), newest first."""
    from guardian.shortcuts import get_objects_for_user

    from exchange.models import Credential

    habilitations = get_objects_for_user(
        user, "exchange.change_habilitation", klass=Habilitation, accept_global_perms=False
    )
    return (
        Credential.objects.filter(habilitation__in=habilitations.values("pk"))
        .select_related(
            "application", "authorization", "habilitation__api__provider", "habilitation__consumer"
        )
        .order_by("-created_at", "-pk")
    )


def get_credential_for_user(user, public_id):
    """A credential and whether the person manages it: 404 for whoever may not see its habilitation
    (its existence does not leak); ``(credential, False)`` for the provider's side, who sees the
    habilitation but not the consumer's dashboard."""
    from exchange.models import Credential

    credential = (
        Credential.objects.select_related(
            "application", "authorization", "habilitation__api__provider", "habilitation__consumer"
        )
        .filter(public_id=public_id)
        .first()
    )
    if credential is None or not user.has_perm("exchange.view_habilitation", credential.habilitation):
        raise Http404
    return credential, user.has_perm("exchange.change_habilitation", credential.habilitation)


@dataclass(frozen=True)
class UsageWindow:
    name: str
    span: timedelta
    step: timedelta  # one bar of the chart

    @property
    def buckets(self) -> int:
        return int(self.span / self.step)


DASHBOARD_WINDOWS = (
    UsageWindow("10min", timedelta(minutes=10), timedelta(minutes=1)),
    UsageWindow("30h", timedelta(hours=30), timedelta(hours=1)),
    UsageWindow("8d", timedelta(days=8), timedelta(days=1)),
)

# The gateway calls of some contracts over the longest window, with their bucket in each window: the
# window [now - span, now] is cut into equal steps (rolling, so that the bars add up to the window's
# total), counted in one pass (grouping sets) on the journal's indexed contract column.
_CALLS_SQL = """
SELECT occurred_at, outcome = 'failure' AS failed,
       COALESCE(data->>'status', '') AS status, COALESCE(data->>'reason', '') AS reason,
       CASE WHEN json_typeof(data->'latency_ms') = 'number' THEN (data->>'latency_ms')::float END AS latency,
       {buckets}
  FROM protection_journalentry
 WHERE event_type = %(event)s AND contract = ANY(%(contracts)s) AND actor_id = %(client_id)s
   AND occurred_at >= %(since)s AND occurred_at <= %(now)s
"""
_BUCKET_SQL = (
    "CASE WHEN occurred_at >= %({name}_start)s THEN LEAST(FLOOR(EXTRACT(EPOCH FROM occurred_at - "
    "%({name}_start)s) / %({name}_step)s)::int, %({name}_last)s) END AS b_{name}"
)
_SERIES_SQL = """
WITH calls AS ({calls})
SELECT {which}, COALESCE({coalesce}) AS bucket, count(*) AS calls, count(*) FILTER (WHERE failed) AS errors
  FROM calls
 GROUP BY GROUPING SETS ({sets})
"""
_BREAKDOWN_SQL = """
WITH calls AS ({calls})
SELECT GROUPING(status) = 1 AS overall, status, reason, {counts}, {latencies}
  FROM calls
 GROUP BY GROUPING SETS ((status, reason), ())
 ORDER BY overall DESC, count(*) DESC, status, reason
 LIMIT 51
"""


def credential_usage(credential, now=None) -> dict:
    """The dashboard of a credential: for each window (10 minutes by minute, 30 hours by hour, 8 days by
    day) the calls and errors per step, the totals, the error rate and the latency (p50, p95); and the
    calls by status and refusal reason in each window. Two aggregate queries in PostgreSQL, bounded
    by the 8 days (at most 50 status/reason rows)."""
    from django.db import connection

    from exchange import events

    now = now or timezone.now()
    contracts = [
        str(public_id)
        for public_id in credential.habilitation.authorizations.values_list("public_id", flat=True)
    ]
    params = {"event": events.GATEWAY_CALL.code, "contracts": contracts,
        "client_id": credential.client_id, "now": now,
              "since": now - DASHBOARD_WINDOWS[-1].span}  # fmt: skip
    for window in DASHBOARD_WINDOWS:
        params |= {f"w{window.name}_start": now - window.span,
                   f"w{window.name}_step": window.step.total_seconds(),
                   f"w{window.name}_last": window.buckets - 1}  # fmt: skip
    names = [f"w{window.name}" for window in DASHBOARD_WINDOWS]
    calls_sql = _CALLS_SQL.format(buckets=",\n       ".join(_BUCKET_SQL.format(name=n) for n in names))
    series = {window.name: [[0, 0] for _step in range(window.buckets)] for window in DASHBOARD_WINDOWS}
    breakdown, overall = [], {}
    if contracts:
        which = ", ".join(f"GROUPING(b_{n}) = 0 AS in_{n}" for n in names)
        series_sql = _SERIES_SQL.format(
            calls=calls_sql, which=which, coalesce=", ".join(f"b_{n}" for n in names),
            sets=", ".join(f"(b_{n})" for n in names),
        )  # fmt: skip
        counts = ", ".join(f"count(*) FILTER (WHERE b_{n} IS NOT NULL) AS calls_{n}" for n in names)
        latencies = ", ".join(
            f"percentile_cont({fraction}) WITHIN GROUP (ORDER BY latency) FILTER (WHERE b_{n} IS NOT NULL) "
            f"AS {name}_{n}"
            for n in names
            for name, fraction in (("p50", 0.5), ("p95", 0.95))
        )
        breakdown_sql = _BREAKDOWN_SQL.format(calls=calls_sql, counts=counts, latencies=latencies)
        with connection.cursor() as cursor:
            cursor.execute(series_sql, params)
            for row in cursor.fetchall():
                flags, bucket, calls, errors = row[: len(names)], row[len(names)], row[-2], row[-1]
                if bucket is None:  # outside this grouping's window
                    continue
                window = DASHBOARD_WINDOWS[flags.index(True)]
                series[window.name][bucket] = [calls, errors]
            cursor.execute(breakdown_sql, params)
            columns = [column.name for column in cursor.description]
            for row in cursor.fetchall():
                row = dict(zip(columns, row, strict=True))
                if row["overall"]:
                    overall = row
                else:
                    breakdown.append(row)
    windows = []
    for window in DASHBOARD_WINDOWS:
        start = now - window.span
        buckets = [
            {"start": start + index * window.step, "end": start + (index + 1) * window.step,
             "calls": calls, "errors": errors}
            for index, (calls, errors) in enumerate(series[window.name])
        ]  # fmt: skip
        calls = sum(bucket["calls"] for bucket in buckets)
        errors = sum(bucket["errors"] for bucket in buckets)
        key = f"w{window.name}"
        windows.append({
            "window": window.name, "step": window.step, "buckets": buckets, "calls": calls, "errors": errors,
            "error_rate": errors / calls if calls else None,
            "p50_ms": overall.get(f"p50_{key}"), "p95_ms": overall.get(f"p95_{key}"),
        })  # fmt: skip
    return {
        "now": now,
        "windows": windows,
        "breakdown": [
            {
                "status": row["status"],
                "reason": row["reason"],
                "calls": {window.name: row[f"calls_w{window.name}"] for window in DASHBOARD_WINDOWS},
            }
            for row in breakdown[:50]
        ],  # fmt: skip
    }
