"""The consumer dashboard of a credential in a real browser (live server): the charts drawn with the
DSFR colours (so the stylesheet was allowed by the CSP), no console error (a CSP violation is one),
the data tables behind a keyboard-operable accordion; a screenshot for the eye at /tmp/dashboard.png."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from exchange.models import Credential
from tests.browser.test_habilitation_browser import session_cookie
from tests.browser.test_home_browser import CHROMIUM, SCREENSHOTS, in_browser
from tests.exchange.conftest import draft, world  # noqa: F401 - the world fixture
from tests.exchange.test_credential_dashboard import passed, refused, validate

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium"),
]
SCREENSHOT = "/tmp/dashboard.png"  # noqa: S108 - where reviewers look for it


def traffic(credential, now):
    """A week of calls: more on working hours, a few upstream failures and refusals."""
    moments = []
    for minutes in range(0, 10):
        moments += [
            now - timedelta(minutes=minutes, seconds=s) for s in range(5, 60, 60 // (3 + minutes % 4))
        ]
    for hours in range(1, 30):
        moments += [
            now - timedelta(hours=hours, minutes=m) for m in range(0, 60, 60 // (2 + (hours * 7) % 9))
        ]
    for days in range(1, 8):
        moments += [now - timedelta(days=days, hours=h) for h in range(0, 24, 1 + days % 3)]
    with transaction.atomic():
        for index, moment in enumerate(moments):
            with mock.patch("django.utils.timezone.now", return_value=moment):
                if index % 13 == 0:
                    refused(credential, reason="upstream-failure", status=502, latency=10_000)
                elif index % 17 == 0:
                    refused(credential, reason="gateway-context", status=400)
                else:
                    passed(credential, latency=20 + index % 60)
    return len(moments)


def look(page, base_url, path):
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(base_url + path)
    seen = {
        "charts": page.locator("svg.maillage-chart[role=img]").count(),
        "bars": page.locator("rect.maillage-chart__calls").count(),
        "calls_fill": page.eval_on_selector("rect.maillage-chart__calls", "e => getComputedStyle(e).fill"),
        "errors_fill": page.eval_on_selector("rect.maillage-chart__errors", "e => getComputedStyle(e).fill"),
        "label": page.get_attribute("svg.maillage-chart", "aria-labelledby"),
        "table_hidden": not page.locator("#usage-30h-data table").is_visible(),
    }
    button = page.locator("button[aria-controls=usage-30h-data]")
    button.focus()
    page.keyboard.press("Enter")
    page.locator("#usage-30h-data table").wait_for(state="visible")
    seen["expanded"] = button.get_attribute("aria-expanded")
    seen["text"] = page.locator("main").inner_text()
    page.screenshot(path=SCREENSHOT, full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "tableau-de-bord-identifiant.png"), full_page=True)
    seen["problems"] = problems
    return seen


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_draws_its_charts_under_the_csp(live_server, world):  # noqa: F811
    credential = validate(world, draft(world))
    calls = traffic(credential, timezone.now())
    assert Credential.objects.get().pk == credential.pk
    cookie = session_cookie(world["applicant"])

    seen = in_browser(
        lambda page, base: (
            page.context.add_cookies([cookie]) or look(page, base, f"/identifiants/{credential.public_id}/")
        ),
        live_server.url,
    )

    assert seen["problems"] == []  # a CSP violation is reported on the console
    assert seen["charts"] == 3 and seen["bars"] == 10 + 30 + 8
    assert seen["calls_fill"] == "rgb(0, 0, 145)"  # DSFR blue-france-sun-113: charts.css was applied
    assert seen["errors_fill"] == "rgb(201, 25, 30)"  # DSFR red-marianne-425
    assert seen["label"] == "usage-10min-svg-title usage-10min-svg-desc"
    assert seen["table_hidden"] and seen["expanded"] == "true"
    assert "Appels et erreurs, 30 dernières heures, par heure" in seen["text"]  # the table's caption
    assert "Le fournisseur a mal répondu" in seen["text"]
    assert f"8 derniers jours, par jour\n{calls}" in seen["text"].replace("\t", "\n")
