"""A citizen signs in through an identity provider: Maillage's pages with Django's client, the sandbox
provider over HTTP in its own process."""

import io
import re
from urllib.parse import urlsplit

import httpx
import pytest

from identity import federation
from identity.backends import FederationBackend
from identity.models import CitizenIdentity, FederatedIdentity, IdentityProvider, User
from identity.pivot import normalise
from protection.events import register
from protection.models import JournalEntry
from tests.identity.conftest import CLIENT_ID, SECRET

pytestmark = pytest.mark.django_db
register("tests.my_space_consulted", "Consultation de test (Mon espace)")


@pytest.fixture(autouse=True)
def _fresh_caches():
    federation.clear_caches()


def make_provider(issuer: str, slug: str = "sandbox-usagers", **fields) -> IdentityProvider:
    return IdentityProvider.objects.create(
        issuer=issuer, slug=slug, name=f"Démo {slug}", client_id=CLIENT_ID, client_secret=SECRET,
        enabled=True, **fields,
    )  # fmt: skip


@pytest.fixture
def provider(idp):
    return make_provider(f"{idp}/usagers")


def go_to_fi(client, provider, next_url="/a-propos/") -> str:
    choice = client.get("/identite/connexion/")
    assert choice.status_code == 200 and provider.name in choice.content.decode()
    started = client.post(f"/identite/fi/{provider.slug}/", {"next": next_url})
    assert started.status_code == 302
    return started["Location"]


def pick_account(authorize_url: str, login: str) -> str:
    """The FI's page, as the person's browser: returns the callback URL it redirects to."""
    page = httpx.get(authorize_url)
    assert page.status_code == 200, (authorize_url, page.text)
    transaction = re.search(r'name="transaction" value="([^"]+)"', page.text).group(1)
    answer = httpx.post(authorize_url.split("?")[0], data={"transaction": transaction, "login": login})
    assert answer.status_code == 302
    return answer.headers["location"]


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_a_citizen_signs_in_and_lands_where_they_were_going(client, provider):
    back = pick_account(go_to_fi(client, provider), "jean-pierre")

    response = client.get(local(back))

    assert response.status_code == 302 and response["Location"] == "/a-propos/"
    identity = CitizenIdentity.objects.get()
    assert client.session["_auth_user_id"] == str(identity.user.pk)
    assert (identity.given_name, identity.family_name, identity.birthplace) == (
        "Jean-Pierre Marie",
        "MARTIN",
        "69123",
    )
    assert FederatedIdentity.objects.get().provider == provider
    verified = JournalEntry.objects.get(event_type="identity.fi_verified")
    assert verified.data == {"fi": provider.slug, "acr": "eidas1", "new_account": True}
    assert (
        "MARTIN" not in str(verified.data)
        and JournalEntry.objects.filter(event_type="identity.fi_chosen").exists()
    )


def test_the_same_person_through_two_providers_is_one_account(idp, provider):
    other = make_provider(f"{idp}/agents", slug="sandbox-agents")
    claims = {"given_name": "Angela  Claire Louise", "family_name": "Dubois", "birthdate": "1962-08-24",
              "gender": "female", "birthplace": "75107", "birthcountry": "99100"}  # fmt: skip

    first = FederationBackend(provider).citizen_for(normalise(claims), {"sub": "a"})
    second = FederationBackend(other).citizen_for(
        normalise({**claims, "family_name": "DUBOIS"}), {"sub": "b"}
    )

    assert first == second and CitizenIdentity.objects.count() == 1
    assert set(FederatedIdentity.objects.values_list("provider__slug", flat=True)) == {
        provider.slug,
        other.slug,
    }


def test_a_replayed_callback_is_refused_and_journaled(client, provider):
    back = local(pick_account(go_to_fi(client, provider), "angela"))
    assert client.get(back).status_code == 302

    replay = client.get(back)

    assert replay.status_code == 400
    assert "expiré ou a déjà été utilisée" in replay.content.decode()
    assert JournalEntry.objects.get(event_type="identity.fi_refused").data == {
        "fi": "",
        "reason": "state_unknown",
    }


def test_an_answer_from_another_provider_is_refused(client, provider, idp):
    back = local(pick_account(go_to_fi(client, provider), "angela"))

    mixed_up = client.get(back.replace("usagers", "entreprises"))  # iss names another issuer

    assert mixed_up.status_code == 400
    assert JournalEntry.objects.get(event_type="identity.fi_refused").data["reason"] == "issuer_mismatch"
    assert "_auth_user_id" not in client.session


def test_a_missing_iss_is_refused_when_the_provider_announces_it(client, provider):
    back = local(pick_account(go_to_fi(client, provider), "angela"))

    response = client.get(re.sub(r"&iss=[^&]*", "", back))

    assert response.status_code == 400
    assert JournalEntry.objects.get(event_type="identity.fi_refused").data["reason"] == "issuer_mismatch"


def test_an_error_from_the_provider_gets_a_readable_page(client, provider):
    location = go_to_fi(client, provider)
    state = re.search(r"state=([^&]+)", location).group(1)

    response = client.get(f"/identite/fi/callback?error=access_denied&state={state}&iss={provider.issuer}")

    assert response.status_code == 400
    assert "interrompu la connexion" in response.content.decode()


def test_an_identity_without_pivot_fields_is_refused(client, idp):
    agents_as_citizens = make_provider(f"{idp}/agents", slug="sandbox-agents")
    back = pick_account(go_to_fi(client, agents_as_citizens), "camille.agent")

    response = client.get(local(back))

    assert response.status_code == 400 and "Identité incomplète" in response.content.decode()
    assert not CitizenIdentity.objects.exists()


def test_only_post_starts_a_sign_in_and_only_enabled_providers(client, provider):
    assert client.get(f"/identite/fi/{provider.slug}/").status_code == 405
    provider.enabled = False
    provider.save()
    assert client.post(f"/identite/fi/{provider.slug}/").status_code == 404


def test_make_run_registers_the_sandbox_realms_once(tmp_path, idp):
    from django.core.management import call_command

    (tmp_path / "secret").write_text("s3cret-for-the-sandbox-provider\n")
    call_command("load_sandbox_providers", url=idp, secret_file=str(tmp_path / "secret"))
    call_command("load_sandbox_providers", url=idp, secret_file=str(tmp_path / "secret"))

    citizens = IdentityProvider.objects.get(slug="demo-usagers")
    assert (citizens.issuer, citizens.enabled, citizens.client_secret) == (
        f"{idp}/usagers",
        True,
        "s3cret-for-the-sandbox-provider",
    )
    assert IdentityProvider.objects.count() == 3
    assert IdentityProvider.objects.filter(enabled=True).count() == 3  # companies' included
    assert IdentityProvider.objects.get(slug="demo-entreprises").audience == "company"
    assert JournalEntry.objects.filter(event_type="identity.provider_created").count() == 3
    assert not JournalEntry.objects.filter(event_type="identity.provider_changed").exists()
    assert federation.metadata(citizens).issuer == citizens.issuer  # reachable as registered


@pytest.mark.parametrize(
    ("login", "realm", "organisation", "role"),
    [
        ("demo.instructeur", "demo-agents", "18003502400017", "instructor"),
        ("demo.agent", "demo-agents", "21690123100011", "agent"),
        ("demo.entreprise", "demo-entreprises", "35600000000048", "representative"),
    ],
)
def test_make_runs_sandbox_users_sign_in_through_the_sandbox_provider_with_their_roles(
    client, tmp_path, idp, login, realm, organisation, role
):
    from django.core.management import call_command

    from platform_core.models import Membership

    (tmp_path / "secret").write_text(SECRET + "\n")
    call_command("load_sandbox", force=True, stdout=io.StringIO())
    out = io.StringIO()
    call_command("load_sandbox_providers", url=idp, secret_file=str(tmp_path / "secret"), stdout=out)
    call_command("load_sandbox_providers", url=idp, secret_file=str(tmp_path / "secret"), stdout=out)
    user = User.objects.get(username=login)
    links = JournalEntry.objects.filter(event_type="identity.user_changed", subject__isnull=False)
    assert sum(entry.data.get("sandbox_account") == login for entry in links) == 1  # linked once

    provider = IdentityProvider.objects.get(slug=realm)
    client.get(local(pick_account(go_to_fi(client, provider, "/habilitations/"), login)))

    assert client.session["_auth_user_id"] == str(user.pk)  # Maillage's sandbox user, not a new account
    assert Membership.objects.filter(user=user, organisation__siret=organisation, role=role).exists()
    assert client.get("/habilitations/").status_code == 200
    user.refresh_from_db()
    assert user.has_usable_password() and FederatedIdentity.objects.filter(user=user).count() == 1


def test_the_choice_page_lets_its_forms_lead_to_the_providers(client, provider, idp):
    policy = client.get("/identite/connexion/")["Content-Security-Policy"]

    form_action = next(part for part in policy.split(";") if "form-action" in part)
    assert "'self'" in form_action and idp in form_action


# --- the civil registry ------------------------------------------------------------------------------


@pytest.fixture
def registry(settings, idp):
    settings.CIVIL_REGISTRY_URL = f"{idp}/registre/verification"


@pytest.mark.parametrize(
    ("login", "status", "text", "result"),
    [
        ("marcel", 403, "décédée", "deceased"),
        ("inconnu", 403, "ne connaît pas cette identité", "unknown_person"),
    ],
)
def test_the_civil_registry_can_refuse_a_sign_in(client, provider, registry, login, status, text, result):
    response = client.get(local(pick_account(go_to_fi(client, provider), login)))

    assert response.status_code == status and text in response.content.decode()
    assert "_auth_user_id" not in client.session and not CitizenIdentity.objects.exists()
    checked = JournalEntry.objects.get(event_type="identity.registry_checked")
    assert (checked.outcome, checked.data) == ("failure", {"fi": provider.slug, "result": result})


def test_a_known_living_person_is_verified(client, provider, registry):
    client.get(local(pick_account(go_to_fi(client, provider), "aminata")))

    checked = JournalEntry.objects.get(event_type="identity.registry_checked")
    assert (checked.outcome, checked.data["result"]) == ("success", "found")
    assert checked.subject  # the person, under a pseudonym


def test_an_unreachable_registry_stops_the_sign_in(client, provider, settings):
    settings.CIVIL_REGISTRY_URL = "http://127.0.0.1:9/registre"  # nothing listens there

    response = client.get(local(pick_account(go_to_fi(client, provider), "angela")))

    assert response.status_code == 503 and "_auth_user_id" not in client.session


def test_without_a_registry_sign_ins_are_journaled_as_unchecked(client, provider, settings):
    settings.CIVIL_REGISTRY_URL = ""

    client.get(local(pick_account(go_to_fi(client, provider), "angela")))

    assert JournalEntry.objects.get(event_type="identity.registry_checked").data["result"] == "unchecked"


# --- Mon espace and signing out --------------------------------------------------------------------


def signed_in(client, provider, login="angela"):
    client.get(local(pick_account(go_to_fi(client, provider, next_url="/identite/mon-espace/"), login)))
    return CitizenIdentity.objects.get(
        family_name__isnull=False, user__pk=client.session["_auth_user_id"]
    ).user


def test_mon_espace_needs_a_sign_in_and_comes_back_after_it(client, provider):
    response = client.get("/identite/mon-espace/")
    assert response.status_code == 302 and response["Location"].startswith("/identite/connexion/?next=")

    back = local(pick_account(go_to_fi(client, provider, next_url="/identite/mon-espace/"), "angela"))
    assert client.get(back)["Location"] == "/identite/mon-espace/"


def test_mon_espace_shows_my_sign_ins_and_who_used_my_data_and_nobody_elses(client, provider):
    from datetime import timedelta

    from django.utils import timezone

    from protection import journal
    from protection.pseudonyms import pseudonym_for

    user = signed_in(client, provider)
    mine = pseudonym_for(str(user.public_id))
    fields = {"fields": ["quotient_familial"]}
    journal.record("tests.my_space_consulted", actor="CAF de la Gironde", subject=mine,
                   purpose="Calcul des aides au logement", data=fields)  # fmt: skip
    journal.record("tests.my_space_consulted", actor="Service secret", subject=mine, purpose="Enquête",
                   deferred_disclosure_until=timezone.now() + timedelta(days=30))  # fmt: skip
    journal.record("tests.my_space_consulted", actor="Ailleurs", subject=pseudonym_for("someone-else"),
                   purpose="Autre personne")  # fmt: skip

    page = client.get("/identite/mon-espace/").content.decode()

    assert "Démo sandbox-usagers" in page and "eidas1" in page
    assert (
        "CAF de la Gironde" in page and "quotient_familial" in page and "Calcul des aides au logement" in page
    )
    assert "Service secret" not in page and "1 utilisation est temporairement masquée" in page
    assert "Autre personne" not in page


def test_signing_out_ends_the_provider_session_too(client, provider):
    user = signed_in(client, provider)

    policy = client.get("/identite/mon-espace/")["Content-Security-Policy"]
    assert provider.issuer.rsplit("/", 1)[0] in next(p for p in policy.split(";") if "form-action" in p)
    response = client.post("/identite/deconnexion/")

    assert "_auth_user_id" not in client.session
    end_session = response["Location"]
    assert end_session.startswith(f"{provider.issuer}/session/end?") and "id_token_hint=ey" in end_session
    returned = httpx.get(end_session)  # the FI ends its session and sends the browser back
    assert returned.status_code == 302
    done = client.get(local(returned.headers["location"]))
    assert (
        done.status_code == 200
        and "Votre session Maillage et celle de votre fournisseur" in done.content.decode()
    )
    signed_out = JournalEntry.objects.get(event_type="identity.signed_out")
    assert signed_out.subject and signed_out.data == {"fi": provider.slug}
    assert user.pk  # the account stays; only the session ended


def test_a_citizen_blocks_a_provider_and_cannot_sign_in_with_it_any_more(client, provider, idp):
    other = make_provider(f"{idp}/entreprises", slug="autre-fi")  # a second citizen FI to keep
    user = signed_in(client, provider)

    response = client.post(
        "/identite/mon-espace/fournisseurs/", {"provider": provider.slug, "action": "block"}
    )
    assert response.status_code == 302
    assert "est bloqué pour vos prochaines connexions" in client.get("/identite/mon-espace/").content.decode()
    blocked = JournalEntry.objects.get(event_type="identity.provider_blocked")
    assert blocked.subject and blocked.data == {"fi": provider.slug}

    # The last allowed provider cannot be blocked.
    client.post("/identite/mon-espace/fournisseurs/", {"provider": other.slug, "action": "block"})
    assert "Gardez au moins un fournisseur" in client.get("/identite/mon-espace/").content.decode()

    client.post("/identite/deconnexion/")
    refused = client.get(local(pick_account(go_to_fi(client, provider), "angela")))
    assert refused.status_code == 403 and "Vous avez bloqué ce fournisseur" in refused.content.decode()
    assert "_auth_user_id" not in client.session

    # Unblocking needs a session: not possible anonymously.
    assert client.post("/identite/mon-espace/fournisseurs/", {"provider": provider.slug, "action": "allow"})[
        "Location"
    ].startswith("/identite/connexion/")
    assert user.provider_blocks.count() == 1


def test_blocking_asks_for_a_known_provider_and_action(client, provider):
    signed_in(client, provider)

    assert (
        client.post("/identite/mon-espace/fournisseurs/", {"provider": "nope", "action": "block"}).status_code
        == 404
    )
    client.post("/identite/mon-espace/fournisseurs/", {"provider": provider.slug, "action": "explode"})
    assert "Action inconnue" in client.get("/identite/mon-espace/").content.decode()


def test_sign_ins_are_rate_limited_per_address(client, provider, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "sign_in": {"ip": "2/min"}}

    allowed = [client.post(f"/identite/fi/{provider.slug}/") for _ in range(2)]
    refused = client.post(f"/identite/fi/{provider.slug}/")

    assert [response.status_code for response in allowed] == [302, 302]
    assert allowed[-1]["RateLimit-Remaining"] == "0"
    assert refused.status_code == 429 and "Trop de tentatives" in refused.content.decode()
    assert int(refused["Retry-After"]) >= 1 and refused["RateLimit-Limit"] == "2"


# --- public agents ---------------------------------------------------------------------------------


@pytest.fixture
def agents_fi(idp):
    from identity.enums import ProviderAudience

    return make_provider(f"{idp}/agents", slug="demo-agents", audience=ProviderAudience.AGENT)


def test_an_agent_signs_in_and_joins_the_organisation_of_their_siret(client, agents_fi):
    from identity.enums import UserKind
    from platform_core.models import Membership
    from tests.factories import OrganisationFactory

    dinum = OrganisationFactory(siret="13002526500013", name="DINUM")
    page = client.get("/identite/connexion/").content.decode()
    assert "Agents publics" in page and "Démo demo-agents" in page

    response = client.get(local(pick_account(go_to_fi(client, agents_fi), "camille.agent")))

    assert response.status_code == 302
    user = Membership.objects.get(organisation=dinum).user
    assert (user.kind, user.email, user.last_name) == (
        UserKind.AGENT,
        "camille.rousseau@numerique.gouv.fr",
        "ROUSSEAU",
    )
    assert not user.has_usable_password()
    verified = JournalEntry.objects.get(event_type="identity.fi_verified")
    assert verified.organisation_id == str(dinum.public_id)
    assert JournalEntry.objects.filter(event_type="platform.membership_created").count() == 1
    assert not JournalEntry.objects.filter(event_type="identity.registry_checked").exists()

    client.post("/identite/deconnexion/")
    client.get(local(pick_account(go_to_fi(client, agents_fi), "camille.agent")))  # the same account again
    assert Membership.objects.filter(user=user).count() == 1 and client.session["_auth_user_id"] == str(
        user.pk
    )


def test_an_agent_of_an_unknown_organisation_signs_in_without_membership(client, agents_fi):
    from platform_core.models import Membership

    response = client.get(local(pick_account(go_to_fi(client, agents_fi), "hugo.agent")))

    assert response.status_code == 302 and "_auth_user_id" in client.session
    assert not Membership.objects.exists()


# --- company representatives -----------------------------------------------------------------------


@pytest.fixture
def companies_fi(idp):
    from identity.enums import ProviderAudience

    return make_provider(f"{idp}/entreprises", slug="demo-entreprises", audience=ProviderAudience.COMPANY)


def test_a_representative_signs_in_and_represents_the_company_of_their_siren(client, companies_fi):
    from identity.enums import UserKind
    from platform_core.enums import MembershipRole, OrganisationKind
    from platform_core.models import Membership
    from tests.factories import OrganisationFactory

    # given La Poste (SIREN 356000000) and a public body that is not a company
    la_poste = OrganisationFactory(siret="35600000000048", name="La Poste", kind=OrganisationKind.COMPANY)
    page = client.get("/identite/connexion/").content.decode()
    assert "Entreprises" in page and 'id="fi-demo-entreprises"' in page

    # when
    response = client.get(local(pick_account(go_to_fi(client, companies_fi), "claire.dirigeante")))

    # then
    assert response.status_code == 302
    membership = Membership.objects.get()
    user = membership.user
    assert (membership.organisation, membership.role) == (la_poste, MembershipRole.REPRESENTATIVE)
    assert (user.kind, user.email, user.first_name, user.last_name) == (
        UserKind.COMPANY,
        "claire.fontaine@example.fr",
        "Claire",
        "FONTAINE",
    )
    assert user.username.startswith("entreprise-") and not user.has_usable_password()
    verified = JournalEntry.objects.get(event_type="identity.fi_verified")
    assert verified.organisation_id == str(la_poste.public_id) and verified.data["new_account"] is True
    assert JournalEntry.objects.filter(event_type="platform.membership_created").count() == 1
    assert not JournalEntry.objects.filter(event_type="identity.registry_checked").exists()

    # and a second sign-in finds the same account, without a second membership
    client.post("/identite/deconnexion/")
    client.get(local(pick_account(go_to_fi(client, companies_fi), "claire.dirigeante")))
    assert client.session["_auth_user_id"] == str(user.pk)
    assert Membership.objects.count() == 1
    assert JournalEntry.objects.filter(event_type="platform.membership_created").count() == 1


def test_a_siren_only_leads_to_a_company(client, companies_fi):
    from platform_core.enums import OrganisationKind
    from platform_core.models import Membership
    from tests.factories import OrganisationFactory

    OrganisationFactory(siret="35600000000048", kind=OrganisationKind.STATE_OPERATOR)

    response = client.get(local(pick_account(go_to_fi(client, companies_fi), "claire.dirigeante")))

    assert response.status_code == 302 and "_auth_user_id" in client.session
    assert not Membership.objects.exists()


def test_a_representative_of_an_unknown_company_signs_in_without_membership(client, companies_fi):
    from identity.enums import UserKind
    from identity.models import User
    from platform_core.models import Membership

    response = client.get(local(pick_account(go_to_fi(client, companies_fi), "claire.dirigeante")))

    assert response.status_code == 302
    assert User.objects.get(pk=client.session["_auth_user_id"]).kind == UserKind.COMPANY
    assert not Membership.objects.exists()
    assert JournalEntry.objects.get(event_type="identity.fi_verified").organisation_id == ""


def test_an_invalid_siren_is_refused_with_a_readable_page(client, companies_fi):
    from identity.models import User

    response = client.get(local(pick_account(go_to_fi(client, companies_fi), "marc.dirigeant")))

    assert response.status_code == 400 and "Identité incomplète" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not User.objects.exists() and not FederatedIdentity.objects.exists()
    refused = JournalEntry.objects.get(event_type="identity.fi_refused")
    assert refused.data == {"fi": "demo-entreprises", "reason": "pivot_identity"}


def test_a_subject_linked_to_a_citizen_is_refused(client, companies_fi):
    from identity.models import User
    from platform_core.models import Membership
    from tests.factories import OrganisationFactory, UserFactory

    # given the representative's subject at this FI leads to a citizen's account
    OrganisationFactory(siret="35600000000048", kind="company")
    client.get(local(pick_account(go_to_fi(client, companies_fi), "claire.dirigeante")))
    client.post("/identite/deconnexion/")
    citizen = UserFactory(citizen=True)
    FederatedIdentity.objects.update(user=citizen)
    Membership.objects.all().delete()

    # when
    response = client.get(local(pick_account(go_to_fi(client, companies_fi), "claire.dirigeante")))

    # then
    assert response.status_code == 403 and "Compte incompatible" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not Membership.objects.exists()
    assert User.objects.get(pk=citizen.pk).kind == "citizen"
