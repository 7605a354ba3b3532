"""Journal entries → daily statistics (opendata.models.DailyStat), incrementally and exactly once.

The high-water mark (AggregationState "journal") is the id of the last entry counted. Each run:

1. establishes the journal's horizon H with protection.sealing.wait_for_horizon(): every entry with
   id <= H that will ever exist is committed. Ids are allocated at INSERT, not at COMMIT, so a
   transaction that took id 100 may commit after the one that took 101; counting "everything above
   the mark that I can see" would move the mark past 100 and skip it forever. The sealer has the same
   problem and the same answer (see protection/sealing.py): below H nothing can still appear;
2. in one transaction holding an advisory lock (a second aggregator returns at once), counts the
   entries with mark < id <= min(H, mark + chunk) in one INSERT … SELECT … GROUP BY … ON CONFLICT DO
   UPDATE count = count + excluded.count, and moves the mark in the same transaction.

A crash anywhere rolls back the counts and the mark together: restarting simply does it again.
``rebuild`` recomputes whole months from the entries below the mark with the same SQL, so its numbers
are those the incremental runs gave (tests/opendata/test_aggregation.py proves it). The same statement
writes the roll-ups (opendata.models.Cuboid) the queries read.

Which entries count, and as what (the ``RULES`` below):

- sign_ins: a person signed in to a service (identity.fs_signed_in), or to the Maillage portal itself
  (identity.fi_verified without a service: a sign-in for a service is followed by its fs_signed_in,
  and is counted there once);
- exchanges: successful gateway calls (exchange.gateway_call) outside batch transfers;
- batch_items: successful gateway calls made for the items of a batch transfer (``data.batch`` set);
- habilitations: habilitations validated (exchange.habilitation_transitioned to "validated");
- payments, archive_ingests: the second-circle bricks' events, zero until they journal them.

Geography and organisation kind come from the entry's organisation (its public id in the journal),
as it is when the entry is aggregated.
"""

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction

from opendata.models import AggregationState
from protection.sealing import wait_for_horizon

logger = logging.getLogger(__name__)

STATE_NAME = "journal"
# pg_advisory_xact_lock key: 'mail' 'odat' in ASCII (the sealer's is 'mail' 'seal').
AGGREGATION_LOCK_KEY = 0x6D61696C6F646174
CHUNK = 1_000_000  # ids per transaction: bounds its length and the memory of its GROUP BY
TASK_BUDGET_SECONDS = 40.0  # a beat tick every minute; a backlog is worked off over several ticks


@dataclass(frozen=True)
class Rule:
    metric: str
    event_type: str
    condition: str = "TRUE"  # SQL over the entry ``e``; constants only, never user input
    identity_provider: str = "''"
    service: str = "''"
    api: str = "''"


_FI = "coalesce(left(e.data->>'fi', 64), '')"
_FS = "coalesce(left(e.data->>'fs', 100), '')"
_API = "coalesce(left(e.data->>'api', 64), '')"
_SUCCESS = "e.outcome = 'success'"

RULES = (
    Rule("sign_ins", "identity.fs_signed_in", _SUCCESS, identity_provider=_FI, service=_FS),
    Rule(
        "sign_ins",
        "identity.fi_verified",
        f"{_SUCCESS} AND coalesce(e.data->>'fs', '') = ''",
        identity_provider=_FI,
    ),
    Rule("exchanges", "exchange.gateway_call", f"{_SUCCESS} AND e.data->>'batch' IS NULL", api=_API),
    Rule("batch_items", "exchange.gateway_call", f"{_SUCCESS} AND e.data->>'batch' IS NOT NULL", api=_API),
    Rule("habilitations", "exchange.habilitation_transitioned", "e.data->>'target' = 'validated'", api=_API),
    Rule("payments", "payments.payment_succeeded", _SUCCESS),
    Rule("archive_ingests", "archives.package_ingested", _SUCCESS),
)
EVENT_TYPES = sorted({rule.event_type for rule in RULES})


def _case(attribute: str, default: str) -> str:
    branches = " ".join(
        f"WHEN e.event_type = '{rule.event_type}' AND ({rule.condition}) THEN {getattr(rule, attribute)}"
        for rule in RULES
    )
    return f"CASE {branches} ELSE {default} END"


def _metric_case() -> str:
    branches = " ".join(
        f"WHEN e.event_type = '{rule.event_type}' AND ({rule.condition}) THEN '{rule.metric}'"
        for rule in RULES
    )
    return f"CASE {branches} END"


# Counted per organisation first, then joined to the (small) organisation table: the join runs on
# thousands of cells, not millions of entries. Then every cuboid (opendata.models.Cuboid) at once, by
# GROUPING SETS: GROUPING(day, identity_provider, organisation_kind) is the cuboid's code. ``{where}``
# is one of two constants.
_STAR_SET = "(day, metric, identity_provider, service, api, organisation_kind, departement, region),"
_ROLLUP_SETS = """
        (day, metric, identity_provider, service, api),
        (day, metric, organisation_kind, departement, region),
        (month, metric, identity_provider, service, api, organisation_kind, departement, region),
        (month, metric, identity_provider, service, api),
        (month, metric, organisation_kind, departement, region)
"""
_UPSERT = """
    INSERT INTO opendata_dailystat (cuboid, day, metric, identity_provider, service, api, organisation_kind,
           departement, region, count)
    SELECT GROUPING(day, identity_provider, organisation_kind), coalesce(day, month), metric,
           coalesce(identity_provider, ''), coalesce(service, ''), coalesce(api, ''),
           coalesce(organisation_kind, ''), coalesce(departement, ''), coalesce(region, ''), sum(n)
      FROM located
     GROUP BY GROUPING SETS ({sets})
    ON CONFLICT ON CONSTRAINT opendata_stat_cell
    DO UPDATE SET count = opendata_dailystat.count + EXCLUDED.count
"""
# Two statements: the cells into a temporary table first (CREATE TABLE AS may run in parallel workers,
# an INSERT's SELECT never does: half the time on two cores), then the upsert of every cuboid from it.
_CELLS_SQL = f"""
CREATE TEMPORARY TABLE opendata_located ON COMMIT DROP AS
WITH entries AS (
    SELECT (e.occurred_at AT TIME ZONE %(tz)s)::date AS day,
           {_metric_case()} AS metric,
           {_case("identity_provider", "''")} AS identity_provider,
           {_case("service", "''")} AS service,
           {_case("api", "''")} AS api,
           e.organisation_id
      FROM protection_journalentry e
     WHERE {{where}} AND e.event_type = ANY(%(types)s)
), cells AS (
    SELECT day, metric, identity_provider, service, api, organisation_id, count(*) AS n
      FROM entries WHERE metric IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5, 6
)
SELECT c.day, date_trunc('month', c.day::timestamp)::date AS month, c.metric COLLATE "C" AS metric,
       c.identity_provider COLLATE "C" AS identity_provider, c.service COLLATE "C" AS service,
       c.api COLLATE "C" AS api, coalesce(o.kind, '') COLLATE "C" AS organisation_kind,
       coalesce(o.departement_code, '') COLLATE "C" AS departement,
       coalesce(o.region_code, '') COLLATE "C" AS region, c.n
  FROM cells c LEFT JOIN platform_core_organisation o ON o.public_id::text = c.organisation_id
"""  # noqa: S608 - built from the constant RULES
_AGGREGATE_SQL = f"""
WITH located AS (SELECT * FROM opendata_located)
{_UPSERT.format(sets=_STAR_SET + _ROLLUP_SETS)}
"""  # noqa: S608 - constants only
# The roll-ups of star cells written directly (tests of the selectors on crafted tables).
_ROLLUP_SQL = f"""
WITH located AS (
    SELECT day, date_trunc('month', day::timestamp)::date AS month, metric, identity_provider, service, api,
           organisation_kind, departement, region, count AS n
      FROM opendata_dailystat WHERE cuboid = 0 AND day >= %(first)s AND day <= %(last)s
)
{_UPSERT.format(sets=_ROLLUP_SETS)}
"""  # noqa: S608 - constants only
_BY_ID = "e.id > %(after)s AND e.id <= %(upto)s"
_BY_DAY = "e.id <= %(upto)s AND e.occurred_at >= %(start)s AND e.occurred_at < %(end)s"


@dataclass(frozen=True)
class AggregationRun:
    after_id: int
    last_entry_id: int
    entries: int  # entries counted (those that map to a metric)


def _state_for_update() -> AggregationState:
    state, _created = AggregationState.objects.select_for_update().get_or_create(name=STATE_NAME)
    return state


def aggregate_pending(*, chunk: int = CHUNK, horizon: int | None = None) -> AggregationRun | None:
    """Count the entries between the high-water mark and the journal's horizon (at most ``chunk`` ids).

    None when another aggregator holds the lock or the horizon could not be established in time
    (writing transactions still open): the next tick tries again. ``horizon`` is for tests and the
    benchmark only, which know it.
    """
    if horizon is None:
        horizon = wait_for_horizon()
        if horizon is None:
            return None
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [AGGREGATION_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return None
        state = _state_for_update()
        after = state.last_entry_id
        upto = min(horizon, after + chunk)
        if upto <= after:
            return AggregationRun(after, after, 0)
        entries = _aggregate(cursor, _BY_ID, {"after": after, "upto": upto})
        state.last_entry_id = upto
        state.entries_aggregated += entries
        state.updated_at = datetime.now(tz=ZoneInfo("UTC"))
        state.save(update_fields=["last_entry_id", "entries_aggregated", "updated_at"])
    return AggregationRun(after, upto, entries)


def aggregate_all(*, budget_seconds: float = TASK_BUDGET_SECONDS, chunk: int = CHUNK) -> int:
    """Chunks until caught up with the horizon or out of time; the entries counted."""
    deadline = time.monotonic() + budget_seconds
    horizon = wait_for_horizon()
    if horizon is None:
        return 0
    total = 0
    while True:
        run = aggregate_pending(chunk=chunk, horizon=horizon)
        if run is None:
            break
        total += run.entries
        if run.last_entry_id >= horizon or time.monotonic() >= deadline:
            break
    if total:
        logger.info("open data: %d journal entries aggregated", total)
    return total


def _aggregate(cursor, where: str, params: dict) -> int:
    # JIT compiling the CASE expressions costs more than it saves on a million rows (seconds, measured),
    # and hashing the cells needs more than the default work_mem.
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL work_mem = '64MB'")
    cursor.execute(
        _CELLS_SQL.replace("{where}", where), {"tz": settings.TIME_ZONE, "types": EVENT_TYPES, **params}
    )
    cursor.execute("SELECT coalesce(sum(n), 0) FROM opendata_located")
    entries = cursor.fetchone()[0]
    if entries:  # else no statement touches the statistics: their version (and the cached tables) stays
        cursor.execute(_AGGREGATE_SQL)
    cursor.execute("DROP TABLE opendata_located")  # a chunk's transaction may hold only one
    return int(entries)


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start, end) of the days first..last in the statistics' time zone, as aware datetimes."""
    zone = ZoneInfo(settings.TIME_ZONE)
    return (
        datetime.combine(first, dt_time.min, tzinfo=zone),
        datetime.combine(last + timedelta(days=1), dt_time.min, tzinfo=zone),
    )


def whole_months(first: date, last: date) -> tuple[date, date]:
    """The days first..last widened to whole months: the monthly roll-ups are recomputed whole."""
    start = first.replace(day=1)
    following = (last.replace(day=1) + timedelta(days=32)).replace(day=1)
    return start, following - timedelta(days=1)


def rebuild(first: date, last: date) -> int:
    """Recompute the months of first..last (whole months) from the journal entries below the mark.

    Waits for a running aggregation (same lock), so the mark cannot move while it works; the entries
    above the mark are the next incremental run's. Returns the entries counted.
    """
    first, last = whole_months(first, last)
    start, end = day_bounds(first, last)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AGGREGATION_LOCK_KEY])
        state = _state_for_update()
        cursor.execute("DELETE FROM opendata_dailystat WHERE day >= %s AND day <= %s", [first, last])
        return _aggregate(cursor, _BY_DAY, {"upto": state.last_entry_id, "start": start, "end": end})


def rollup(first: date, last: date) -> None:
    """Write the roll-ups of the star cells (cuboid 0) of first..last, whole months; for tables crafted
    cell by cell, as the tests of disclosure control do. Aggregation writes its own."""
    first, last = whole_months(first, last)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM opendata_dailystat WHERE cuboid <> 0 AND day >= %s AND day <= %s", [first, last]
        )
        cursor.execute(_ROLLUP_SQL, {"first": first, "last": last})
