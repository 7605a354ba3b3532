"""/statistiques in Debian's headless Chromium: dsfr-chart draws every chart and both maps under the
platform's CSP (no violation, no console error), the région map drills down to its départements, and
without JavaScript the same figures are in the tables."""

import pytest
from django.core.management import call_command

from opendata import aggregation
from platform_core.enums import OrganisationKind
from platform_core.geography import REGION_OF_DEPARTEMENT
from protection import journal
from tests.browser.test_home_browser import CHROMIUM, SCREENSHOTS, in_browser
from tests.factories import OrganisationFactory
from tests.opendata.test_statistics_page import CHART_SLOTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium"),
]

# Collected before any script of the page runs: what the CSP blocked, as the browser reports it.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(event.violatedDirective + ' ' + event.blockedURI);
});
"""
# Chart.js sizes its canvas to its box once the page has laid out, then animates for a second.
CHARTS_SIZED = """() => [...document.querySelectorAll('[data-chart] canvas')].every(
  (canvas) => canvas.getBoundingClientRect().width > 0.8 * canvas.closest('[data-chart]').clientWidth)"""
AUVERGNE_RHONE_ALPES = {code for code, region in REGION_OF_DEPARTEMENT.items() if region == "84"}


def sign_ins(count: int, commune: str, departement: str, region: str) -> None:
    town = OrganisationFactory(
        kind=OrganisationKind.COMMUNE, commune_code=commune, departement_code=departement, region_code=region
    )
    for _ in range(count):
        journal.record(
            "identity.fs_signed_in",
            actor=None,
            organisation=town,
            data={"fs": "mairie-demo", "fi": "demo-fi"},
        )
    aggregation.aggregate_pending()


def journal_activity():
    """The sandbox's six months of activity all over France (make run's), and a town of the Lot, where
    the sandbox has none, with 4 sign-ins: a secret cell."""
    call_command("load_sandbox_activity", verbosity=0)
    sign_ins(4, "46042", "46", "76")


def browse(page, base_url: str) -> dict:
    console_errors, failed_requests = [], []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    page.on("requestfailed", lambda request: failed_requests.append(request.url))
    page.on("response", lambda response: response.status >= 400 and failed_requests.append(response.url))
    page.add_init_script(CSP_LISTENER)

    page.goto(base_url + "/statistiques?metric=sign_ins", wait_until="networkidle")
    for slot in CHART_SLOTS:
        page.wait_for_selector(f'[data-chart="{slot}"][data-rendered="true"]', timeout=15_000)
    page.wait_for_function(CHARTS_SIZED, timeout=15_000)
    page.wait_for_timeout(1500)
    seen = {
        "charts": page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('[data-chart]')].map((slot) => [
                 slot.dataset.chart,
                 {visible: !slot.hidden, tag: slot.lastElementChild.firstElementChild.localName,
                  canvas: !!slot.querySelector('canvas'), paths: slot.querySelectorAll('svg path').length},
               ]))"""
        ),
        # dsfr-chart colours each area it has a value for.
        "rhone_fill": page.locator('[data-chart="carte-departements"] path.FR-69').get_attribute("fill"),
        "ara_fill": page.locator('[data-chart="carte-regions"] path.FR-ARA').get_attribute("fill"),
        # The secret ones, left out of its data: no colour of a count (statistiques.css greys them).
        "secret_departements": [
            text.rsplit("(", 1)[1].rstrip(")")
            for text in page.locator(
                "#carte-departements-table tbody tr:has(.maillage-secret-cell) th"
            ).all_inner_texts()
        ],
    }
    seen["secret_fills"] = [
        page.locator(f'[data-chart="carte-departements"] path.FR-{code}').get_attribute("fill")
        for code in seen["secret_departements"]
    ]
    # The whole page in a viewport of its height: a full-page capture would resize the window while
    # shooting, and Chart.js would redraw its charts mid-capture.
    page.set_viewport_size({"width": 1280, "height": page.evaluate("document.documentElement.scrollHeight")})
    page.wait_for_function(CHARTS_SIZED, timeout=15_000)
    page.wait_for_timeout(1500)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "statistiques.png"))
    page.set_viewport_size({"width": 1280, "height": 900})

    # Drill down: a click on Auvergne-Rhône-Alpes on the région map.
    with page.expect_navigation():
        page.locator('[data-chart="carte-regions"] path.FR-ARA').click()
    page.wait_for_selector('[data-chart="carte-departements"][data-rendered="true"]', timeout=15_000)
    seen["drilled_url"] = page.url
    seen["drilled_tag"] = page.locator('[data-chart="carte-departements"] > :last-child > *').evaluate(
        "node => node.localName"
    )
    seen["drilled_codes"] = {
        text.rsplit("(", 1)[1].rstrip(")")
        for text in page.locator("#carte-departements-table tbody th").all_inner_texts()
    }
    seen["drilled_rhone_fill"] = page.locator('[data-chart="carte-departements"] path.FR-69').get_attribute(
        "fill"
    )
    page.wait_for_function(CHARTS_SIZED, timeout=15_000)
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
    assert "46" in seen["secret_departements"]
    assert len(seen["secret_departements"]) >= 2  # secondary suppression
    assert seen["secret_fills"] == [None] * len(seen["secret_departements"])
    assert (SCREENSHOTS / "statistiques.png").stat().st_size > 100_000

    assert "region=84" in seen["drilled_url"] and "metric=sign_ins" in seen["drilled_url"]
    assert seen["drilled_tag"] == "map-chart-reg"
    assert len(seen["drilled_codes"]) >= 2 and seen["drilled_codes"] <= AUVERGNE_RHONE_ALPES
    assert seen["drilled_rhone_fill"] and seen["drilled_rhone_fill"].startswith(("#", "rgb"))
    assert seen["back_has_region_map"]

    assert seen["csp_violations"] == []
    assert seen["console_errors"] == []
    assert seen["failed_requests"] == []


@pytest.mark.django_db(transaction=True)
def test_statistics_page_without_javascript_shows_the_tables(live_server):
    sign_ins(30, "69123", "69", "84")

    seen = browse_without_javascript(live_server.url)

    assert seen["slots_visible"] == 0
    assert seen["tables_visible"] >= 7
    assert "Auvergne-Rhône-Alpes" in seen["regions"]
