"""The home page in a real browser: Debian's Chromium, headless, driven by Playwright.

Playwright's sync API runs an event loop in the thread that uses it, which Django would take for
async code and refuse database access in. The browser therefore runs in a thread of its own; the
test thread keeps the database.
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium"),
]


def in_browser(scenario, base_url: str):
    """Run scenario(page, base_url) in headless Chromium, in a thread of its own; return its result."""

    def run():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
                return scenario(context.new_page(), base_url)
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=120)


def load_and_switch_language(page, base_url: str) -> dict:
    console_errors, failed_requests = [], []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    page.on("requestfailed", lambda request: failed_requests.append(request.url))
    page.on("response", lambda response: response.status >= 400 and failed_requests.append(response.url))

    page.goto(base_url + "/", wait_until="networkidle")
    seen = {
        "lang": page.locator("html").get_attribute("lang"),
        "service_title": page.locator(".fr-header__service-title").inner_text(),
        "h1": page.locator("h1").inner_text(),
        # dsfr.min.css styles the header; the DSFR script marks the page once it has started.
        "header_display": page.locator(".fr-header__body-row").evaluate(
            "node => getComputedStyle(node).display"
        ),
        "dsfr_js_started": page.evaluate("() => document.documentElement.hasAttribute('data-fr-js')"),
        "pictogram_width": page.locator("#usagers svg.fr-artwork").evaluate(
            "node => node.getBoundingClientRect().width"
        ),
    }
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "home.png"), full_page=True)

    # The language switcher with the keyboard: focus its button, open the menu, pick English.
    page.locator(".fr-header__tools .fr-translate__btn").focus()
    page.keyboard.press("Enter")
    english = page.locator('#translate-menu button[value="en"]')
    english.wait_for(state="visible")
    seen["menu_expanded"] = page.locator(".fr-header__tools .fr-translate__btn").get_attribute(
        "aria-expanded"
    )
    english.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    seen["lang_after"] = page.locator("html").get_attribute("lang")
    seen["h1_after"] = page.locator("h1").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "home-en.png"))

    # And back to French with the mouse.
    page.locator(".fr-header__tools .fr-translate__btn").click()
    with page.expect_navigation():
        page.locator('#translate-menu button[value="fr"]').click()
    seen["lang_back"] = page.locator("html").get_attribute("lang")

    seen["console_errors"] = console_errors
    seen["failed_requests"] = failed_requests
    return seen


@pytest.mark.django_db(transaction=True)
def test_home_page_renders_with_the_dsfr_and_switches_language(live_server):
    seen = in_browser(load_and_switch_language, live_server.url)

    assert seen["lang"] == "fr"
    assert seen["service_title"].startswith("Maillage")
    assert "données publiques" in seen["h1"]
    assert seen["header_display"] == "flex"
    assert seen["dsfr_js_started"] is True
    assert seen["pictogram_width"] == 80
    assert seen["menu_expanded"] == "true"
    assert seen["lang_after"] == "en"
    assert seen["h1_after"].startswith("Public data")
    assert seen["lang_back"] == "fr"
    assert seen["console_errors"] == []
    assert seen["failed_requests"] == []
    assert (SCREENSHOTS / "home.png").stat().st_size > 10_000
