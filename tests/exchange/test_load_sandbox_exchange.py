"""`manage.py load_sandbox_exchange`: the sandbox providers' APIs in the catalogue, and an active
authorization of the sandbox commune to each, idempotently and journaled."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from exchange.models import ApiProduct, ApiScope, Authorization, AuthorizationState, Habilitation
from exchange.sandbox_providers.data import SCOPES
from protection.models import JournalEntry

pytestmark = pytest.mark.django_db
URL = "http://127.0.0.1:8003"
TOKEN = "sandbox-providers-token-0123456789"  # noqa: S105 - a test value


@pytest.fixture(autouse=True)
def _sandbox(monkeypatch, tmp_path, settings):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
    token_file = tmp_path / "providers_token"
    token_file.write_text(TOKEN, encoding="utf-8")
    monkeypatch.setenv("SANDBOX_PROVIDERS_URL", URL)
    monkeypatch.setenv("SANDBOX_PROVIDERS_TOKEN_FILE", str(token_file))
    call_command("load_sandbox", force=True, stdout=StringIO())


def load() -> str:
    out = StringIO()
    call_command("load_sandbox_exchange", stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    return {
        "apis": list(ApiProduct.objects.order_by("pk").values()),
        "scopes": list(ApiScope.objects.order_by("pk").values()),
        "habilitations": list(Habilitation.objects.order_by("pk").values()),
        "authorizations": list(Authorization.objects.order_by("pk").values()),
        "journal": JournalEntry.objects.count(),
    }


def test_registers_the_three_apis_with_their_scopes_and_upstream():
    load()

    apis = {api.slug: api for api in ApiProduct.objects.all()}
    assert set(apis) == {
        "caf-quotient-familial",
        "dgfip-revenu-fiscal-reference",
        "cnous-statut-etudiant-boursier",
    }
    caf = apis["caf-quotient-familial"]
    assert caf.upstream_base_url == f"{URL}/caf"
    assert caf.upstream_auth == "bearer" and caf.upstream_secret == TOKEN
    assert caf.published and caf.status == "beta"
    assert caf.provider.siret == "18003502400017"
    assert caf.legal_frameworks.exists()
    assert caf.openapi["servers"] == [{"url": f"{URL}/caf/v1"}]
    for key, slug in (("caf", "caf-quotient-familial"), ("dgfip", "dgfip-revenu-fiscal-reference"),
                      ("cnous", "cnous-statut-etudiant-boursier")):  # fmt: skip
        scopes = {scope.code: scope.fields for scope in apis[slug].scopes.all()}
        assert scopes == {f"{key}_{name}": list(scope.fields) for name, scope in SCOPES[key].items()}


def test_an_active_authorization_of_the_commune_exists_per_api():
    load()

    for api in ApiProduct.objects.all():
        authorization = Authorization.objects.get(api=api, state=AuthorizationState.ACTIVE)
        assert authorization.consumer.siret == "21690123100011"
        assert authorization.validated_by.username == "demo.instructeur"
        assert authorization.fields
        assert authorization.habilitation.applicant.username == "demo.agent"


def test_every_write_is_journaled_and_the_secret_never_is():
    load()

    created = JournalEntry.objects.filter(event_type="exchange.api_created")
    assert sorted(entry.data["api"] for entry in created) == sorted(
        ApiProduct.objects.values_list("slug", flat=True)
    )
    assert JournalEntry.objects.filter(event_type="exchange.habilitation_created").count() == 3
    assert JournalEntry.objects.filter(event_type="exchange.habilitation_transitioned").count() == 6
    assert not any(TOKEN in str(entry.data) for entry in JournalEntry.objects.all())


def test_a_second_run_changes_nothing():
    load()
    before = snapshot()

    output = load()

    assert snapshot() == before
    assert " + " not in output


def test_a_changed_token_or_address_is_applied_and_journaled(monkeypatch, tmp_path):
    load()
    (tmp_path / "providers_token").write_text("another-token-of-sufficient-length", encoding="utf-8")
    monkeypatch.setenv("SANDBOX_PROVIDERS_URL", "http://127.0.0.1:9003")

    load()

    caf = ApiProduct.objects.get(slug="caf-quotient-familial")
    assert caf.upstream_secret == "another-token-of-sufficient-length"
    assert caf.upstream_base_url == "http://127.0.0.1:9003/caf"
    changes = JournalEntry.objects.filter(event_type="exchange.api_changed")
    assert changes.count() == 3
    assert {"upstream_secret", "upstream_base_url", "openapi"} <= set(changes.first().data["fields"])
    assert Authorization.objects.filter(state=AuthorizationState.ACTIVE).count() == 3


def test_requires_the_providers_address(monkeypatch):
    monkeypatch.delenv("SANDBOX_PROVIDERS_URL")
    with pytest.raises(CommandError, match="SANDBOX_PROVIDERS_URL"):
        load()


def test_prepare_platform_loads_it_when_the_providers_are_configured(monkeypatch):
    calls = []
    monkeypatch.setattr(
        "platform_core.management.commands.prepare_platform.call_command",
        lambda name, *args, **kwargs: calls.append(name),
    )

    call_command("prepare_platform", stdout=StringIO())

    # The exchange data, then the object permissions of whoever joined meanwhile.
    assert calls[-2:] == ["load_sandbox_exchange", "resync_permissions"]


def test_the_communes_credentials_get_a_secret_kept_in_the_sandbox_file(tmp_path):
    import json
    import stat

    from exchange.models import Credential
    from exchange.services import credential_secret_matches

    load()
    store_file = tmp_path / "sandbox" / "exchange_credentials.json"
    assert stat.S_IMODE(store_file.stat().st_mode) == 0o600
    store = json.loads(store_file.read_text())
    assert len(store) == 3
    for entry in store.values():
        credential = Credential.objects.get(application__client_id=entry["client_id"])
        assert credential_secret_matches(credential, entry["client_secret"])
        assert entry["purpose"] == str(credential.habilitation.public_id)
    load()
    assert json.loads(store_file.read_text()) == store  # kept while it works
