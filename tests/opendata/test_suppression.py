"""Statistical disclosure control proven on crafted tables: no small count is published, and none can be
recomputed from what is published (totals, margins that other queries return, neighbouring cells)."""

import itertools
from datetime import date, timedelta

import pytest

from opendata import aggregation, selectors
from opendata.models import DailyStat
from opendata.suppression import suppress

DAY = date(2026, 3, 2)  # a Monday
THRESHOLD = 11


@pytest.fixture(autouse=True)
def _threshold(settings):
    settings.OPENDATA_SUPPRESSION_THRESHOLD = THRESHOLD


def stat(count, *, day=DAY, metric="sign_ins", departement="75", region=None, **dimensions):
    from platform_core.geography import REGION_OF_DEPARTEMENT

    return DailyStat.objects.create(
        day=day, metric=metric, departement=departement,
        region=region if region is not None else REGION_OF_DEPARTEMENT.get(departement, ""),
        count=count, **dimensions,
    )  # fmt: skip


def query(**params):
    params = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=27)).isoformat(), **params}
    aggregation.rollup(DAY - timedelta(days=40), DAY + timedelta(days=40))  # the crafted cells' roll-ups
    return selectors.run(selectors.parse_query(params))


def published(result, key: str) -> dict:
    return {row[key]: row["value"] for row in result.rows if not row["suppressed"]}


def hidden(result, key: str) -> set:
    return {row[key] for row in result.rows if row["suppressed"]}


def assert_protected(cells: dict, suppressed: set, lines, threshold=THRESHOLD):
    """What an attacker holding every published cell and every line's total can learn: for each line,
    total − sum(published) = sum of its hidden cells. That sum must stand for two cells or more and be
    no smaller than the threshold; and no cell under the threshold is published."""
    for key, value in cells.items():
        if 0 < value < threshold:
            assert key in suppressed, key
    for line in lines:
        hidden_here = [key for key in line if key in suppressed]
        if not hidden_here:
            continue
        residual = sum(cells[key] for key in line) - sum(cells[key] for key in line if key not in suppressed)
        others = [key for key in line if key not in suppressed and cells[key] > 0]
        assert (len(hidden_here) >= 2 and residual >= threshold) or not others, (line, hidden_here, residual)


# --- The algorithm on its own -----------------------------------------------------------------


def test_primary_cells_under_the_threshold_are_hidden_zeros_and_larger_ones_are_not():
    cells = {"a": 0, "b": 1, "c": 10, "d": 11, "e": 500}

    assert suppress(cells, [], THRESHOLD) == {"b", "c"}


def test_a_lone_hidden_cell_in_a_line_takes_the_next_smallest_with_it():
    cells = {"a": 3, "b": 40, "c": 12, "d": 900}

    assert suppress(cells, [list(cells)], THRESHOLD) == {"a", "c"}


def test_two_hidden_cells_whose_sum_is_still_small_take_a_third():
    # 1 + 2 = 3: total − published would tell that both together are 3.
    cells = {"a": 1, "b": 2, "c": 15, "d": 40}

    suppressed = suppress(cells, [list(cells)], THRESHOLD)

    assert suppressed == {"a", "b", "c"}
    assert_protected(cells, suppressed, [list(cells)])


def test_random_two_way_tables_with_all_their_margins_are_protected():
    import random

    generator = random.Random(20261129)
    for _ in range(200):
        rows, columns = generator.randint(1, 6), generator.randint(1, 6)
        cells = {
            (r, c): generator.choice([0, 0, 1, 2, 3, 5, 9, 10, 11, 12, 20, 35, 80, 400])
            for r, c in itertools.product(range(rows), range(columns))
        }
        lines = [[(r, c) for c in range(columns)] for r in range(rows)]
        lines += [[(r, c) for r in range(rows)] for c in range(columns)]
        lines.append(list(cells))

        assert_protected(cells, suppress(cells, lines, THRESHOLD), lines)


# --- Through the selectors, on crafted data -------------------------------------------------------


@pytest.mark.django_db
def test_one_small_departement_is_hidden_with_the_next_smallest_and_the_total_does_not_reveal_it():
    stat(500, departement="75")
    stat(3, departement="23")  # Creuse: the small one
    stat(40, departement="13")
    stat(12, departement="69")

    result = query(group_by="departement")

    assert hidden(result, "departement") == {"23", "69"}
    assert result.total == 555
    # The attacker: the total minus everything published.
    residual = result.total - sum(published(result, "departement").values())
    assert residual == 15  # Creuse and Rhône together: neither can be told
    rows = {row["departement"]: row for row in result.rows}
    assert rows["23"] == {
        "departement": "23",
        "departement_label": "Creuse",
        "value": None,
        "suppressed": True,
    }


@pytest.mark.django_db
def test_a_departement_cannot_be_recomputed_from_its_region_total():
    # Nouvelle-Aquitaine (75): Creuse 4, Corrèze 300, Gironde 900; the région's total is published by
    # group_by=region. Only one cell of the région would be hidden by the national line alone.
    stat(4, departement="23")
    stat(300, departement="19")
    stat(900, departement="33")
    stat(5, departement="75")  # Paris, another région: the national line is satisfied by it already
    stat(700, departement="13")

    result = query(group_by="departement")
    regions = query(group_by="region")

    in_region = {row["departement"]: row for row in result.rows if row["departement"] in ("23", "19", "33")}
    hidden_here = [code for code, row in in_region.items() if row["suppressed"]]
    assert "23" in hidden_here and len(hidden_here) >= 2
    region_total = published(regions, "region")["75"]
    residual = region_total - sum(row["value"] or 0 for row in in_region.values())
    assert residual >= THRESHOLD


@pytest.mark.django_db
def test_a_time_series_by_dimension_is_protected_against_its_row_and_column_totals():
    # Weeks × identity providers; the week totals (granularity only) and the provider totals (group_by
    # only) are both published by the API.
    counts = {
        ("fi-a", 0): 200, ("fi-a", 1): 180, ("fi-a", 2): 210,
        ("fi-b", 0): 2, ("fi-b", 1): 30, ("fi-b", 2): 25,
        ("fi-c", 0): 60, ("fi-c", 1): 7, ("fi-c", 2): 55,
    }  # fmt: skip
    for (fi, week), count in counts.items():
        stat(count, day=DAY + timedelta(weeks=week), identity_provider=fi)

    table = query(group_by="identity_provider", granularity="week")
    by_week = query(granularity="week")
    by_fi = query(group_by="identity_provider")

    cells = {(row["period"], row["identity_provider"]): row for row in table.rows}
    truth = {key: counts[(key[1], (date.fromisoformat(key[0]) - DAY).days // 7)] for key in cells}
    suppressed = {key for key, row in cells.items() if row["suppressed"]}
    lines = [[key for key in cells if key[0] == period] for period in {key[0] for key in cells}]
    lines += [[key for key in cells if key[1] == fi] for fi in {key[1] for key in cells}]
    lines.append(list(cells))
    assert_protected(truth, suppressed, lines)
    # The margins the attacker would use are published, and they are the true sums.
    assert not any(row["suppressed"] for row in by_week.rows + by_fi.rows)
    assert sum(row["value"] for row in by_week.rows) == sum(counts.values()) == table.total


@pytest.mark.django_db
def test_a_small_total_is_suppressed_with_every_cell():
    stat(4, metric="exchanges")
    stat(3, metric="sign_ins")

    result = query(group_by="metric")
    total_only = query()

    assert result.total is None and result.total_suppressed
    assert all(row["suppressed"] and row["value"] is None for row in result.rows)
    assert total_only.total is None and total_only.rows == [{"value": None, "suppressed": True}]


@pytest.mark.django_db
def test_key_figures_hide_small_metrics_and_their_trend_consistently_with_the_api():
    stat(300, metric="sign_ins")
    stat(120, metric="exchanges")
    stat(5, metric="habilitations")
    stat(200, metric="sign_ins", day=DAY - timedelta(days=5))
    stat(150, metric="exchanges", day=DAY - timedelta(days=5))

    aggregation.rollup(DAY - timedelta(days=10), DAY + timedelta(days=10))
    figures = {figure["metric"]: figure for figure in selectors.key_figures(DAY, DAY + timedelta(days=6))}
    api = query(group_by="metric", to=(DAY + timedelta(days=6)).isoformat())

    assert figures["habilitations"]["value"] is None and figures["habilitations"]["suppressed"]
    # Habilitations alone would be total − the others: the smallest other metric goes with it.
    assert figures["exchanges"]["suppressed"] and figures["exchanges"]["trend_percent"] is None
    sign_ins = figures["sign_ins"]
    assert (sign_ins["value"], sign_ins["previous_value"], sign_ins["trend_percent"]) == (300, 200, 50.0)
    published = ("sign_ins", "exchanges", "habilitations")
    assert {row["metric"]: row["value"] for row in api.rows} == {
        metric: figure["value"] for metric, figure in figures.items() if metric in published
    }
    assert figures["payments"]["value"] == 0 and not figures["payments"]["suppressed"]
