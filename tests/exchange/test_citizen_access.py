""" "Dites-le-nous une fois" over real HTTP: a citizen signs in to a service through Maillage (the sandbox
identity provider in its own process) and consents to its data scope; the service then calls the
gateway with the citizen's access token and no identifying parameter; Maillage queries the sandbox CAF
(its own process) with the citizen's pivot identity, and the exchange shows in the citizen's Mon espace."""

from datetime import timedelta

import pytest
from django.utils import timezone

from exchange.models import Authorization
from identity.models import Consent
from identity.services import service_provider_create
from protection.models import JournalEntry
from protection.pseudonyms import pseudonym_for
from tests.exchange.test_gateway import QF, contract  # noqa: F401 - the CAF-like API under contract
from tests.exchange.test_sandbox_providers import base  # noqa: F401 - the providers' process
from tests.factories import OrganisationFactory
from tests.identity.conftest import idp, sandbox_idp  # noqa: F401 - the sandbox FI's process
from tests.identity.test_op import REDIRECT, exchange, journey
from tests.identity.test_sign_in import make_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def fi(idp):  # noqa: F811
    return make_provider(f"{idp}/usagers")


def _service(organisation, scopes="openid profile caf_qf", private=False):
    service, secret = service_provider_create(
        organisation=organisation, name="Cantine de la mairie", redirect_uris=[REDIRECT], scopes=scopes
    )
    service.private = private
    service.save()
    service.secret = secret
    return service


@pytest.fixture
def service(contract):  # noqa: F811
    return _service(contract["world"]["consumer"])


def citizen_token(client, service, fi, scope="openid profile caf_qf") -> str:
    _params, back = journey(client, service, fi, scope=scope)
    answer = exchange(client, service, back["code"])
    assert answer.status_code == 200, answer.content
    return answer.json()["access_token"]


def test_a_service_fetches_the_citizens_data_with_their_token_and_they_see_it(client, service, fi):
    token = citizen_token(client, service, fi)
    consent = Consent.objects.get(service_provider=service)
    assert "caf_qf" in consent.claims

    answer = client.get(QF, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["quotientFamilial"] == 820  # angela's household at the sandbox CAF
    assert "adresse" not in body and "allocataires" not in body  # scope not asked
    entry = JournalEntry.objects.get(event_type="exchange.gateway_call")
    angela = consent.user
    assert entry.outcome == "success" and entry.subject == pseudonym_for(str(angela.public_id))
    assert entry.contract == str(Authorization.objects.get().public_id)
    assert entry.data["via"] == "citizen_token" and entry.data["fs"] == service.client_id
    assert entry.data["recipient"] == service.organisation.siret
    assert "DUBOIS" not in str(entry.data) and "ANGELA" not in str(entry.data).upper()

    # The citizen (still signed in to Maillage) sees who fetched what, why, in Mon espace.
    space = client.get("/identite/mon-espace/").content.decode()
    assert "Échange de données par la passerelle" in space
    assert "Cantine" in space and "quotientFamilial" in space


def test_the_consent_page_lists_the_data_and_its_holder(client, service, fi):
    from tests.identity.test_op import authorize_params, sign_in_at_fi

    response = client.get("/api/v2/authorize", authorize_params(service, scope="openid profile caf_qf"))
    location = sign_in_at_fi(client, fi, response["Location"], "angela")
    page = client.get(location)
    assert page.status_code == 200
    assert page.context["consent_needed"] and page.context["has_data"]
    assert 'id="data-scopes"' in page.content.decode() and "DGFiP" in page.content.decode()


def test_a_withdrawn_consent_stops_the_next_call(client, service, fi):
    token = citizen_token(client, service, fi)
    assert client.get(QF, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    consent = Consent.objects.get(service_provider=service, revoked_at__isnull=True)
    assert client.post("/identite/mon-espace/consentements/", {"consent": consent.pk}).status_code == 302

    answer = client.get(QF, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert answer.status_code == 403 and answer["Content-Type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/consent-missing")
    refused = JournalEntry.objects.filter(event_type="exchange.gateway_call").order_by("-id").first()
    assert refused.outcome == "failure" and refused.data["reason"] == "consent-missing"
    assert refused.subject == pseudonym_for(str(consent.user.public_id))


def test_a_token_without_the_data_scope_gets_nothing(client, service, fi):
    token = citizen_token(client, service, fi, scope="openid profile")
    answer = client.get(QF, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 403 and answer["Content-Type"] == "application/problem+json"
    assert JournalEntry.objects.get(event_type="exchange.gateway_call").outcome == "failure"


def test_a_citizen_token_cannot_designate_someone_else(client, service, fi):
    token = citizen_token(client, service, fi)
    answer = client.get(
        QF, {"nomNaissance": "MARTIN", "prenoms": "Paul"}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert answer.status_code == 400
    assert {"nomNaissance", "prenoms"} <= {error["field"] for error in answer.json()["errors"]}


def test_a_recipient_outside_the_contract_is_refused(client, service, fi):
    token = citizen_token(client, service, fi)
    answer = client.get(QF, {"recipient": "35600000000048"}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "recipient"


def test_the_contract_ending_stops_the_calls(client, service, fi):
    token = citizen_token(client, service, fi)
    Authorization.objects.update(state="revoked", ended_at=timezone.now())
    answer = client.get(QF, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 403


def test_an_expired_token_is_refused(client, service, fi):
    from oauth2_provider.models import AccessToken

    token = citizen_token(client, service, fi)
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert client.get(QF, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_a_service_without_a_contract_cannot_even_ask_for_the_data_scope(client, contract, fi):  # noqa: F811
    stranger = _service(OrganisationFactory(name="Autre commune"))
    from tests.identity.test_op import authorize_params, query

    response = client.get("/api/v2/authorize", authorize_params(stranger, scope="openid profile caf_qf"))
    assert response.status_code == 302
    back = query(response["Location"])
    assert back["error"] == "invalid_scope" and "caf_qf" in back["error_description"]


def test_an_unknown_scope_is_still_unknown(client, service):
    from tests.identity.test_op import authorize_params, query

    response = client.get("/api/v2/authorize", authorize_params(service, scope="openid caf_inconnu"))
    assert query(response["Location"])["error"] == "invalid_scope"


def test_service_registration_accepts_catalogue_scopes_only(client, contract):  # noqa: F811
    from identity.api_v1 import ServiceProviderInputSerializer

    data = {"name": "x", "redirect_uris": [REDIRECT], "scopes": ["openid", "caf_qf", "n_importe_quoi"]}
    serializer = ServiceProviderInputSerializer(data=data)
    assert not serializer.is_valid()
    assert "n_importe_quoi" in str(serializer.errors["scopes"]) and "caf_qf" not in str(serializer.errors)
