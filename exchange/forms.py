"""Forms of the habilitation portal: they check the shape of what a person typed (a SIRET, a PDF, a
number) and hand the values to exchange.services, which holds the rules."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.fr import siret as siret_number

from exchange.models import CONTACT_ROLES, RETENTION_WITHOUT_JUSTIFICATION, Habilitation, LegalBasisNature

PDF_MAX_BYTES = 5 * 1024 * 1024
PDF_CONTENT_TYPES = {"application/pdf", "application/x-pdf"}


class DsfrFormMixin:
    """The DSFR classes on the widgets; the templates lay the fields out (templates/exchange/_field.html)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.Select) and not isinstance(widget, forms.CheckboxSelectMultiple):
                widget.attrs.setdefault("class", "fr-select")
            elif isinstance(widget, forms.FileInput):
                widget.attrs.setdefault("class", "fr-upload")
            elif not isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple):
                widget.attrs.setdefault("class", "fr-input")


class StartForm(DsfrFormMixin, forms.Form):
    """The first step of a new request: which API, for which of the person's organisations."""

    api = forms.ModelChoiceField(
        label=_("API demandée"), queryset=None, to_field_name="slug", empty_label=_("Choisissez une API")
    )
    organisation = forms.ModelChoiceField(
        label=_("Organisation demandeuse"),
        queryset=None,
        to_field_name="public_id",
        empty_label=_("Choisissez votre organisation"),
    )

    def __init__(self, *args, apis, organisations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["api"].queryset = apis
        self.fields["organisation"].queryset = organisations


def clean_pdf(document):
    if document.size > PDF_MAX_BYTES:
        raise ValidationError(_("Le fichier dépasse 5 Mo."), code="too_large")
    if (document.content_type or "").split(";")[0].strip().lower() not in PDF_CONTENT_TYPES:
        raise ValidationError(_("Le fichier doit être un PDF."), code="not_pdf")
    document.seek(0)
    head = document.read(5)
    document.seek(0)
    if head[:4] != b"%PDF":
        raise ValidationError(_("Le fichier n'est pas un PDF valide."), code="not_pdf")
    return document


class HabilitationForm(DsfrFormMixin, forms.Form):
    """Every field of a habilitation; a draft may be incomplete (submitting checks completeness)."""

    title = forms.CharField(label=_("Intitulé de la demande"), max_length=200)
    purpose = forms.CharField(
        label=_("Finalité"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Pourquoi votre organisation a besoin de ces données, pour quelle démarche."),
    )
    legal_basis_nature = forms.ChoiceField(
        label=_("Nature du fondement juridique"),
        choices=[("", _("Choisissez une nature")), *LegalBasisNature.choices],
    )
    legal_basis_url = forms.URLField(
        label=_("Texte du fondement juridique (adresse web)"),
        max_length=400,
        required=False,
        assume_scheme="https",
        help_text=_("Sur Légifrance ou sur le site de votre organisation ; ou joignez le PDF ci-dessous."),
    )
    legal_basis_document = forms.FileField(
        label=_("Texte du fondement juridique (PDF)"),
        required=False,
        widget=forms.FileInput(attrs={"accept": "application/pdf"}),
        help_text=_("Format PDF, 5 Mo au plus."),
    )
    scopes = forms.ModelMultipleChoiceField(
        label=_("Données demandées (scopes)"),
        queryset=None,
        to_field_name="code",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    recipients = forms.CharField(
        label=_("Destinataires des données (SIRET)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Un SIRET par ligne : les organisations, autres que la vôtre, qui recevront les données."
        ),
    )
    retention_months = forms.IntegerField(
        label=_("Durée de conservation (mois)"), min_value=1, max_value=600, initial=12
    )
    retention_justification = forms.CharField(
        label=_("Justification de la durée de conservation"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Obligatoire au-delà de 36 mois."),
    )
    expected_volume = forms.IntegerField(
        label=_("Volumétrie attendue (appels par jour)"), min_value=0, max_value=2_000_000_000, initial=1000
    )
    production_date = forms.DateField(
        label=_("Date de mise en production prévue"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Format : jj/mm/aaaa."),
    )

    def __init__(self, *args, api, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scopes"].queryset = api.scopes.order_by("code")
        for role in CONTACT_ROLES.ALL:
            self.fields[f"contact_{role}_name"] = forms.CharField(
                label=_("Nom et prénom"),
                max_length=200,
                required=False,
                widget=forms.TextInput(attrs={"class": "fr-input", "autocomplete": "name"}),
            )
            self.fields[f"contact_{role}_email"] = forms.EmailField(
                label=_("Adresse électronique"), max_length=254, required=False,
                widget=forms.EmailInput(attrs={"class": "fr-input", "autocomplete": "email"}),
            )  # fmt: skip

    @classmethod
    def initial_from(cls, habilitation: Habilitation) -> dict:
        initial = {
            "title": habilitation.title,
            "purpose": habilitation.purpose,
            "legal_basis_nature": habilitation.legal_basis_nature,
            "legal_basis_url": habilitation.legal_basis_url,
            "scopes": list(habilitation.scopes.all()),
            "recipients": "\n".join(habilitation.recipients),
            "retention_months": habilitation.retention_months,
            "retention_justification": habilitation.retention_justification,
            "expected_volume": habilitation.expected_volume,
            "production_date": habilitation.production_date,
        }
        for role in CONTACT_ROLES.ALL:
            contact = (habilitation.contacts or {}).get(role) or {}
            initial[f"contact_{role}_name"] = contact.get("name", "")
            initial[f"contact_{role}_email"] = contact.get("email", "")
        return initial

    def contact_groups(self) -> list[dict]:
        """The four contacts, each a fieldset of a name and an e-mail address."""
        return [
            {"role": role, "legend": CONTACT_ROLES.LABELS[role],
             "name": self[f"contact_{role}_name"], "email": self[f"contact_{role}_email"]}
            for role in CONTACT_ROLES.ALL
        ]  # fmt: skip

    def clean_legal_basis_document(self):
        document = self.cleaned_data.get("legal_basis_document")
        return clean_pdf(document) if document else None

    def clean_recipients(self):
        recipients, invalid = [], []
        for line in self.cleaned_data.get("recipients", "").splitlines():
            number = "".join(line.split())
            if not number:
                continue
            try:
                number = siret_number.validate(number)
            except StdnumValidationError:
                invalid.append(line.strip())
                continue
            if number not in recipients:
                recipients.append(number)
        if invalid:
            raise ValidationError(
                _("Ces numéros ne sont pas des SIRET valides : %(numbers)s"),
                code="invalid_siret",
                params={"numbers": ", ".join(invalid[:10])},
            )
        return recipients

    def clean(self):
        cleaned = super().clean()
        months = cleaned.get("retention_months")
        if (
            months
            and months > RETENTION_WITHOUT_JUSTIFICATION
            and not cleaned.get("retention_justification", "").strip()
        ):
            self.add_error(
                "retention_justification",
                ValidationError(
                    _("Au-delà de 36 mois, justifiez la durée de conservation."), code="required"
                ),
            )
        return cleaned

    def service_fields(self) -> dict:
        """The tracked fields as exchange.services takes them."""
        data = self.cleaned_data
        contacts = {}
        for role in CONTACT_ROLES.ALL:
            name, email = data.get(f"contact_{role}_name", "").strip(), data.get(f"contact_{role}_email", "")
            if name or email:
                contacts[role] = {"name": name, "email": email}
        return {
            "title": data["title"].strip(),
            "purpose": data["purpose"].strip(),
            "legal_basis_nature": data["legal_basis_nature"],
            "legal_basis_url": data.get("legal_basis_url", ""),
            "recipients": data.get("recipients", []),
            "retention_months": data["retention_months"],
            "retention_justification": data.get("retention_justification", "").strip(),
            "expected_volume": data["expected_volume"],
            "production_date": data.get("production_date"),
            "contacts": contacts,
        }

    def add_domain_errors(self, errors: list[dict]) -> None:
        """The errors of a service (InvalidInput.errors, or a model's ValidationError by field) next to
        their fields; the others above the form."""
        for error in errors:
            field = error.get("field", "")
            if field.startswith("contacts."):
                field = f"contact_{field.removeprefix('contacts.')}_name"
            self.add_error(field if field in self.fields else None, error.get("message", ""))


class MessageForm(DsfrFormMixin, forms.Form):
    body = forms.CharField(
        label=_("Votre message"), max_length=10_000, widget=forms.Textarea(attrs={"rows": 4})
    )
