"""exchange/token_cache.py: the gateway reuses what it loaded for a token only while none of the rows it
came from has changed, whoever changed them (services, queryset updates, plain SQL)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from exchange import token_cache
from exchange.models import ApiScope, Authorization, Credential
from exchange.services import credential_revoke
from platform_core.models import Organisation
from tests.exchange.test_gateway import access_token, call, contract  # noqa: F401 - fixture
from tests.exchange.test_sandbox_providers import base  # noqa: F401 - the providers' process

pytestmark = pytest.mark.django_db
OTHER_SIRET = "35600000000048"


@pytest.fixture(autouse=True)
def empty_cache():
    token_cache.clear()
    yield
    token_cache.clear()


def queries_of(client, contract, token):  # noqa: F811
    with CaptureQueriesContext(connection) as captured:
        answer = call(client, contract, token=token)
    assert answer.status_code == 200, answer.content
    # Not the journal's INSERT: in the test's transaction, whichever statement comes next flushes it.
    return [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"] and not query["sql"].lstrip().startswith("INSERT INTO protection_journalentry")
    ]


def test_a_second_call_reads_the_versions_only(client, contract):  # noqa: F811
    token = access_token(client, contract)
    first = queries_of(client, contract, token)
    second = queries_of(client, contract, token)
    assert any(sql.startswith('SELECT "oauth2_provider_accesstoken"') for sql in first)
    assert not any(sql.startswith(('SELECT "oauth2_provider_accesstoken"', 'SELECT "exchange_apiscope"'))
                   for sql in second)  # fmt: skip
    assert len(second) == len(first) - 2  # no token join, no scopes query


def test_revocation_stops_the_next_call_after_cached_ones(client, contract):  # noqa: F811
    token = access_token(client, contract)
    assert call(client, contract, token=token).status_code == 200
    assert call(client, contract, token=token).status_code == 200
    credential_revoke(contract["credential"], user=contract["world"]["instructor"])
    assert call(client, contract, token=token).status_code == 401


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda: Credential.objects.update(expires_at=timezone.now() - timedelta(seconds=1)), 401),
        (lambda: Credential.objects.update(revoked_at=timezone.now()), 401),
        (lambda: Credential.objects.update(ip_allowlist=["192.0.2.0/24"]), 403),
        (lambda: Authorization.objects.update(state="revoked"), 401),
        # The consumer's SIRET, the call's recipient, is no longer the consumer's.
        (lambda: Organisation.objects.filter(habilitations__isnull=False).update(siret=OTHER_SIRET), 400),
    ],
)
def test_any_update_of_the_rows_is_seen_by_the_next_call(client, contract, change, status):  # noqa: F811
    token = access_token(client, contract)
    assert call(client, contract, token=token).status_code == 200
    change()
    assert call(client, contract, token=token).status_code == status


def test_a_change_of_the_scopes_fields_is_seen_by_the_next_call(client, contract):  # noqa: F811
    token = access_token(client, contract)
    assert "annee" in call(client, contract, token=token).json()
    ApiScope.objects.filter(code="caf_qf").update(fields=["quotientFamilial"])
    assert "annee" not in call(client, contract, token=token).json()


def test_a_deleted_token_is_refused(client, contract):  # noqa: F811
    from oauth2_provider.models import AccessToken

    token = access_token(client, contract)
    assert call(client, contract, token=token).status_code == 200
    AccessToken.objects.all().delete()
    assert call(client, contract, token=token).status_code == 401
