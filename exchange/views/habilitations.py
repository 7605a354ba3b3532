"""The habilitation portal: agents apply for an API, amend and submit; the provider's instructors
request changes, validate, refuse or revoke. Every write goes through exchange.services; every read of
a habilitation through exchange.selectors (404 for whoever may not see it)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from exchange.forms import HabilitationForm, MessageForm, StartForm
from exchange.models import CONTACT_ROLES, Credential, Habilitation, HabilitationState
from exchange.portal_services import habilitation_attach_legal_basis, legal_basis_file_name
from exchange.selectors import (
    gateway_usage,
    get_habilitation_for_user,
    habilitation_consumers_for,
    habilitation_list_for,
    published_api_list,
)
from exchange.services import (
    EDITABLE,
    TRANSITIONS,
    Forbidden,
    habilitation_create,
    habilitation_message,
    habilitation_transition,
    habilitation_update,
)
from exchange.views.catalogue import SENSITIVITY_BADGES
from platform_core.exceptions import Conflict, InvalidInput

SIGN_IN = "identity:fi-choice"
STATE_BADGES = {
    HabilitationState.DRAFT: "",
    HabilitationState.SUBMITTED: "fr-badge--info",
    HabilitationState.CHANGES_REQUESTED: "fr-badge--warning",
    HabilitationState.VALIDATED: "fr-badge--success",
    HabilitationState.REFUSED: "fr-badge--error",
    HabilitationState.REVOKED: "fr-badge--error",
    HabilitationState.ARCHIVED: "",
}
ACTIONS = {  # label, button class, success message
    "submit": (gettext_lazy("Soumettre la demande"), "", gettext_lazy("La demande a été soumise.")),
    "validate": (gettext_lazy("Valider"), "", gettext_lazy("L'habilitation est validée.")),
    "request_changes": (
        gettext_lazy("Demander des modifications"),
        "fr-btn--secondary",
        gettext_lazy("Les modifications ont été demandées."),
    ),
    "refuse": (gettext_lazy("Refuser"), "fr-btn--secondary", gettext_lazy("L'habilitation est refusée.")),
    "revoke": (gettext_lazy("Révoquer"), "fr-btn--secondary", gettext_lazy("L'habilitation est révoquée.")),
    "reopen": (
        gettext_lazy("Rouvrir pour modification"),
        "fr-btn--secondary",
        gettext_lazy("L'habilitation est rouverte : vous pouvez la modifier."),
    ),
    "archive": (gettext_lazy("Archiver"), "fr-btn--tertiary", gettext_lazy("L'habilitation est archivée.")),
}
LIST_CRUMB = {"url": "/habilitations/", "title": gettext_lazy("Mes habilitations")}


def _refused(request, error: Forbidden):
    """The DSFR error page for a domain refusal the person can see (403): what they tried is not theirs."""
    page = {
        "status": 403,
        "title": _("Action non autorisée"),
        "lead": error.detail,
        "explanation": _(
            "Si vous pensez y avoir droit, demandez-le à l'administrateur de votre organisation."
        ),
        "pictogram": "system/padlock",
    }
    return render(request, "errors/error.html", page, status=403)


def _validation_errors(error: ValidationError) -> list[dict]:
    """A model's ValidationError (full_clean in the services) as InvalidInput-like errors."""
    if not hasattr(error, "error_dict"):
        return [{"field": "", "message": message} for message in error.messages]
    return [
        {"field": "" if field == "__all__" else field, "message": message}
        for field, field_errors in error.message_dict.items()
        for message in field_errors
    ]


@login_required(login_url=SIGN_IN)
@require_GET
def habilitation_list(request):
    state = request.GET.get("etat", "")
    state = state if state in HabilitationState.values else ""
    habilitations = habilitation_list_for(request.user, state=state)[:500]
    return render(
        request,
        "exchange/habilitation_list.html",
        {
            "rows": [{"habilitation": h, "badge": STATE_BADGES.get(h.state, "")} for h in habilitations],
            "state": state,
            "states": HabilitationState.choices,
            "breadcrumb_data": {"current": _("Mes habilitations")},
        },
    )


@login_required(login_url=SIGN_IN)
@require_http_methods(["GET", "POST"])
def habilitation_new(request):
    apis = published_api_list()
    organisations = habilitation_consumers_for(request.user)
    data = request.POST if request.method == "POST" else (request.GET if "api" in request.GET else None)
    start = StartForm(data, apis=apis, organisations=organisations)
    context = {
        "start": start,
        "has_organisations": organisations.exists(),
        "breadcrumb_data": {"links": [LIST_CRUMB], "current": _("Nouvelle demande")},
    }
    if not start.is_bound or not start.is_valid():
        return render(request, "exchange/habilitation_start.html", context)
    api, consumer = start.cleaned_data["api"], start.cleaned_data["organisation"]
    if request.method == "GET":
        form = HabilitationForm(api=api)
    else:
        form = HabilitationForm(request.POST, request.FILES, api=api)
        if form.is_valid():
            fields = form.service_fields()
            document = form.cleaned_data.get("legal_basis_document")
            if document:
                document.name = legal_basis_file_name()
                fields["legal_basis_document"] = document
            try:
                habilitation = habilitation_create(
                    applicant=request.user,
                    consumer=consumer,
                    api=api,
                    scopes=form.cleaned_data["scopes"],
                    **fields,
                )
            except Forbidden as error:
                return _refused(request, error)
            except InvalidInput as error:
                form.add_domain_errors(error.errors or [{"field": "", "message": error.detail}])
            except ValidationError as error:
                form.add_domain_errors(_validation_errors(error))
            else:
                messages.success(request, _("Votre demande est enregistrée comme brouillon."))
                return redirect("exchange:habilitation-detail", habilitation.public_id)
    return render(
        request,
        "exchange/habilitation_form.html",
        {**context, "form": form, "api": api, "consumer": consumer, "scope_badges": _scope_badges(form)},
    )


def _scope_badges(form: HabilitationForm) -> list[dict]:
    """The scope checkboxes, each with its scope (label, description, fields) and sensitivity badge."""
    scopes = {scope.code: scope for scope in form.fields["scopes"].queryset}
    return [
        {"checkbox": checkbox, "scope": scopes[str(checkbox.data["value"])],
         "badge": SENSITIVITY_BADGES.get(scopes[str(checkbox.data["value"])].sensitivity, "")}
        for checkbox in form["scopes"]
        if str(checkbox.data["value"]) in scopes
    ]  # fmt: skip


@login_required(login_url=SIGN_IN)
@require_http_methods(["GET", "POST"])
def habilitation_edit(request, public_id):
    habilitation = get_habilitation_for_user(request.user, public_id)
    if not request.user.has_perm("exchange.change_habilitation", habilitation):
        return _refused(request, Forbidden(_("Seul le demandeur peut modifier cette habilitation.")))
    if habilitation.state not in EDITABLE:
        messages.error(request, _("Seul un brouillon ou une habilitation à modifier peut être changé."))
        return redirect("exchange:habilitation-detail", habilitation.public_id)
    if request.method == "GET":
        form = HabilitationForm(initial=HabilitationForm.initial_from(habilitation), api=habilitation.api)
    else:
        form = HabilitationForm(request.POST, request.FILES, api=habilitation.api)
        if form.is_valid():
            try:
                with transaction.atomic():
                    habilitation_update(
                        habilitation,
                        user=request.user,
                        scopes=list(form.cleaned_data["scopes"]),
                        **form.service_fields(),
                    )
                    if form.cleaned_data.get("legal_basis_document"):
                        habilitation_attach_legal_basis(
                            habilitation,
                            user=request.user,
                            document=form.cleaned_data["legal_basis_document"],
                        )
            except Forbidden as error:
                return _refused(request, error)
            except Conflict as error:
                messages.error(request, error.detail)
                return redirect("exchange:habilitation-detail", habilitation.public_id)
            except InvalidInput as error:
                form.add_domain_errors(error.errors or [{"field": "", "message": error.detail}])
            except ValidationError as error:
                form.add_domain_errors(_validation_errors(error))
            else:
                messages.success(request, _("Vos modifications sont enregistrées."))
                return redirect("exchange:habilitation-detail", habilitation.public_id)
    return render(
        request,
        "exchange/habilitation_form.html",
        {
            "form": form,
            "habilitation": habilitation,
            "api": habilitation.api,
            "consumer": habilitation.consumer,
            "scope_badges": _scope_badges(form),
            "breadcrumb_data": {
                "links": [LIST_CRUMB, {"url": _detail_url(habilitation), "title": habilitation.title}],
                "current": _("Modifier"),
            },
        },
    )


def _detail_url(habilitation: Habilitation) -> str:
    return reverse("exchange:habilitation-detail", args=[habilitation.public_id])


def _shown(value) -> str:
    """A history value (JSON) as a person reads it."""
    if value in (None, "", [], {}):
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return " ; ".join(
            f"{CONTACT_ROLES.LABELS.get(key, key)} : "
            + (" ".join(str(v) for v in item.values() if v) if isinstance(item, dict) else str(item))
            for key, item in value.items()
        )
    return str(value)


def _field_label(field: str) -> str:
    try:
        return str(Habilitation._meta.get_field(field).verbose_name)
    except Exception:  # a field the history knows and the model no longer has
        return field


def _detail(request, habilitation: Habilitation, *, status=200, message_form=None, action_errors=None,
            submit_errors=None):  # fmt: skip
    user = request.user
    habilitation.refresh_from_db()
    actions = [
        {"name": name, "label": ACTIONS[name][0], "button": ACTIONS[name][1],
         "needs_message": transition.needs_message, "error": (action_errors or {}).get(name, "")}
        for name, transition in TRANSITIONS.items()
        if habilitation.state in transition.sources
        and user.has_perm(f"exchange.{transition.permission}", habilitation)
    ]  # fmt: skip
    can_change = user.has_perm("exchange.change_habilitation", habilitation)
    can_message = can_change or user.has_perm("exchange.instruct_habilitation", habilitation)
    authorization = habilitation.active_authorization
    contacts = habilitation.contacts or {}
    return render(
        request,
        "exchange/habilitation_detail.html",
        {
            "habilitation": habilitation,
            "badge": STATE_BADGES.get(habilitation.state, ""),
            "scopes": [
                {"scope": scope, "badge": SENSITIVITY_BADGES.get(scope.sensitivity, "")}
                for scope in habilitation.scopes.order_by("code")
            ],  # fmt: skip
            "contacts": [
                {"label": CONTACT_ROLES.LABELS[role], **(contacts.get(role) or {})}
                for role in CONTACT_ROLES.ALL
            ],
            "authorization": authorization,
            "usage": [{**row, "label": USAGE_LABELS[row["window"]]} for row in gateway_usage(habilitation)],
            "credential": Credential.objects.filter(habilitation=habilitation).first()
            if can_change
            else None,
            "changes": [
                {
                    "change": change,
                    "label": _field_label(change.field),
                    "old": _shown(change.old_value),
                    "new": _shown(change.new_value),
                }
                for change in habilitation.changes.select_related("author")
            ],  # fmt: skip
            "thread": habilitation.messages.select_related("author"),
            "actions": actions,
            "can_edit": can_change and habilitation.state in EDITABLE,
            "can_message": can_message,
            "message_form": message_form or MessageForm(),
            "submit_errors": submit_errors or [],
            "breadcrumb_data": {"links": [LIST_CRUMB], "current": habilitation.title},
        },
        status=status,
    )


USAGE_LABELS = {
    "10min": _("10 dernières minutes"),
    "30h": _("30 dernières heures"),
    "8d": _("8 derniers jours"),
}


@login_required(login_url=SIGN_IN)
@require_GET
def habilitation_detail(request, public_id):
    return _detail(request, get_habilitation_for_user(request.user, public_id))


@login_required(login_url=SIGN_IN)
@require_POST
def habilitation_action(request, public_id):
    habilitation = get_habilitation_for_user(request.user, public_id)
    action = request.POST.get("action", "")
    if action not in TRANSITIONS:
        messages.error(request, _("Action inconnue."))
        return redirect("exchange:habilitation-detail", habilitation.public_id)
    try:
        habilitation_transition(
            habilitation, action, user=request.user, message=request.POST.get("message", "")
        )
    except Forbidden as error:
        return _refused(request, error)
    except Conflict as error:
        messages.error(request, error.detail)
        return redirect("exchange:habilitation-detail", habilitation.public_id)
    except InvalidInput as error:
        if action == "submit" and error.errors:
            return _detail(request, habilitation, submit_errors=error.errors)
        message_errors = [e["message"] for e in error.errors if e.get("field") == "message"]
        if message_errors:
            return _detail(request, habilitation, action_errors={action: error.detail})
        messages.error(request, error.detail)
        return redirect("exchange:habilitation-detail", habilitation.public_id)
    messages.success(request, str(ACTIONS[action][2]))
    return redirect("exchange:habilitation-detail", habilitation.public_id)


@login_required(login_url=SIGN_IN)
@require_POST
def habilitation_post_message(request, public_id):
    habilitation = get_habilitation_for_user(request.user, public_id)
    form = MessageForm(request.POST)
    if not form.is_valid():
        return _detail(request, habilitation, message_form=form)
    try:
        habilitation_message(habilitation, user=request.user, body=form.cleaned_data["body"])
    except Forbidden as error:
        return _refused(request, error)
    except InvalidInput as error:
        form.add_error("body", error.detail)
        return _detail(request, habilitation, message_form=form)
    messages.success(request, _("Votre message est envoyé."))
    return redirect(_detail_url(habilitation) + "#messages")


@login_required(login_url=SIGN_IN)
@require_GET
def habilitation_legal_basis(request, public_id):
    """The legal basis PDF, to whoever may see the habilitation (media files are not served publicly)."""
    habilitation = get_habilitation_for_user(request.user, public_id)
    if not habilitation.legal_basis_document:
        raise Http404
    try:
        document = habilitation.legal_basis_document.open("rb")
    except OSError as error:
        raise Http404 from error
    return FileResponse(
        document, as_attachment=True, filename=f"fondement-{habilitation.public_id}.pdf",
        content_type="application/pdf",
    )  # fmt: skip
