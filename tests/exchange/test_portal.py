"""The habilitation portal (/habilitations/): agents apply, amend and submit through DSFR forms; the
provider's instructors decide; nobody else learns that a habilitation exists."""

import uuid

import pytest

from exchange.models import ApiProduct, ApiScope, Habilitation, HabilitationChange, HabilitationState
from platform_core.enums import MembershipRole
from tests.factories import MembershipFactory, OrganisationFactory, UserFactory, valid_siret

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def member(organisation, role):
    user = UserFactory()
    MembershipFactory(user=user, organisation=organisation, role=role)
    return user


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path},
        },
    }


@pytest.fixture
def world():
    provider, consumer = OrganisationFactory(name="DGFiP"), OrganisationFactory(name="Mairie de Lyon")
    other = OrganisationFactory(name="Autre mairie")
    api = ApiProduct.objects.create(
        slug="impots", name="Impôt particulier", provider=provider, description="RFR",
        upstream_base_url="http://127.0.0.1:9/dgfip", published=True,
    )  # fmt: skip
    ApiScope.objects.create(
        api=api, code="dgfip_rfr", label="Revenu fiscal", fields=["rfr"], sensitivity="personal"
    )
    ApiScope.objects.create(api=api, code="dgfip_sante", label="Santé", fields=["x"], sensitivity="sensitive")
    return {
        "api": api, "consumer": consumer,
        "applicant": member(consumer, MembershipRole.AGENT),
        "instructor": member(provider, MembershipRole.INSTRUCTOR),
        "reporter": member(provider, MembershipRole.REPORTER),
        "stranger": member(other, MembershipRole.ADMIN),
    }  # fmt: skip


def form_data(world, **overrides):
    data = {
        "api": "impots",
        "organisation": str(world["consumer"].public_id),
        "title": "Tarification de la cantine",
        "purpose": "Calculer le tarif selon le revenu fiscal de référence.",
        "legal_basis_nature": "deliberation",
        "legal_basis_url": "",
        "scopes": ["dgfip_rfr"],
        "recipients": "",
        "retention_months": "12",
        "retention_justification": "",
        "expected_volume": "500",
        "production_date": "2027-01-04",
    }
    for role in ("business", "technical", "dpo", "controller"):
        data[f"contact_{role}_name"] = f"Contact {role}"
        data[f"contact_{role}_email"] = f"{role}@mairie.example.fr"
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def create(client, world, **overrides) -> Habilitation:
    client.force_login(world["applicant"])
    response = client.post("/habilitations/nouvelle/", form_data(world, **overrides))
    assert response.status_code == 302, response.content.decode()[:3000]
    return Habilitation.objects.get()


def detail_url(habilitation):
    return f"/habilitations/{habilitation.public_id}/"


def act(client, habilitation, action, message=""):
    return client.post(f"{detail_url(habilitation)}actions/", {"action": action, "message": message})


def test_anonymous_people_are_sent_to_the_sign_in_choice(client):
    response = client.get("/habilitations/")
    assert response.status_code == 302 and response["Location"].startswith("/identite/connexion/?next=")


def test_the_new_request_starts_with_the_api_and_the_organisation(client, world):
    client.force_login(world["applicant"])
    html = client.get("/habilitations/nouvelle/").content.decode()
    assert "Impôt particulier" in html and "Mairie de Lyon" in html and "Autre mairie" not in html

    html = client.get(
        "/habilitations/nouvelle/", {"api": "impots", "organisation": str(world["consumer"].public_id)}
    ).content.decode()
    assert 'name="dgfip_rfr"' not in html and 'value="dgfip_rfr"' in html
    assert "Donnée sensible" in html and "Délégué à la protection des données" in html


def test_the_applicant_creates_edits_and_submits_then_the_instructor_decides(client, world):
    habilitation = create(client, world, legal_basis_url=None)
    assert habilitation.state == HabilitationState.DRAFT and habilitation.applicant == world["applicant"]
    assert list(habilitation.scopes.values_list("code", flat=True)) == ["dgfip_rfr"]
    assert habilitation.contacts["dpo"] == {"name": "Contact dpo", "email": "dpo@mairie.example.fr"}

    # Incomplete (no legal basis text): the submission is refused and the reasons listed.
    response = act(client, habilitation, "submit")
    assert response.status_code == 200
    assert "La demande est incomplète" in response.content.decode()
    assert "Joignez le texte du fondement juridique" in response.content.decode()
    habilitation.refresh_from_db()
    assert habilitation.state == HabilitationState.DRAFT

    edit = client.get(f"{detail_url(habilitation)}modifier/")
    assert edit.status_code == 200 and "Tarification de la cantine" in edit.content.decode()
    response = client.post(
        f"{detail_url(habilitation)}modifier/",
        form_data(world, legal_basis_url="https://mairie.example.fr/deliberation.pdf"),
    )
    assert response.status_code == 302
    assert HabilitationChange.objects.filter(habilitation=habilitation, field="legal_basis_url").exists()

    response = act(client, habilitation, "submit")
    assert response.status_code == 302
    habilitation.refresh_from_db()
    assert habilitation.state == HabilitationState.SUBMITTED
    assert "La demande a été soumise." in client.get(detail_url(habilitation)).content.decode()

    client.force_login(world["instructor"])
    html = client.get(detail_url(habilitation)).content.decode()
    assert 'value="validate"' in html and 'value="request_changes"' in html and 'value="submit"' not in html
    response = act(client, habilitation, "request_changes", "")  # the message is required
    assert response.status_code == 200 and "Expliquez votre décision" in response.content.decode()
    assert act(client, habilitation, "request_changes", "Précisez la finalité.").status_code == 302
    habilitation.refresh_from_db()
    assert habilitation.state == HabilitationState.CHANGES_REQUESTED

    client.force_login(world["applicant"])
    assert "Précisez la finalité." in client.get(detail_url(habilitation)).content.decode()
    amended = form_data(world, purpose="Tarif selon le quotient.", legal_basis_url="https://x.example.fr/d")
    client.post(f"{detail_url(habilitation)}modifier/", amended)
    assert act(client, habilitation, "submit").status_code == 302

    client.force_login(world["instructor"])
    assert act(client, habilitation, "validate").status_code == 302
    html = client.get(detail_url(habilitation)).content.decode()
    assert (
        "Autorisation en vigueur" in html
        and "dgfip_rfr" in html
        and "L&#x27;habilitation est validée." in html
    )
    assert "Tarif selon le quotient." in html  # the history table
    assert habilitation.active_authorization.version == 1

    # A decision in the wrong state is a readable message, not an error page.
    response = act(client, habilitation, "validate")
    assert response.status_code == 302
    assert "Impossible depuis l" in client.get(detail_url(habilitation)).content.decode()


def test_the_list_shows_both_sides_and_filters_by_state(client, world):
    habilitation = create(client, world)
    html = client.get("/habilitations/").content.decode()
    assert "Tarification de la cantine" in html and "Brouillon" in html and "Impôt particulier" in html
    assert "Mes habilitations" in html  # the header link
    client.force_login(world["instructor"])
    assert "Tarification de la cantine" in client.get("/habilitations/").content.decode()
    assert "Tarification" not in client.get("/habilitations/", {"etat": "validated"}).content.decode()
    assert client.get("/habilitations/", {"etat": "n'importe quoi"}).status_code == 200
    client.force_login(world["stranger"])
    assert habilitation.title not in client.get("/habilitations/").content.decode()


def test_messages_between_the_applicant_and_the_instructor(client, world):
    habilitation = create(client, world)
    response = client.post(f"{detail_url(habilitation)}messages/", {"body": "Une question ?"})
    assert response.status_code == 302
    client.force_login(world["instructor"])
    client.post(f"{detail_url(habilitation)}messages/", {"body": "Voici la réponse."})
    html = client.get(detail_url(habilitation)).content.decode()
    assert "Une question ?" in html and "Voici la réponse." in html
    assert client.post(f"{detail_url(habilitation)}messages/", {"body": "  "}).status_code == 200


def test_a_stranger_gets_404_everywhere(client, world):
    habilitation = create(client, world)
    client.force_login(world["stranger"])
    for response in (
        client.get(detail_url(habilitation)),
        client.get(f"{detail_url(habilitation)}modifier/"),
        client.post(f"{detail_url(habilitation)}modifier/", form_data(world)),
        act(client, habilitation, "archive"),
        client.post(f"{detail_url(habilitation)}messages/", {"body": "Bonjour"}),
    ):
        assert response.status_code == 404
    habilitation.refresh_from_db()
    assert habilitation.state == HabilitationState.DRAFT


def test_a_reporter_sees_but_cannot_act(client, world):
    habilitation = create(client, world, legal_basis_url="https://x.example.fr/d")
    act(client, habilitation, "submit")
    client.force_login(world["reporter"])
    response = client.get(detail_url(habilitation))
    html = response.content.decode()
    assert response.status_code == 200 and "Tarification de la cantine" in html
    assert 'name="action"' not in html and "Envoyer le message" not in html
    assert act(client, habilitation, "validate").status_code in (403, 404)
    assert client.post(f"{detail_url(habilitation)}messages/", {"body": "x"}).status_code in (403, 404)
    assert client.get(f"{detail_url(habilitation)}modifier/").status_code in (403, 404)
    habilitation.refresh_from_db()
    assert habilitation.state == HabilitationState.SUBMITTED


def test_the_legal_basis_pdf(client, world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(world["applicant"])
    fake = SimpleUploadedFile("fondement.pdf", b"<html>not a pdf</html>", content_type="application/pdf")
    response = client.post("/habilitations/nouvelle/", {**form_data(world), "legal_basis_document": fake})
    assert response.status_code == 200 and "n&#x27;est pas un PDF valide" in response.content.decode()
    word = SimpleUploadedFile("fondement.pdf", PDF, content_type="application/msword")
    response = client.post("/habilitations/nouvelle/", {**form_data(world), "legal_basis_document": word})
    assert "Le fichier doit être un PDF." in response.content.decode()
    big = SimpleUploadedFile("gros.pdf", PDF + b"0" * (5 * 1024 * 1024), content_type="application/pdf")
    response = client.post("/habilitations/nouvelle/", {**form_data(world), "legal_basis_document": big})
    assert "Le fichier dépasse 5 Mo." in response.content.decode()
    assert not Habilitation.objects.exists()

    good = SimpleUploadedFile("fondement.pdf", PDF, content_type="application/pdf")
    response = client.post("/habilitations/nouvelle/", {**form_data(world), "legal_basis_document": good})
    assert response.status_code == 302
    habilitation = Habilitation.objects.get()
    assert habilitation.legal_basis_document.name.endswith(".pdf")
    assert "fondement" not in habilitation.legal_basis_document.name  # never the uploaded name
    download = client.get(f"{detail_url(habilitation)}fondement-juridique.pdf")
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    assert act(client, habilitation, "submit").status_code == 302  # the PDF is a legal basis text

    client.force_login(world["stranger"])
    assert client.get(f"{detail_url(habilitation)}fondement-juridique.pdf").status_code == 404


def test_the_pdf_replaces_the_previous_one_on_edit(client, world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    habilitation = create(client, world)
    pdf = SimpleUploadedFile("x.pdf", PDF, content_type="application/pdf")
    response = client.post(
        f"{detail_url(habilitation)}modifier/", {**form_data(world), "legal_basis_document": pdf}
    )
    assert response.status_code == 302
    habilitation.refresh_from_db()
    assert habilitation.legal_basis_document
    assert habilitation.changes.filter(field="legal_basis_document").exists()


def test_recipients_are_sirets_one_per_line(client, world):
    client.force_login(world["applicant"])
    response = client.post("/habilitations/nouvelle/", form_data(world, recipients="12345678901234\nabc"))
    html = response.content.decode()
    assert (
        response.status_code == 200 and "ne sont pas des SIRET valides" in html and "12345678901234" in html
    )
    good = valid_siret(42)
    create(client, world, recipients=f"{good[:3]} {good[3:]}\n\n{good}\n")
    assert Habilitation.objects.get().recipients == [good]


def test_retention_beyond_36_months_needs_a_justification(client, world):
    client.force_login(world["applicant"])
    response = client.post("/habilitations/nouvelle/", form_data(world, retention_months="48"))
    assert response.status_code == 200 and "justifiez la durée de conservation" in response.content.decode()


def test_no_page_answers_500_to_bad_input(client, world):
    habilitation = create(client, world)
    unknown = uuid.uuid4()
    assert client.get(f"/habilitations/{unknown}/").status_code == 404
    assert client.get(f"/habilitations/{unknown}/modifier/").status_code == 404
    assert client.post(f"/habilitations/{unknown}/actions/", {"action": "submit"}).status_code == 404
    assert client.get("/habilitations/pas-un-uuid/").status_code == 404
    assert act(client, habilitation, "n'importe quoi").status_code == 302
    assert client.post(f"{detail_url(habilitation)}actions/", {}).status_code == 302
    assert client.post(f"{detail_url(habilitation)}actions/", {"action": ["validate", "x"]}).status_code < 500
    assert act(client, habilitation, "validate").status_code == 403  # the applicant does not instruct
    assert client.post(f"{detail_url(habilitation)}messages/", {}).status_code == 200
    assert client.get(f"{detail_url(habilitation)}actions/").status_code == 405
    for garbage in (
        {},
        {"api": "inconnue", "organisation": "x"},
        {"api": "impots", "organisation": str(world["consumer"].public_id)},
        form_data(world, scopes=["autre_api"], retention_months="-3", production_date="hier",
                  legal_basis_nature="x", expected_volume="beaucoup", contact_dpo_email="pas une adresse"),
        form_data(world, title="x" * 5000, retention_months="99999999999999999999"),
    ):  # fmt: skip
        assert client.post("/habilitations/nouvelle/", garbage).status_code == 200
        assert client.post(f"{detail_url(habilitation)}modifier/", garbage).status_code == 200
    stranger_org = OrganisationFactory()
    response = client.post(
        "/habilitations/nouvelle/", form_data(world, organisation=str(stranger_org.public_id))
    )
    assert response.status_code == 200
    assert Habilitation.objects.count() == 1
