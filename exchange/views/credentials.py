"""The consumer's credentials in the portal: the list of their organisations' credentials and, per
credential, its dashboard (gateway calls, errors and latency over 10 minutes, 30 hours and 8 days, as
charts and tables) with its management: a new secret (rotation with a grace period), revocation, the
IP allow-list. Reads through exchange.selectors (404 for whoever may not see the habilitation, 403 for
the provider's side), writes through exchange.services (which check the permission and journal)."""

import functools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from exchange.charts import bar_chart
from exchange.models import AuthorizationState
from exchange.selectors import credential_list_for, credential_usage, get_credential_for_user
from exchange.services import (
    ROTATION_GRACE,
    Forbidden,
    credential_new_secret,
    credential_revoke,
    credential_set_ip_allowlist,
)
from exchange.views.habilitations import SIGN_IN, _refused
from platform_core.exceptions import Conflict, InvalidInput

CREDENTIALS_CRUMB = {"url": "/identifiants/", "title": gettext_lazy("Mes identifiants d'accès")}
WINDOWS = {  # title, label of a bucket on the x axis, of a row of the table, a label every n bars
    "10min": (gettext_lazy("10 dernières minutes, par minute"), "TIME_FORMAT", "TIME_FORMAT", 2),
    "30h": (gettext_lazy("30 dernières heures, par heure"), "TIME_FORMAT", "SHORT_DATETIME_FORMAT", 6),
    "8d": (gettext_lazy("8 derniers jours, par jour"), "d/m", "SHORT_DATETIME_FORMAT", 1),
}
REASONS = {  # the gateway's refusal codes (exchange/gateway.py), as a consumer reads them
    "gateway-unauthenticated": gettext_lazy("Jeton absent, inconnu ou identifiant non valide"),
    "gateway-refused": gettext_lazy("Appel refusé (API, scope ou adresse IP)"),
    "gateway-context": gettext_lazy("Contexte invalide (recipient, purpose)"),
    "gateway-path": gettext_lazy("Chemin invalide (segment « . » ou « .. »)"),
    "throttled": gettext_lazy("Quota dépassé (le premier refus de chaque fenêtre)"),
    "upstream-failure": gettext_lazy("Le fournisseur a mal répondu"),
    "upstream-timeout": gettext_lazy("Le fournisseur n'a pas répondu à temps"),
}
MANAGE_REFUSED = gettext_lazy("Seule l'organisation utilisatrice gère cet identifiant d'accès.")


def _state(credential) -> tuple[str, str]:
    """The credential's state as a label and a DSFR badge class."""
    if credential.revoked_at is not None:
        return _("Révoqué"), "fr-badge--error"
    if credential.expires_at <= timezone.now():
        return _("Expiré"), "fr-badge--warning"
    if credential.authorization.state != AuthorizationState.ACTIVE:
        return _("Autorisation terminée"), "fr-badge--warning"
    return _("Actif"), "fr-badge--success"


@login_required(login_url=SIGN_IN)
@require_GET
def credential_list(request):
    rows = []
    for credential in credential_list_for(request.user)[:500]:
        label, badge = _state(credential)
        rows.append({"credential": credential, "state": label, "badge": badge})
    return render(
        request,
        "exchange/credential_list.html",
        {"rows": rows, "breadcrumb_data": {"current": _("Mes identifiants d'accès")}},
    )


def _local(moment, format_name: str) -> str:
    return date_format(timezone.localtime(moment), format_name)


def _percent(rate) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %".replace(".", ",")


def _milliseconds(value) -> str:
    return "—" if value is None else f"{round(value)} ms"


def _windows(usage: dict) -> list[dict]:
    windows = []
    for window in usage["windows"]:
        title, tick_format, row_format, every = WINDOWS[window["window"]]
        chart = bar_chart(
            window["buckets"], label=lambda bucket, f=tick_format: _local(bucket["end"], f), every=every
        )
        busiest = max(window["buckets"], key=lambda bucket: bucket["calls"])
        windows.append({
            **window, "title": title, "chart": chart, "id": f"usage-{window['window']}",
            "rate": _percent(window["error_rate"]),
            "p50": _milliseconds(window["p50_ms"]), "p95": _milliseconds(window["p95_ms"]),
            "description": _(
                "%(calls)s appels dont %(errors)s en erreur (%(rate)s). Au plus %(busiest)s appels "
                "sur une période, celle finissant à %(when)s."
            ) % {"calls": window["calls"], "errors": window["errors"], "rate": _percent(window["error_rate"]),
                 "busiest": busiest["calls"], "when": _local(busiest["end"], row_format)},
            "rows": [
                {"start": _local(bucket["start"], row_format), "end": _local(bucket["end"], row_format),
                 "calls": bucket["calls"], "errors": bucket["errors"]}
                for bucket in window["buckets"]
            ],
        })  # fmt: skip
    return windows


def _dashboard(request, credential, *, secret: str = "", allowlist_error: str = "", allowlist_value=None,
               revoke_error: str = "", status: int = 200):  # fmt: skip
    credential.refresh_from_db()
    usage = credential_usage(credential)
    label, badge = _state(credential)
    now = timezone.now()
    habilitation = credential.habilitation
    return render(
        request,
        "exchange/credential_detail.html",
        {
            "credential": credential,
            "habilitation": habilitation,
            "state": label,
            "badge": badge,
            "secrets": [
                {"secret": stored, "valid": stored.expires_at is None or stored.expires_at > now}
                for stored in credential.secrets.all()
            ],
            "grace_hours": int(ROTATION_GRACE.total_seconds() // 3600),
            "new_secret": secret,
            "windows": _windows(usage),
            "breakdown": [
                {
                    **row,
                    "reason_label": REASONS.get(row["reason"], row["reason"] or "—"),
                    "counts": [row["calls"][window["window"]] for window in usage["windows"]],
                }
                for row in usage["breakdown"]
            ],
            "allowlist": "\n".join(credential.ip_allowlist) if allowlist_value is None else allowlist_value,
            "allowlist_error": allowlist_error,
            "revoke_error": revoke_error,
            "breadcrumb_data": {
                "links": [CREDENTIALS_CRUMB],
                "current": _("Identifiant d'accès %(client)s") % {"client": credential.client_id[:8]},
            },
        },
        status=status,
    )


def consumer_side(view):
    """The view gets the credential when the person manages it (the consumer's side); the provider's
    side gets the DSFR 403 page, anyone else 404; a service's own refusal is the 403 page too."""

    @functools.wraps(view)
    def wrapper(request, public_id):
        credential, manages = get_credential_for_user(request.user, public_id)
        if not manages:
            return _refused(request, Forbidden(str(MANAGE_REFUSED)))
        try:
            return view(request, credential)
        except Forbidden as error:
            return _refused(request, error)

    return wrapper


@login_required(login_url=SIGN_IN)
@require_GET
@consumer_side
def credential_detail(request, credential):
    return _dashboard(request, credential)


def _back(credential):
    return redirect("exchange:credential-detail", credential.public_id)


@never_cache  # the new secret is in the page: never kept by a cache
@login_required(login_url=SIGN_IN)
@require_POST
@consumer_side
def credential_rotate(request, credential):
    try:
        secret = credential_new_secret(credential, user=request.user)
    except Conflict as error:
        messages.error(request, error.detail)
        return _back(credential)
    # Shown once, in this answer only: neither stored in clear nor put in the session.
    return _dashboard(request, credential, secret=secret)


@login_required(login_url=SIGN_IN)
@require_POST
@consumer_side
def credential_revoke_view(request, credential):
    if request.POST.get("confirm") != "yes":
        error = _("Cochez la case pour confirmer la révocation.")
        return _dashboard(request, credential, revoke_error=error, status=400)
    credential_revoke(credential, user=request.user)
    messages.success(request, _("L'identifiant d'accès est révoqué : les appels suivants seront refusés."))
    return _back(credential)


@login_required(login_url=SIGN_IN)
@require_POST
@consumer_side
def credential_allowlist(request, credential):
    text = request.POST.get("ip_allowlist", "")[:10_000]
    networks = [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]
    if len(networks) > 100:
        return _dashboard(request, credential, allowlist_error=_("100 adresses ou réseaux au plus."),
                          allowlist_value=text, status=400)  # fmt: skip
    try:
        credential_set_ip_allowlist(credential, user=request.user, networks=networks)
    except InvalidInput as error:
        return _dashboard(request, credential, allowlist_error=error.detail, allowlist_value=text, status=400)
    messages.success(request, _("Les adresses autorisées sont enregistrées."))
    return _back(credential)
