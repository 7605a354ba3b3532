"""/api/v1/opendata/: bad input is a problem+json 400 naming the parameter, never a 500; CSV and JSON
carry the same cells; the data dictionary and the DCAT record have the shape harvesters expect; a proof
checks against the published seals; the API is rate-limited."""

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from opendata import aggregation
from opendata.models import DailyStat
from platform_core.geography import REGION_OF_DEPARTEMENT
from protection import journal, sealing
from protection.proof import verify_proof
from tests.factories import UserFactory
from tests.problems import assert_problem

pytestmark = pytest.mark.django_db
STATS = "/api/v1/opendata/stats"


@pytest.fixture(autouse=True)
def _own_rate_limits(settings):
    settings.RATE_LIMIT_CACHE_PREFIX = f"test-ratelimit-{uuid.uuid4().hex}"
    settings.OPENDATA_SUPPRESSION_THRESHOLD = 11


@pytest.fixture
def stats():
    today = timezone.localdate()
    rows = [
        (0, "sign_ins", "75", "fi-a", 400),
        (0, "sign_ins", "23", "fi-a", 3),
        (1, "sign_ins", "13", "fi-b", 120),
        (1, "exchanges", "13", "", 60),
        (8, "exchanges", "69", "", 14),
        (40, "sign_ins", "2A", "fi-b", 25),
    ]
    for days_ago, metric, departement, fi, count in rows:
        DailyStat.objects.create(
            day=today - timedelta(days=days_ago), metric=metric, identity_provider=fi,
            departement=departement, region=REGION_OF_DEPARTEMENT[departement], count=count,
            organisation_kind="commune",
        )  # fmt: skip
    aggregation.rollup(today - timedelta(days=60), today)
    return rows


def errors_of(response) -> dict:
    return {error["field"]: error["code"] for error in response.json()["errors"]}


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"metric": "bitcoins"}, "metric", "unknown_metric"),
        ({"group_by": "departement,shoe_size"}, "group_by", "unknown_dimension"),
        ({"group_by": "region,region"}, "group_by", "duplicate_dimension"),
        ({"group_by": "metric,region,api"}, "group_by", "too_many_dimensions"),
        ({"group_by": "metric,region", "granularity": "week"}, "group_by", "too_many_dimensions"),
        ({"granularity": "hour"}, "granularity", "unknown_granularity"),
        ({"departement": "20"}, "departement", "unknown_departement"),
        ({"departement": "<script>"}, "departement", "unknown_departement"),
        ({"region": "99"}, "region", "unknown_region"),
        ({"departement": "23", "region": "11"}, "departement", "departement_outside_region"),
        ({"from": "2026-02-30"}, "from", "invalid_date"),
        ({"to": "demain"}, "to", "invalid_date"),
        ({"from": "1899-01-01", "to": "1899-12-31"}, "from", "date_too_early"),
        ({"from": "2026-05-01", "to": "2026-04-01"}, "from", "inverted_range"),
        ({"from": "2015-01-01", "to": "2026-01-01"}, "from", "range_too_long"),
        ({"to": "2999-01-01"}, "to", "date_in_future"),
        ({"from": "2023-06-01", "to": "2026-01-01", "granularity": "day"}, "granularity", "too_many_periods"),
        ({"from": "2024-12-01", "to": "2026-01-01", "granularity": "day", "group_by": "departement"},
         "granularity", "too_many_periods"),
    ],
)  # fmt: skip
def test_bad_parameters_are_a_problem_naming_them(api_client, params, field, code):
    for url in (STATS, f"{STATS}.csv"):
        response = api_client.get(url, params)

        body = assert_problem(response, 400, "invalid-stats-query")
        assert errors_of(response).get(field) == code, body


def test_every_bad_parameter_is_named_at_once(api_client):
    response = api_client.get(STATS, {"metric": "x", "group_by": "y", "region": "z", "to": "nope"})

    assert set(errors_of(response)) == {"metric", "group_by", "region", "to"}


def test_json_rows_with_labels_and_suppression(api_client, stats):
    response = api_client.get(STATS, {"group_by": "departement", "metric": "sign_ins"})

    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    body = response.json()
    assert body["threshold"] == 11
    assert body["licence"]["url"] == "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
    rows = {row["departement"]: row for row in body["rows"]}
    assert rows["75"] == {
        "departement": "75",
        "departement_label": "Paris",
        "value": 400,
        "suppressed": False,
    }
    assert rows["23"]["value"] is None and rows["23"]["suppressed"]
    # Creuse alone hidden would be total − published: Corse-du-Sud (the next smallest) goes with it.
    assert rows["2A"]["suppressed"]
    assert body["total"] == 548


def test_csv_and_json_carry_the_same_cells(api_client, stats):
    since = timezone.localdate() - timedelta(days=60)
    params = {"group_by": "identity_provider", "granularity": "week", "from": since.isoformat()}
    json_rows = api_client.get(STATS, params).json()["rows"]

    for url, extra in ((f"{STATS}.csv", {}), (STATS, {"format": "csv"})):
        response = api_client.get(url, {**params, **extra})
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert "attachment" in response["Content-Disposition"]
        text = response.content.decode("utf-8")
        reader = csv.DictReader(io.StringIO(text))
        assert reader.fieldnames == [
            "period",
            "identity_provider",
            "identity_provider_label",
            "value",
            "suppressed",
        ]
        csv_rows = list(reader)
        assert len(csv_rows) == len(json_rows)
        for csv_row, json_row in zip(csv_rows, json_rows, strict=True):
            assert csv_row["period"] == json_row["period"]
            assert csv_row["identity_provider"] == json_row["identity_provider"]
            assert csv_row["value"] == ("" if json_row["value"] is None else str(json_row["value"]))
            assert csv_row["suppressed"] == ("true" if json_row["suppressed"] else "false")


def test_key_figures(api_client, stats):
    response = api_client.get(
        "/api/v1/opendata/key-figures", {"from": str(timezone.localdate() - timedelta(6))}
    )

    assert response.status_code == 200
    figures = {figure["metric"]: figure for figure in response.json()}
    assert figures["sign_ins"]["value"] == 523 and figures["sign_ins"]["previous_value"] == 0
    assert_problem(
        api_client.get("/api/v1/opendata/key-figures", {"to": "2999-01-01"}), 400, "invalid-stats-query"
    )


def test_table_schema_describes_every_column_the_csv_can_have(api_client, stats):
    schema = api_client.get("/api/v1/opendata/schema.json").json()

    names = [field["name"] for field in schema["fields"]]
    assert names[0] == "period" and names[-2:] == ["value", "suppressed"]
    for field in schema["fields"]:
        assert field["type"] in {"string", "integer", "boolean", "date"}
        assert field["title"] and field["description"]
    assert schema["missingValues"] == [""]
    assert schema["encoding"] == "utf-8"
    assert schema["licenses"][0]["path"] == "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
    # Every CSV header, for any grouping: the period, the group_by columns in their order, value, suppressed.
    for params, expected in (
        ({"group_by": "region,metric"}, ["region", "region_label", "metric", "metric_label"]),
        ({"granularity": "month", "group_by": "api"}, ["period", "api", "api_label"]),
        ({}, []),
    ):
        header = api_client.get(f"{STATS}.csv", params).content.decode().splitlines()[0].split(",")
        assert header == [*expected, "value", "suppressed"]
        assert set(header) <= set(names)


def test_dcat_record(api_client, stats):
    record = api_client.get("/api/v1/opendata/catalog.json").json()

    assert record["@type"] == "dcat:Dataset"
    assert {"dcat", "dct", "foaf"} <= set(record["@context"])
    assert record["dct:license"]["@id"] == "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
    assert record["dct:publisher"]["foaf:name"]
    assert record["dct:accrualPeriodicity"]["@id"].endswith("/daily")
    assert record["dct:temporal"]["dcat:startDate"] == (timezone.localdate() - timedelta(days=40)).isoformat()
    assert record["dct:temporal"]["dcat:endDate"] == timezone.localdate().isoformat()
    media = {item["dcat:mediaType"] for item in record["dcat:distribution"]}
    assert media == {"text/csv", "application/json"}
    for distribution in record["dcat:distribution"]:
        path = distribution["dcat:downloadURL"].split("://", 1)[1].split("/", 1)[1]
        assert api_client.get(f"/{path}").status_code == 200, path


def test_openness_json_and_csv(api_client):
    body = api_client.get("/api/v1/opendata/organisations").json()
    assert {
        "total",
        "by_role",
        "by_role_and_kind",
        "by_departement",
        "by_region",
        "service_providers",
        "apis",
    } <= set(body)

    response = api_client.get("/api/v1/opendata/organisations.csv")
    assert response.status_code == 200
    assert response.content.decode().splitlines()[0] == "section,key,key_2,label,value,suppressed"


def test_a_proof_checks_against_the_published_root_of_its_day(api_client):
    agent = UserFactory()
    entry = journal.record("platform.organisation_changed", actor=agent, data={"fields": ["name"]})
    sealing.seal_pending()
    api_client.force_authenticate(agent)
    proof = api_client.get(f"/api/v1/journal/entries/{entry.public_id}/proof").json()
    api_client.force_authenticate(None)

    published = api_client.get("/api/v1/opendata/seals", {"date": timezone.localdate().isoformat()}).json()
    seal = next(
        seal for seal in published["seals"] if seal["first_entry_id"] <= entry.id <= seal["last_entry_id"]
    )
    keys = {key["key_id"]: key["public_key"] for key in api_client.get("/api/v1/journal/keys").json()}

    # The proof's seal is the published one, and the proof holds with the published key only.
    assert seal == {name: proof["seal"][name] for name in seal}
    verify_proof({**proof, "seal": seal, "public_key": None}, public_key=keys[seal["key_id"]])
    csv_rows = list(
        csv.DictReader(io.StringIO(api_client.get("/api/v1/opendata/seals.csv").content.decode()))
    )
    assert any(row["merkle_root"] == seal["merkle_root"] for row in csv_rows)
    # A root other than the published one does not verify.
    forged = {**seal, "merkle_root": "00" * 32}
    with pytest.raises(Exception, match="racine"):
        verify_proof({**proof, "seal": forged}, public_key=keys[seal["key_id"]])


def test_seals_of_a_bad_or_future_day_are_a_400(api_client):
    assert_problem(api_client.get("/api/v1/opendata/seals", {"date": "hier"}), 400, "invalid-stats-query")
    assert_problem(
        api_client.get("/api/v1/opendata/seals", {"date": "2999-01-01"}), 400, "invalid-stats-query"
    )
    assert api_client.get("/api/v1/opendata/seals", {"date": "2020-01-01"}).json()["seals"] == []


def test_the_api_is_rate_limited_per_address(api_client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "opendata": {"ip": "3/min"}}

    statuses = [api_client.get(STATS).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"group_by": ",,,", "from": "", "metric": ""}, 200),  # empty values: the defaults
        ({"metric": "\x00"}, 400),
        ({"departement": "9" * 5000}, 400),
        ({"group_by": ",".join(["departement"] * 500)}, 400),
        ({"from": "2026-01-01T00:00:00"}, 400),
        ({"from": "+12026-01-01"}, 400),
        ({"format": "xml"}, 404),
    ],
)
def test_odd_requests_are_never_a_500(api_client, params, status):
    response = api_client.get(STATS, params)

    assert response.status_code == status
    if status >= 400:
        assert response["Content-Type"] == "application/problem+json"
