"""The consumer dashboard of a credential (/identifiants/<id>/): gateway calls and errors per minute,
hour and day over 10 minutes, 30 hours and 8 days, aggregated in PostgreSQL from real journal entries
(written by the gateway's own journaling functions at known times), latency percentiles, the breakdown
by status and reason; and the credential's management there: a new secret shown once with the old one
kept for the grace period, revocation after confirmation, the IP allow-list."""

import contextlib
from datetime import timedelta

import pytest
from django.utils import timezone

from exchange import events
from exchange.gateway import journal_exchange
from exchange.models import Credential
from exchange.selectors import credential_usage, gateway_usage
from exchange.services import credential_new_secret, habilitation_create, habilitation_transition
from platform_core.enums import MembershipRole
from protection import journal
from protection.models import JournalEntry
from tests.exchange.conftest import CONTACTS, draft, member

pytestmark = pytest.mark.django_db
CONTEXT = {"recipient": "21690123400019", "case_id": ""}


def validate(world, habilitation):
    habilitation_transition(habilitation, "submit", user=world["applicant"])
    habilitation_transition(habilitation, "validate", user=world["instructor"])
    return Credential.objects.get(habilitation=habilitation)


@pytest.fixture
def credential(world):
    return validate(world, draft(world))


@pytest.fixture
def clock(monkeypatch):
    """Journal entries at a chosen time: the journal stamps ``timezone.now()`` (the append-only table
    refuses any later change), so the clock is set while the entry is recorded, and only then."""

    @contextlib.contextmanager
    def at(moment):
        with monkeypatch.context() as patch:
            patch.setattr(timezone, "now", lambda: moment)
            yield

    return at


def passed(credential, *, status=200, latency=20):
    """A call forwarded to the provider, journaled as the gateway journals it."""
    journal_exchange(credential, person=None, status=status, answer={"rfr": 1}, context=CONTEXT,
                     latency_ms=latency, api="impots")  # fmt: skip


def refused(credential, *, reason, status, latency=3):
    """A call the gateway refused, journaled with the fields of exchange.gateway._refused."""
    journal.record(
        events.GATEWAY_CALL.code, actor=credential.application, organisation=credential.habilitation.consumer,
        contract=credential.authorization, outcome="failure",
        data={"api": "impots", "reason": reason, "status": status, "latency_ms": latency},
    )  # fmt: skip


@pytest.fixture
def traffic(world, credential, clock):
    """Calls at known times before ``now``; some of another organisation's credential, which must not
    count, and one older than 8 days."""
    now = timezone.now().replace(microsecond=0)
    world["stranger_applicant"] = member(world["other"], MembershipRole.AGENT)
    theirs = habilitation_create(
        applicant=world["stranger_applicant"], consumer=world["other"], api=world["api"],
        scopes=[world["income"]], title="Leur cantine", purpose="Tarif", legal_basis_nature="deliberation",
        legal_basis_url="https://autre.example.fr/d.pdf", retention_months=12, contacts=CONTACTS,
    )  # fmt: skip
    habilitation_transition(theirs, "submit", user=world["stranger_applicant"])
    habilitation_transition(theirs, "validate", user=world["instructor"])
    other_credential = Credential.objects.get(habilitation=theirs)
    with clock(now - timedelta(seconds=30)):
        passed(credential, latency=10)
        passed(credential, latency=20)
        refused(credential, reason="gateway-refused", status=403, latency=30)
        passed(other_credential, latency=999)
        credential_new_secret(credential, user=world["applicant"])  # same contract, not a call
    with clock(now - timedelta(minutes=5)):
        passed(credential, latency=40)
    with clock(now - timedelta(hours=3)):
        refused(credential, reason="upstream-failure", status=502, latency=1000)
        refused(credential, reason="upstream-failure", status=502, latency=2000)
    with clock(now - timedelta(days=2)):
        for _call in range(4):
            passed(credential, latency=50)
    with clock(now - timedelta(days=9)):
        passed(credential)
    journal.flush()  # written now, rather than by the next query (the query count below)
    return now


def by_window(usage):
    return {window["window"]: window for window in usage["windows"]}


def counts(window):
    return {index: (b["calls"], b["errors"]) for index, b in enumerate(window["buckets"]) if b["calls"]}


def test_calls_and_errors_per_minute_hour_and_day(credential, traffic, django_assert_num_queries):
    with django_assert_num_queries(3):  # the contracts, the buckets, the breakdown
        usage = credential_usage(credential, now=traffic)
    windows = by_window(usage)
    assert [len(windows[name]["buckets"]) for name in ("10min", "30h", "8d")] == [10, 30, 8]
    # Rolling buckets ending at ``now``: -30 s is in the last minute, -5 min in the 6th of 10.
    assert counts(windows["10min"]) == {9: (3, 1), 5: (1, 0)}
    assert counts(windows["30h"]) == {29: (4, 1), 27: (2, 2)}
    assert counts(windows["8d"]) == {7: (6, 3), 6: (4, 0)}
    assert windows["8d"]["buckets"][0]["start"] == traffic - timedelta(days=8)
    assert windows["8d"]["buckets"][-1]["end"] == traffic
    assert [(w["calls"], w["errors"]) for w in usage["windows"]] == [(4, 1), (6, 3), (10, 3)]
    assert windows["10min"]["error_rate"] == 0.25
    assert windows["30h"]["error_rate"] == 0.5


def test_the_totals_agree_with_the_habilitation_page(credential, traffic):
    totals = [(w["calls"], w["errors"]) for w in credential_usage(credential, now=traffic)["windows"]]
    page = [(row["calls"], row["errors"]) for row in gateway_usage(credential.habilitation, now=traffic)]
    assert totals == page


def test_latency_percentiles(credential, traffic):
    windows = by_window(credential_usage(credential, now=traffic))
    # 10 minutes: 10, 20, 30, 40 ms -> p50 25, p95 38.5 (linear interpolation, percentile_cont).
    assert windows["10min"]["p50_ms"] == pytest.approx(25)
    assert windows["10min"]["p95_ms"] == pytest.approx(38.5)
    assert windows["30h"]["p50_ms"] == pytest.approx(35)  # 10, 20, 30, 40, 1000, 2000
    assert windows["30h"]["p95_ms"] == pytest.approx(1750)


def test_calls_by_status_and_reason(credential, traffic):
    breakdown = credential_usage(credential, now=traffic)["breakdown"]
    assert {(row["status"], row["reason"]): row["calls"] for row in breakdown} == {
        ("200", ""): {"10min": 3, "30h": 3, "8d": 7},
        ("403", "gateway-refused"): {"10min": 1, "30h": 1, "8d": 1},
        ("502", "upstream-failure"): {"10min": 0, "30h": 2, "8d": 2},
    }


def test_windows_move_with_now(credential, traffic):
    later = by_window(credential_usage(credential, now=traffic + timedelta(hours=29, minutes=59)))
    assert later["10min"]["calls"] == 0 and later["30h"]["calls"] == 3 and later["8d"]["calls"] == 10
    assert counts(later["30h"]) == {0: (3, 1)}  # the calls of 30 s before, in the first hour now
    assert all(
        w["calls"] == 0 for w in credential_usage(credential, now=traffic + timedelta(days=10))["windows"]
    )


def test_empty_dashboard(client, world, credential):
    usage = credential_usage(credential)
    assert [(w["calls"], w["errors"], w["error_rate"], w["p50_ms"]) for w in usage["windows"]] == [
        (0, 0, None, None)
    ] * 3
    assert usage["breakdown"] == []
    client.force_login(world["applicant"])
    html = client.get(f"/identifiants/{credential.public_id}/").content.decode()
    assert "Aucun appel sur les 8 derniers jours." in html
    assert html.count('<svg class="maillage-chart"') == 3


def test_the_page_draws_the_charts_and_their_tables(client, world, credential, traffic):
    client.force_login(world["colleague"])
    response = client.get(f"/identifiants/{credential.public_id}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("<svg") == 3 and html.count('class="maillage-chart__calls"') == 10 + 30 + 8
    assert "style=" not in html.split("<svg", 1)[1]  # the CSP forbids inline styles
    assert "Appels et erreurs, 10 dernières minutes, par minute" in html  # the chart's <title>
    assert "Motif du refus" in html and "Le fournisseur a mal répondu" in html
    assert "css/charts.css" in html
    assert "Content-Security-Policy" in response.headers


def test_the_habilitation_page_links_to_the_dashboard(client, world, credential):
    url = f"/identifiants/{credential.public_id}/"
    client.force_login(world["applicant"])
    assert url in client.get(f"/habilitations/{credential.habilitation.public_id}/").content.decode()
    assert url in client.get("/identifiants/").content.decode()
    client.force_login(world["instructor"])  # sees the habilitation, not the consumer's dashboard
    assert url not in client.get(f"/habilitations/{credential.habilitation.public_id}/").content.decode()


def test_the_list_shows_only_the_organisations_credentials(client, world, credential, traffic):
    client.force_login(world["stranger_applicant"])
    html = client.get("/identifiants/").content.decode()
    assert credential.client_id not in html
    assert Credential.objects.exclude(pk=credential.pk).get().client_id in html
    client.force_login(world["instructor"])
    assert "Aucun identifiant d'accès" in client.get("/identifiants/").content.decode()


def test_refused_to_the_provider_and_hidden_from_others(client, world, credential):
    url = f"/identifiants/{credential.public_id}/"
    assert client.get(url).status_code == 302  # to the sign-in
    client.force_login(world["instructor"])
    assert client.get(url).status_code == 403
    client.force_login(world["stranger"])
    assert client.get(url).status_code == 404


def test_a_new_secret_is_shown_once_and_the_old_one_kept_for_the_grace_period(client, world, credential):
    old = credential_new_secret(credential, user=world["applicant"])
    client.force_login(world["applicant"])
    response = client.post(f"/identifiants/{credential.public_id}/secret/")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    html = response.content.decode()
    secrets = list(credential.secrets.order_by("created_at"))
    assert len(secrets) == 2 and secrets[1].expires_at is None
    expiry = secrets[0].expires_at
    assert timedelta(hours=23, minutes=59) < expiry - timezone.now() <= timedelta(hours=24)
    assert timezone.localtime(expiry).strftime("%d/%m/%Y %H:%M") in html
    new = html.split('id="new-secret" type="text" readonly value="', 1)[1].split('"', 1)[0]
    assert len(new) >= 32 and old != new
    from exchange.services import credential_secret_matches

    assert credential_secret_matches(credential, new) and credential_secret_matches(credential, old)
    assert new not in client.get(f"/identifiants/{credential.public_id}/").content.decode()
    assert JournalEntry.objects.filter(event_type="exchange.credential_secret_created").count() == 2


def test_revocation_needs_a_confirmation(client, world, credential):
    client.force_login(world["applicant"])
    url = f"/identifiants/{credential.public_id}/revocation/"
    response = client.post(url)
    assert response.status_code == 400 and "Cochez la case" in response.content.decode()
    credential.refresh_from_db()
    assert credential.revoked_at is None
    assert client.post(url, {"confirm": "yes"}).status_code == 302
    credential.refresh_from_db()
    assert credential.revoked_at is not None
    assert JournalEntry.objects.filter(event_type="exchange.credential_revoked").count() == 1
    html = client.get(f"/identifiants/{credential.public_id}/").content.decode()
    assert "Révoqué" in html and "Générer un nouveau secret" not in html
    assert client.post(f"/identifiants/{credential.public_id}/secret/").status_code == 302  # refused: revoked
    assert not credential.secrets.exists()


def test_the_ip_allow_list(client, world, credential):
    client.force_login(world["applicant"])
    url = f"/identifiants/{credential.public_id}/adresses/"
    response = client.post(url, {"ip_allowlist": "192.0.2.10\nnot-an-address"})
    assert response.status_code == 400 and "Adresse ou réseau invalide" in response.content.decode()
    credential.refresh_from_db()
    assert credential.ip_allowlist == []
    assert client.post(url, {"ip_allowlist": "192.0.2.10\n198.51.100.7/24\n"}).status_code == 302
    credential.refresh_from_db()
    assert credential.ip_allowlist == ["192.0.2.10/32", "198.51.100.0/24"]
    assert client.post(url, {"ip_allowlist": ""}).status_code == 302
    credential.refresh_from_db()
    assert credential.ip_allowlist == []
    assert JournalEntry.objects.filter(event_type="exchange.credential_changed").count() == 2


def test_writes_need_the_csrf_token(world, credential):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world["applicant"])
    for action in ("secret", "revocation", "adresses"):
        assert (
            client.post(f"/identifiants/{credential.public_id}/{action}/", {"confirm": "yes"}).status_code
            == 403
        )
    credential.refresh_from_db()
    assert credential.revoked_at is None and not credential.secrets.exists()
