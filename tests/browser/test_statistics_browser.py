"""/statistiques in Debian's headless Chromium: dsfr-chart draws every chart and both maps under the
platform's CSP (no violation, no console error), the région map drills down to its départements, and
without JavaScript the same figures are in the tables."""

import random

import pytest

from opendata import aggregation
from platform_core.enums import OrganisationKind
from protection import journal
from tests.browser.test_home_browser import CHROMIUM, SCREENSHOTS, in_browser
from tests.factories import OrganisationFactory
from tests.opendata.test_statistics_page import CHART_SLOTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium"),
]

# (commune, département, région, sign-ins): towns across France, overseas and Corsica included. Creuse's
# 4 sign-ins are secret, and so is Gironde's count (secondary suppression: the région's total would give
# Creuse's away).
PLACES = [
    ("69123", "69", "84", 64),
    ("38185", "38", "84", 41),
    ("75056", "75", "11", 80),
    ("13055", "13", "93", 55),
    ("33063", "33", "75", 38),
    ("23096", "23", "75", 4),
    ("59350", "59", "32", 47),
    ("35238", "35", "53", 33),
    ("31555", "31", "76", 52),
    ("67482", "67", "44", 29),
    ("44109", "44", "52", 36),
    ("21231", "21", "27", 24),
    ("97411", "974", "04", 18),
    ("2A004", "2A", "94", 15),
]
# Collected before any script of the page runs: what the CSP blocked, as the browser reports it.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(event.violatedDirective + ' ' + event.blockedURI);
});
"""


def journal_activity():
    rnd = random.Random(6)
    for index, (commune, departement, region, sign_ins) in enumerate(PLACES):
        place = OrganisationFactory(
            kind=OrganisationKind.COMMUNE,
            commune_code=commune,
            departement_code=departement,
            region_code=region,
        )
        for _ in range(sign_ins):
            journal.record(
                "identity.fs_signed_in",
                actor=None,
                organisation=place,
                data={
                    "fs": rnd.choice(["mairie-demo", "caf-en-ligne", "impots-particulier"]),
                    "fi": rnd.choice(["demo-fi", "franceconnect", "proconnect"]),
                },
            )
        for _ in range(0 if index % 3 else rnd.randint(12, 40)):
            journal.record(
                "exchange.gateway_call",
                actor=None,
                organisation=place,
                data={"api": rnd.choice(["caf-quotient-familial", "dgfip-revenu"]), "status": 200},
            )
    aggregation.aggregate_pending()


def browse(page, base_url: str) -> dict:
    console_errors, failed_requests = [], []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    page.on("requestfailed", lambda request: failed_requests.append(request.url))
    page.on("response", lambda response: response.status >= 400 and failed_requests.append(response.url))
    page.add_init_script(CSP_LISTENER)

    page.goto(base_url + "/statistiques", wait_until="networkidle")
    for slot in CHART_SLOTS:
        page.wait_for_selector(f'[data-chart="{slot}"][data-rendered="true"]', timeout=15_000)
    seen = {
        "charts": page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('[data-chart]')].map((slot) => [
                 slot.dataset.chart,
                 {visible: !slot.hidden, tag: slot.lastElementChild.localName,
                  canvas: !!slot.querySelector('canvas'), paths: slot.querySelectorAll('svg path').length},
               ]))"""
        ),
        # dsfr-chart colours the areas it has a value for; Lyon's département and région have one.
        "rhone_fill": page.locator('[data-chart="carte-departements"] path.FR-69').get_attribute("fill"),
        "ara_fill": page.locator('[data-chart="carte-regions"] path.FR-ARA').get_attribute("fill"),
        # Creuse and Gironde are secret: no colour of a count, statistiques.css greys them.
        "creuse_fill": page.locator('[data-chart="carte-departements"] path.FR-23').get_attribute("fill"),
    }
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(1500)  # Chart.js animates the charts in for a second
    page.screenshot(path=str(SCREENSHOTS / "statistiques.png"), full_page=True)

    # Drill down: a click on Auvergne-Rhône-Alpes on the région map.
    with page.expect_navigation():
        page.locator('[data-chart="carte-regions"] path.FR-ARA').click()
    page.wait_for_selector('[data-chart="carte-departements"][data-rendered="true"]', timeout=15_000)
    seen["drilled_url"] = page.url
    seen["drilled_tag"] = page.locator('[data-chart="carte-departements"] > :last-child').evaluate(
        "node => node.localName"
    )
    seen["drilled_rows"] = page.locator("#carte-departements-table tbody th").all_inner_texts()
    seen["drilled_isere_fill"] = page.locator('[data-chart="carte-departements"] path.FR-38').get_attribute(
        "fill"
    )
    page.locator("#carte").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "statistiques-region.png"))

    # Back to France from the keyboard.
    page.locator("a", has_text="Revenir à la France entière").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    seen["back_has_region_map"] = page.locator('[data-chart="carte-regions"]').count() == 1

    seen["csp_violations"] = page.evaluate("() => window.__cspViolations")
    seen["console_errors"] = console_errors
    seen["failed_requests"] = failed_requests
    return seen


def browse_without_javascript(base_url: str) -> dict:
    def scenario(page, base_url):
        page.context.close()
        context = page.context.browser.new_context(java_script_enabled=False, locale="fr-FR")
        page = context.new_page()
        page.goto(base_url + "/statistiques")
        return {
            "slots_visible": page.locator("[data-chart]:visible").count(),
            "tables_visible": page.locator("table:visible").count(),
            "regions": page.locator("#carte-regions-table tbody th").all_inner_texts(),
        }

    return in_browser(scenario, base_url)


@pytest.mark.django_db(transaction=True)
def test_statistics_page_draws_charts_and_maps_under_the_csp_and_drills_down(live_server):
    journal_activity()

    seen = in_browser(browse, live_server.url)

    for slot in CHART_SLOTS:
        chart = seen["charts"][slot]
        assert chart["visible"], slot
        if slot.startswith("carte-"):
            assert chart["tag"] == "map-chart" and chart["paths"] > 10, (slot, chart)
        else:
            assert chart["canvas"], (slot, chart)
    assert seen["rhone_fill"] and seen["rhone_fill"].startswith(("#", "rgb"))
    assert seen["ara_fill"] and seen["ara_fill"].startswith(("#", "rgb"))
    assert seen["creuse_fill"] is None
    assert (SCREENSHOTS / "statistiques.png").stat().st_size > 50_000

    assert "region=84" in seen["drilled_url"]
    assert seen["drilled_tag"] == "map-chart-reg"
    assert seen["drilled_rows"] == ["Rhône (69)", "Isère (38)"] or sorted(seen["drilled_rows"]) == [
        "Isère (38)",
        "Rhône (69)",
    ]
    assert seen["drilled_isere_fill"] and seen["drilled_isere_fill"].startswith(("#", "rgb"))
    assert seen["back_has_region_map"]

    assert seen["csp_violations"] == []
    assert seen["console_errors"] == []
    assert seen["failed_requests"] == []


@pytest.mark.django_db(transaction=True)
def test_statistics_page_without_javascript_shows_the_tables(live_server):
    journal_activity()

    seen = browse_without_javascript(live_server.url)

    assert seen["slots_visible"] == 0
    assert seen["tables_visible"] >= 7
    assert "Auvergne-Rhône-Alpes" in seen["regions"]
