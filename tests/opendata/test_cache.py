"""The published tables are cached under the statistics' version, which every write to DailyStat changes."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.translation import override

from opendata import aggregation, selectors
from opendata.models import DailyStat
from protection import journal
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _threshold(settings):
    settings.OPENDATA_SUPPRESSION_THRESHOLD = 1


def _query(**changes) -> selectors.StatsQuery:
    today = timezone.localdate()
    base = selectors.StatsQuery(None, ("metric",), today - timedelta(days=6), today)
    return selectors.StatsQuery(**{**base.__dict__, **changes})


def _cell(count: int, metric: str = "sign_ins") -> None:
    today = timezone.localdate()
    DailyStat.objects.create(day=today, metric=metric, count=count, departement="75", region="11")
    aggregation.rollup(today, today)  # the cuboids the queries read


def _values(result) -> dict:
    return {row["metric"]: row["value"] for row in result.rows}


def test_every_write_to_the_statistics_gives_a_new_version():
    _cell(5)
    first = selectors.statistics_version()
    DailyStat.objects.filter(metric="sign_ins").update(count=6)
    second = selectors.statistics_version()
    DailyStat.objects.all().delete()
    third = selectors.statistics_version()

    assert None not in (first, second, third)
    assert len({first, second, third}) == 3


def test_a_second_reading_comes_from_the_cache_until_the_figures_change():
    _cell(5)
    query = _query()
    assert _values(selectors.run(query)) == {"sign_ins": 5}

    with CaptureQueriesContext(connection) as queries:
        again = selectors.run(query)
    assert _values(again) == {"sign_ins": 5}
    # Only the version was read: the cells, their suppression and labels came from the cache.
    assert [q["sql"] for q in queries.captured_queries if "opendata_dailystat" in q["sql"]] == []

    _cell(7, metric="exchanges")
    assert _values(selectors.run(query)) == {"sign_ins": 5, "exchanges": 7}


def test_aggregating_new_entries_is_seen_by_the_next_request(api_client):
    organisation = OrganisationFactory(departement_code="23", region_code="75")

    def signed_in():
        journal.record(
            "identity.fs_signed_in",
            actor=None,
            organisation=organisation,
            data={"fi": "fi-demo", "fs": "fs-demo"},
        )
        journal.flush()

    def sign_ins() -> int:
        response = api_client.get("/api/v1/opendata/stats", {"metric": "sign_ins"})
        assert response.status_code == 200
        return response.json()["total"]

    signed_in()
    aggregation.aggregate_pending()
    assert sign_ins() == 1
    assert sign_ins() == 1  # cached
    signed_in()
    aggregation.aggregate_pending()
    assert sign_ins() == 2


def test_the_key_holds_the_threshold_and_the_language(settings):
    _cell(5)
    query = _query(group_by=("metric",))
    assert _values(selectors.run(query)) == {"sign_ins": 5}
    settings.OPENDATA_SUPPRESSION_THRESHOLD = 11
    assert _values(selectors.run(query)) == {"sign_ins": None}

    settings.OPENDATA_SUPPRESSION_THRESHOLD = 1
    with override("fr"):
        french = selectors.run(query).rows[0]["metric_label"]
    with override("en"):
        english = selectors.run(query).rows[0]["metric_label"]
    assert (french, english) == ("Connexions", "Sign-ins")


def test_a_page_reads_the_version_once(client):
    _cell(50)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/statistiques").status_code == 200
    versions = [q for q in queries.captured_queries if "opendata_statisticsversion" in q["sql"]]
    assert len(versions) == 1


def test_nothing_is_cached_without_a_version():
    # A flushed database (live-server tests) has no version row until the next write: every reading is
    # computed then.
    from opendata.models import StatisticsVersion

    _cell(5)
    StatisticsVersion.objects.all().delete()
    assert selectors.statistics_version() is None
    assert _values(selectors.run(_query())) == {"sign_ins": 5}
    DailyStat.objects.filter(cuboid=0).delete()
    _cell(8)
    StatisticsVersion.objects.all().delete()
    assert _values(selectors.run(_query())) == {"sign_ins": 8}
