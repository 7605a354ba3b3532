"""/statistiques: the public page of the open-data statistics, read as a visitor without JavaScript reads it
(the tables), with its filters in the address, its downloads, and the same numbers as the API."""

import json
import re
import uuid
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from opendata import aggregation
from platform_core.enums import OrganisationKind
from protection import journal
from tests.factories import OrganisationFactory

SECRET = "secret statistique"
CHART_SLOTS = (
    "evolution",
    "types",
    "fournisseurs-identite",
    "carte-regions",
    "carte-departements",
    "classement-services",
    "classement-api",
)
VIEW_TABLES = tuple(f"{slot}-table" for slot in CHART_SLOTS)


@pytest.fixture(autouse=True)
def _own_rate_limits(settings):
    # The open-data API is rate-limited per address: each test its own counters.
    settings.RATE_LIMIT_CACHE_PREFIX = f"test-ratelimit-{uuid.uuid4().hex}"


def organisation(commune: str, departement: str, region: str):
    return OrganisationFactory(
        kind=OrganisationKind.COMMUNE, commune_code=commune, departement_code=departement, region_code=region
    )


@pytest.fixture
def activity():
    """Journaled activity, aggregated: Lyon (69, région 84) and Paris (75, région 11) well above the
    threshold; Guéret (23, région 75) with 3 sign-ins, a secret cell wherever it stands alone."""
    lyon = organisation("69123", "69", "84")
    paris = organisation("75056", "75", "11")
    gueret = organisation("23096", "23", "75")
    for place, count, fs, fi in (
        (lyon, 40, "mairie-demo", "demo-fi"),
        (paris, 25, "caf-en-ligne", "autre-fi"),
    ):
        for _ in range(count):
            journal.record("identity.fs_signed_in", actor=None, organisation=place, data={"fs": fs, "fi": fi})
    for _ in range(3):
        journal.record(
            "identity.fs_signed_in",
            actor=None,
            organisation=gueret,
            data={"fs": "mairie-demo", "fi": "demo-fi"},
        )
    for _ in range(30):
        journal.record(
            "exchange.gateway_call", actor=None, organisation=lyon, data={"api": "impots", "status": 200}
        )
    aggregation.aggregate_pending()


class Page(HTMLParser):
    """The parts of the page the tests read: tables by id (rows of cell texts, links of their cells),
    links by their text, script elements, the chart slots."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.table_links: dict[str, list[str]] = {}
        self.links: list[tuple[str, str]] = []
        self.scripts: list[dict] = []
        self.chart_slots: list[dict] = []
        self._table = None
        self._row = None
        self._cell = None
        self._link = None
        self._script = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id", "")
            self.tables[self._table] = []
            self.table_links[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "a":
            self._link = [attrs.get("href", ""), []]
            if self._table is not None:
                self.table_links[self._table].append(attrs.get("href", ""))
        elif tag == "script":
            self._script = {**attrs, "text": ""}
        elif attrs.get("data-chart"):
            self.chart_slots.append(attrs)

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "tr" and self._row is not None:
            if self._row and self._table is not None:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "a" and self._link is not None:
            self.links.append((self._link[0], " ".join("".join(self._link[1]).split())))
            self._link = None
        elif tag == "script" and self._script is not None:
            self.scripts.append(self._script)
            self._script = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._link is not None:
            self._link[1].append(data)
        if self._script is not None:
            self._script["text"] += data

    def body(self, table_id: str) -> dict[str, str]:
        """A two-column table's body as {first cell: second cell}."""
        return {row[0]: row[1] for row in self.tables[table_id][1:]}

    def chart(self, chart_id: str) -> dict:
        script = next(script for script in self.scripts if script.get("id") == f"{chart_id}-chart")
        return json.loads(script["text"])

    def hrefs(self, text: str) -> list[str]:
        return [href for href, label in self.links if label == text]


def page(client, query: str = "", status: int = 200) -> Page:
    response = client.get("/statistiques" + query)
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    return Page(response.content.decode())


def api_cells(client, url: str, dimension: str) -> dict[str, int | None]:
    response = client.get(url)
    assert response.status_code == 200, response.content
    return {row[dimension]: row["value"] for row in response.json()["rows"]}


def number(text: str) -> int | None:
    return None if text == SECRET else int(re.sub(r"\D", "", text))


@pytest.mark.django_db
def test_every_chart_has_its_table_in_the_page_itself_so_it_reads_without_javascript(client, activity):
    html = page(client)

    for table_id in VIEW_TABLES:
        assert html.tables[table_id], table_id
        header = html.tables[table_id][0]
        assert header and all(header), table_id
    # The chart slots are hidden until static/js/statistiques.js fills them.
    assert {slot["data-chart"] for slot in html.chart_slots} == set(CHART_SLOTS)
    assert all("hidden" in slot for slot in html.chart_slots)
    # No inline script (CSP): files, or JSON data blocks.
    for script in html.scripts:
        assert script.get("src") or script.get("type") == "application/json", script
    sources = [script["src"] for script in html.scripts if script.get("src")]
    assert "/static/npm/%40gouvfr/dsfr-chart/dist/DSFRChart/DSFRChart.js" in sources
    assert "/static/js/statistiques.js" in sources

    assert html.body("types-table")["Connexions"] == "68"
    assert html.body("types-table")["Échanges de données"] == "30"
    assert html.body("carte-regions-table")["Auvergne-Rhône-Alpes"] == "70"
    assert html.body("classement-services-table")["mairie-demo"] == "43"
    assert html.body("classement-api-table")["impots"] == "30"
    # The maps: dsfr-chart's région codes, every area drawn (0 where nothing happened).
    regions = html.chart("carte-regions")
    assert regions["tag"] == "map-chart" and regions["attrs"]["level"] == "reg"
    assert json.loads(regions["attrs"]["data"])["ARA"] == 70
    assert json.loads(regions["attrs"]["data"])["BRE"] == 0
    departements = html.chart("carte-departements")
    assert json.loads(departements["attrs"]["data"])["69"] == 70
    assert len(json.loads(departements["attrs"]["data"])) >= 96


@pytest.mark.django_db
def test_key_figures_show_each_metric_with_its_trend(client, activity):
    # The period before the default 90 days: half today's sign-ins.
    lyon = organisation("69123", "69", "84")
    for _ in range(34):
        journal.record(
            "identity.fs_signed_in",
            actor=None,
            organisation=lyon,
            data={"fs": "mairie-demo", "fi": "demo-fi"},
            occurred_at=timezone.now() - timedelta(days=120),
        )
    aggregation.aggregate_pending()

    content = client.get("/statistiques").content.decode()

    assert re.search(r'fr-tile__title">Connexions</h3>\s*<p[^>]*>68</p>', content)
    assert "En hausse de 100,0 %" in content
    assert "Pas de comparaison possible" in content  # exchanges: nothing in the period before


@pytest.mark.django_db
def test_suppressed_cells_read_secret_statistique_never_zero_and_stay_off_the_charts(client, activity):
    html = page(client, "?metric=sign_ins")

    departements = html.body("carte-departements-table")
    assert departements["Creuse (23)"] == SECRET
    # Secondary suppression: another cell goes too, so that Creuse cannot be recomputed from the total.
    assert list(departements.values()).count(SECRET) >= 2
    assert "3" not in departements.values() and "0" not in departements.values()
    # The map leaves secret areas out (greyed by statistiques.css), never draws them as 0.
    drawn = json.loads(html.chart("carte-departements")["attrs"]["data"])
    secret = {label.rsplit("(", 1)[1].rstrip(")") for label, text in departements.items() if text == SECRET}
    assert "23" in secret and not secret & drawn.keys()
    # The rule and the threshold are explained, and every secret cell links to it.
    content = " ".join(client.get("/statistiques?metric=sign_ins").content.decode().split())
    assert 'id="secret-statistique"' in content
    assert "une case qui compte moins de 11 événements n'est pas publiée" in content.replace("&#x27;", "'")
    assert "#secret-statistique" in html.table_links["carte-departements-table"]


@pytest.mark.django_db
def test_filters_are_kept_in_the_address_and_in_every_link(client, activity):
    query = "?from=2026-01-01&to=2026-03-31&granularity=week&metric=sign_ins&region=84"
    response = client.get("/statistiques" + query)
    assert response.status_code == 200
    content = response.content.decode()
    html = Page(content)

    # The GET form shows the filters as asked, each with its label.
    assert 'id="filtre-from" name="from" value="2026-01-01"' in content
    assert 'id="filtre-to" name="to" value="2026-03-31"' in content
    assert '<option value="week" selected>' in content
    assert '<option value="sign_ins" selected>' in content
    assert '<option value="84" selected>' in content
    for name in ("from", "to", "granularity", "metric", "region", "departement"):
        assert f'<label class="fr-label" for="filtre-{name}">' in content
    assert '<form method="get" action="/statistiques"' in content
    # Drilled down to the région: its départements, and the way back keeps the other filters.
    assert "carte-regions-table" not in html.tables
    assert html.chart("carte-departements")["tag"] == "map-chart-reg"
    assert html.chart("carte-departements")["attrs"]["region"] == "ARA"
    back = html.hrefs("Revenir à la France entière")[0]
    assert parse_qs(urlsplit(back).query) == {
        "metric": ["sign_ins"],
        "from": ["2026-01-01"],
        "to": ["2026-03-31"],
        "granularity": ["week"],
    }
    # Every download carries the filters.
    downloads = html.hrefs("CSV") + html.hrefs("JSON")
    assert len(downloads) >= 2 * 6
    for href in downloads:
        params = parse_qs(urlsplit(href).query)
        assert params["from"] == ["2026-01-01"] and params["to"] == ["2026-03-31"], href
        assert params["region"] == ["84"], href


@pytest.mark.django_db
def test_a_region_row_drills_down_to_the_page_filtered_on_it(client, activity):
    html = page(client, "?metric=sign_ins")

    drill = next(href for href in html.table_links["carte-regions-table"] if "region=84" in href)
    assert parse_qs(urlsplit(drill).query)["region"] == ["84"]
    assert parse_qs(urlsplit(drill).query)["metric"] == ["sign_ins"]
    # The région map drills to the same addresses, by dsfr-chart's codes.
    assert html.chart("carte-regions")["drill"]["ARA"] == drill

    drilled = page(client, drill.removeprefix("/statistiques").split("#")[0])
    assert drilled.body("carte-departements-table") == {"Rhône (69)": "40"}


@pytest.mark.django_db
def test_a_departement_filters_the_figures_and_the_map_shows_its_region(client, activity):
    html = page(client, "?departement=69")

    assert html.body("types-table") == {"Connexions": "40", "Échanges de données": "30"}
    assert html.chart("carte-departements")["attrs"]["region"] == "ARA"
    assert html.body("carte-departements-table") == {"Rhône (69)": "70"}
    assert '<option value="69" selected>' in client.get("/statistiques?departement=69").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("?metric=nope", ["metric"]),
        ("?departement=999", ["departement"]),
        ("?region=99", ["region"]),
        ("?from=2026-13-45", ["from"]),
        ("?from=2026-03-01&to=2026-01-01", ["from"]),
        ("?from=1990-01-01&to=2026-01-01", ["from"]),
        ("?to=2999-01-01", ["to"]),
        ("?granularity=hour&metric=%3Cscript%3E", ["granularity", "metric"]),
        ("?region=84&departement=75", ["departement"]),
        ("?group_by=metric,api,service", []),
    ],
)
def test_bad_filters_give_a_readable_page_naming_the_field(client, activity, query, fields):
    response = client.get("/statistiques" + query)

    assert response.status_code == 400
    content = response.content.decode()
    assert 'class="fr-alert fr-alert--error' in content
    alert = re.search(r'id="erreurs-filtres">(.*?)</div>', content, re.S).group(1)
    assert "<script>" not in alert
    for field in fields:
        assert f'href="#filtre-{field}"' in content  # the alert links to the field
        assert f'id="filtre-{field}-erreur"' in content  # the field shows its error
    # The default figures still show, with their tables.
    html = Page(content)
    assert html.body("types-table")["Connexions"] == "68"


@pytest.mark.django_db
def test_the_page_and_its_downloads_agree_with_the_api(client, activity):
    html = page(client, "?metric=sign_ins")

    links = html.hrefs("JSON")
    by_view = {
        "carte-regions-table": ("region", "/api/v1/opendata/stats?"),
        "carte-departements-table": ("departement", "/api/v1/opendata/stats?"),
        "fournisseurs-identite-table": ("identity_provider", "/api/v1/opendata/stats?"),
        "classement-services-table": ("service", "/api/v1/opendata/stats?"),
    }
    for table_id, (dimension, prefix) in by_view.items():
        url = next(
            href
            for href in links
            if href.startswith(prefix) and parse_qs(urlsplit(href).query).get("group_by") == [dimension]
        )
        from_api = api_cells(client, url, dimension)
        on_page = [number(value) for value in html.body(table_id).values()]
        assert sorted(on_page, key=str) == sorted(from_api.values(), key=str), table_id

    # The CSV of a view is the same query.
    csv_url = next(href for href in html.hrefs("CSV") if "group_by=departement" in href)
    response = client.get(csv_url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("departement,departement_label,value,suppressed")
    assert "69,Rhône,40,false" in lines
    assert "23,Creuse,,true" in lines

    # The time series' table and the API's.
    series = next(href for href in links if "granularity=" in href)
    rows = client.get(series).json()["rows"]
    assert sum(row["value"] or 0 for row in rows) == sum(
        number(row[1]) or 0 for row in html.tables["evolution-table"][1:]
    )


@pytest.mark.django_db
def test_downloads_section_links_data_dictionary_catalogue_and_licence(client, activity):
    response = client.get("/statistiques")
    content = response.content.decode()
    html = Page(content)

    assert 'id="telechargements"' in content
    hrefs = [href for href, _label in html.links]
    for url in (
        "/api/v1/opendata/schema.json",
        "/api/v1/opendata/catalog.json",
        "/api/v1/opendata/organisations.csv",
        "/api/v1/opendata/organisations",
        "/api/v1/opendata/seals.csv",
    ):
        assert url in hrefs, url
        assert client.get(url).status_code == 200, url
    assert "https://www.etalab.gouv.fr/licence-ouverte-open-licence/" in hrefs
    assert "Licence Ouverte 2.0" in content
    # Every view of the page in the downloads table, in both formats.
    assert len(html.tables["telechargements-table"]) - 1 == len(VIEW_TABLES)
    # The openness figures.
    assert html.tables["ouverture-roles"]


@pytest.mark.django_db
def test_the_page_needs_no_sign_in_and_is_linked_from_the_home_page(client):
    home = client.get("/").content.decode()
    assert 'href="/statistiques#telechargements"' in home

    response = client.get("/statistiques")
    assert response.status_code == 200
    assert "Aucune donnée pour ces filtres." in response.content.decode()
    # Nothing to draw, no chart (dsfr-chart fails on empty series): the tables say it; maps show zeros.
    assert {slot["data-chart"] for slot in Page(response.content.decode()).chart_slots} == {
        "carte-regions",
        "carte-departements",
    }


@pytest.mark.django_db
def test_an_overseas_region_is_drawn_on_the_map_of_departements(client, activity):
    # dsfr-chart's map of one région draws mainland régions only.
    html = page(client, "?region=04")

    chart = html.chart("carte-departements")
    assert (chart["tag"], chart["attrs"]["level"]) == ("map-chart", "dep")
    assert page(client, "?region=94").chart("carte-departements")["attrs"]["region"] == "20R"


@pytest.mark.django_db
def test_the_page_costs_a_bounded_number_of_queries(client, activity, django_assert_max_num_queries):
    # One query per view (8), two for the key figures, the openness figures and the names of services,
    # APIs and identity providers: none per row.
    with django_assert_max_num_queries(20):
        client.get("/statistiques")
