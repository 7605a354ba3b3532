"""Journal → daily statistics: each entry counted exactly once, whatever the order of commits, crashes,
concurrent aggregators; the rebuild gives the same numbers; the beat task through a real worker."""

import dataclasses
import threading
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.models import Min
from django.utils import timezone

from opendata import aggregation, selectors
from opendata.models import AggregationState, Cuboid, DailyStat
from protection import journal
from protection.models import JournalEntry
from tests.factories import OrganisationFactory


def sign_in(organisation, fi="demo-fi", fs="service-a", outcome="success"):
    journal.record(
        "identity.fs_signed_in",
        actor=None,
        organisation=organisation,
        outcome=outcome,
        data={"fs": fs, "fi": fi},
    )


def exchange(organisation, api="impots", batch=None, outcome="success"):
    data = {"api": api, "status": 200 if outcome == "success" else 403}
    if batch:
        data["batch"] = batch
    journal.record("exchange.gateway_call", actor=None, organisation=organisation, outcome=outcome, data=data)


def cells(**filters) -> dict:
    return {
        (row.cuboid, row.day, row.metric, row.identity_provider, row.service, row.api, row.organisation_kind,
         row.departement, row.region): row.count
        for row in DailyStat.objects.filter(**filters)
    }  # fmt: skip


def totals() -> dict:
    result: dict = {}
    for row in DailyStat.objects.filter(cuboid=Cuboid.STAR):
        result[row.metric] = result.get(row.metric, 0) + row.count
    return result


def drain(chunk: int) -> None:
    """Chunk after chunk until the mark stops moving (ids need not start at the first chunk)."""
    while (run := aggregation.aggregate_pending(chunk=chunk)).last_entry_id > run.after_id:
        pass


def mark_before_the_entries() -> None:
    """Ids go on from earlier tests (a sequence is never rolled back): small chunks start at this test's
    first entry instead of walking through thousands of empty ranges first."""
    first = JournalEntry.objects.aggregate(first=Min("id"))["first"]
    AggregationState.objects.update_or_create(name="journal", defaults={"last_entry_id": first - 1})


def mark() -> int:
    return AggregationState.objects.get(name="journal").last_entry_id


@pytest.mark.django_db
def test_metrics_dimensions_and_geography_come_from_the_entries_and_their_organisation():
    commune = OrganisationFactory(commune=True)  # Lyon: 69, région 84
    sign_in(commune)
    sign_in(commune, outcome="failure")  # not a sign-in
    journal.record(
        "identity.fi_verified", actor=None, data={"fi": "demo-fi", "fs": "service-a"}
    )  # counted by FS
    journal.record("identity.fi_verified", actor=None, data={"fi": "demo-fi"})  # the portal's own sign-in
    exchange(commune)
    exchange(commune, outcome="failure")
    exchange(commune, batch="b-1")
    journal.record(
        "exchange.habilitation_transitioned", actor=None, organisation=commune,
        data={"api": "impots", "target": "validated"},
    )  # fmt: skip
    journal.record(
        "exchange.habilitation_transitioned", actor=None, organisation=commune,
        data={"api": "impots", "target": "submitted"},
    )  # fmt: skip
    journal.record("platform.organisation_created", actor=None, organisation=commune)  # no metric

    run = aggregation.aggregate_pending()

    assert run.entries == 5
    today = timezone.localdate()
    assert cells(cuboid=Cuboid.STAR) == {
        (0, today, "sign_ins", "demo-fi", "service-a", "", "commune", "69", "84"): 1,
        (0, today, "sign_ins", "demo-fi", "", "", "", "", ""): 1,
        (0, today, "exchanges", "", "", "impots", "commune", "69", "84"): 1,
        (0, today, "batch_items", "", "", "impots", "commune", "69", "84"): 1,
        (0, today, "habilitations", "", "", "impots", "commune", "69", "84"): 1,
    }
    month = today.replace(day=1)
    assert cells(cuboid=Cuboid.GEOGRAPHY_MONTH) == {
        (6, month, "sign_ins", "", "", "", "commune", "69", "84"): 1,
        (6, month, "sign_ins", "", "", "", "", "", ""): 1,
        (6, month, "exchanges", "", "", "", "commune", "69", "84"): 1,
        (6, month, "batch_items", "", "", "", "commune", "69", "84"): 1,
        (6, month, "habilitations", "", "", "", "commune", "69", "84"): 1,
    }
    # Every roll-up counts every entry once.
    for cuboid in Cuboid:
        assert sum(cells(cuboid=cuboid).values()) == 5, cuboid
    assert mark() == run.last_entry_id


@pytest.mark.django_db
def test_incremental_runs_count_each_entry_once_and_a_rerun_adds_nothing():
    organisation = OrganisationFactory()
    for _ in range(3):
        sign_in(organisation)
    journal.flush()
    aggregation.aggregate_pending()
    for _ in range(2):
        sign_in(organisation)
        exchange(organisation)
    journal.flush()
    aggregation.aggregate_pending()
    aggregation.aggregate_pending()  # nothing new

    assert totals() == {"sign_ins": 5, "exchanges": 2}
    assert AggregationState.objects.get().entries_aggregated == 7


@pytest.mark.django_db
def test_small_chunks_give_the_same_counts_as_one_pass():
    organisation = OrganisationFactory()
    for index in range(25):
        sign_in(organisation, fi=f"fi-{index % 3}")
    journal.flush()
    mark_before_the_entries()

    drain(chunk=4)

    assert totals() == {"sign_ins": 25}
    assert DailyStat.objects.filter(cuboid=Cuboid.STAR).count() == 3


@pytest.mark.django_db
def test_a_crash_rolls_back_the_counts_with_the_mark_and_the_restart_counts_once():
    organisation = OrganisationFactory()
    for _ in range(4):
        sign_in(organisation)
    journal.flush()

    with pytest.raises(RuntimeError), transaction.atomic():
        aggregation.aggregate_pending()
        assert totals() == {"sign_ins": 4}
        raise RuntimeError("worker killed after the upsert")  # before the commit
    assert totals() == {}
    assert not AggregationState.objects.filter(last_entry_id__gt=0).exists()

    aggregation.aggregate_pending()
    assert totals() == {"sign_ins": 4}


@pytest.mark.django_db(transaction=True)
def test_an_entry_committed_late_with_a_lower_id_is_not_skipped():
    organisation = OrganisationFactory()
    holding, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                sign_in(organisation, fs="slow")
                journal.flush()  # its id is taken now…
                holding.set()
                release.wait(10)  # …and committed only later
        finally:
            connections.close_all()
            done.set()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert holding.wait(10)
    sign_in(organisation, fs="fast")  # a higher id, committed at once
    journal.flush()

    # The slow writer still holds the journal's lock: the horizon cannot be set, nothing is counted.
    from protection import sealing

    assert sealing.wait_for_horizon(timeout=0.3) is None
    assert aggregation.aggregate_all(budget_seconds=1) == 0
    assert totals() == {}

    release.set()
    assert done.wait(10)
    thread.join()
    aggregation.aggregate_all()

    services = dict(DailyStat.objects.filter(cuboid=Cuboid.STAR).values_list("service", "count"))
    assert services == {"slow": 1, "fast": 1}


@pytest.mark.django_db(transaction=True)
def test_two_aggregators_at_once_count_once():
    organisation = OrganisationFactory()
    for _ in range(30):
        sign_in(organisation)
    journal.flush()
    mark_before_the_entries()
    barrier = threading.Barrier(2)
    results = []

    def aggregate():
        try:
            barrier.wait(5)
            results.append(aggregation.aggregate_all(chunk=7))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=aggregate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    aggregation.aggregate_all()

    assert totals() == {"sign_ins": 30}
    assert AggregationState.objects.get().entries_aggregated == 30


def _entries_over_days(organisations, days: int) -> None:
    """Entries with occurred_at spread over past days, written as the journal writes them (the
    journal's own INSERT), as an import of history would: record() dates entries now."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO protection_journalentry (public_id, occurred_at, event_type, actor_type, actor_id,
                   actor_label, organisation_id, subject, purpose, contract, outcome, request_id, data)
            SELECT gen_random_uuid(), now() - (g %% %s) * interval '1 day' - (g %% 7) * interval '1 hour',
                   CASE WHEN g %% 3 = 0 THEN 'exchange.gateway_call' ELSE 'identity.fs_signed_in' END,
                   'system', '', '', (%s::text[])[1 + g %% array_length(%s::text[], 1)], '', '', '',
                   'success', '', json_build_object('fs', 'fs-' || (g %% 4), 'fi', 'fi-' || (g %% 2),
                                                    'api', 'api-' || (g %% 5))
              FROM generate_series(1, 400) AS g
            """,
            [days, [str(o.public_id) for o in organisations], [str(o.public_id) for o in organisations]],
        )


@pytest.mark.django_db
def test_rebuild_gives_the_numbers_of_the_incremental_runs():
    organisations = [OrganisationFactory(), OrganisationFactory(commune=True)]
    _entries_over_days(organisations, days=20)
    aggregation.aggregate_pending(chunk=150)
    for _ in range(5):
        sign_in(organisations[0])
        exchange(organisations[1])
        journal.flush()
        aggregation.aggregate_pending(chunk=3)
    _entries_over_days(organisations, days=20)
    drain(chunk=97)
    incremental = cells()
    assert sum(cells(cuboid=Cuboid.STAR).values()) == 810

    today = timezone.localdate()
    call_command("rebuild_opendata", "--from", str(today - timedelta(days=30)), "--to", str(today))

    assert cells() == incremental
    # A part of the period only: the other days are untouched, the rebuilt ones identical.
    aggregation.rebuild(today - timedelta(days=5), today - timedelta(days=2))
    assert cells() == incremental


@pytest.mark.django_db
def test_rebuild_leaves_entries_above_the_mark_to_the_next_incremental_run():
    organisation = OrganisationFactory()
    sign_in(organisation)
    journal.flush()
    aggregation.aggregate_pending()
    sign_in(organisation)  # above the mark
    journal.flush()
    today = timezone.localdate()

    aggregation.rebuild(today, today)
    assert totals() == {"sign_ins": 1}
    aggregation.aggregate_pending()
    assert totals() == {"sign_ins": 2}


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_aggregates_through_a_real_worker(celery_worker):
    from opendata.tasks import aggregate_journal_task

    organisation = OrganisationFactory()
    for _ in range(12):
        sign_in(organisation)
    last = journal.record("identity.fs_signed_in", actor=None, organisation=organisation, data={})

    aggregate_journal_task.delay()
    deadline = time.monotonic() + 30
    while not AggregationState.objects.filter(last_entry_id__gte=last.id).exists():
        assert time.monotonic() < deadline, celery_worker.log()[-3000:]
        time.sleep(0.2)

    assert totals() == {"sign_ins": 13}
    # Then the landing page's tables were computed for its next visitor: the "types" view is cached.
    types = dataclasses.replace(selectors.parse_query({}), metric=None, group_by=("metric",))
    key = selectors._cache_key(types, selectors.statistics_version())
    while (cached := cache.get(key)) is None:
        assert time.monotonic() < deadline, celery_worker.log()[-3000:]
        time.sleep(0.2)
    assert cached.total == 13


@pytest.mark.django_db
def test_queries_read_the_roll_ups_and_months_yet_give_the_star_tables_numbers(settings):
    """Whatever cuboid and grain a query reads (monthly rows inside the range, daily ones at its ends),
    its cells are those of the daily star table."""
    settings.OPENDATA_SUPPRESSION_THRESHOLD = 1  # nothing hidden: the raw cells are compared
    organisations = [OrganisationFactory(), OrganisationFactory(commune=True)]
    _entries_over_days(organisations, days=100)
    drain(chunk=1000)
    star = list(DailyStat.objects.filter(cuboid=Cuboid.STAR).values())
    today = timezone.localdate()
    first, last = today - timedelta(days=95), today - timedelta(days=3)

    for params in (
        {},
        {"group_by": "metric"},
        {"group_by": "region", "granularity": "month"},
        {"group_by": "service", "metric": "sign_ins"},
        {"group_by": "api,departement"},
        {"group_by": "metric", "granularity": "week"},
        {"group_by": "identity_provider", "region": "84"},
        {"group_by": "organisation_kind", "granularity": "day"},
    ):
        query = selectors.parse_query({"from": str(first), "to": str(last), **params})
        expected: dict = {}
        for row in star:
            if not first <= row["day"] <= last or (query.region and row["region"] != query.region):
                continue
            if query.metric and row["metric"] != query.metric:
                continue
            period = {"day": row["day"], "week": row["day"] - timedelta(days=row["day"].weekday()),
                      "month": row["day"].replace(day=1), None: None}[query.granularity]  # fmt: skip
            key = ((period.isoformat(),) if period else ()) + tuple(row[d] for d in query.group_by)
            expected[key] = expected.get(key, 0) + row["count"]

        result = selectors.run(query)

        got = {
            ((row["period"],) if "period" in row else ()) + tuple(row[d] for d in query.group_by): row[
                "value"
            ]
            for row in result.rows
        }
        assert got == expected, params
