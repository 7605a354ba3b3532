"""Habilitations: writes and state transitions, each journaled in the caller's transaction, each
transition announced by e-mail to the applicant and the contacts once the transaction commits.

Who may do what is django-guardian object permissions on the habilitation, kept in step with
memberships (exchange/apps.py): the consumer organisation's members apply and amend; the provider
organisation's instructors (and administrators) instruct; its reporters follow.
"""

import json
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from exchange import events
from exchange.models import (
    CONTACT_ROLES,
    RETENTION_WITHOUT_JUSTIFICATION,
    ApiProduct,
    ApiScope,
    Authorization,
    AuthorizationState,
    Credential,
    CredentialSecret,
    Habilitation,
    HabilitationChange,
    HabilitationMessage,
    HabilitationState,
    LegalFramework,
)
from platform_core.enums import MembershipRole
from platform_core.exceptions import Conflict, DomainError, InvalidInput
from protection import journal

AUTHORIZATION_MONTHS = 36  # an authorization's validity; renewing it is an amendment
EDITABLE = (HabilitationState.DRAFT, HabilitationState.CHANGES_REQUESTED)
TRACKED_FIELDS = (
    "title", "purpose", "legal_basis_nature", "legal_basis_url", "recipients", "retention_months",
    "retention_justification", "expected_volume", "production_date", "contacts",
)  # fmt: skip


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    title = "Action non autorisée"


# --- the catalogue -------------------------------------------------------------------------------------


def _same(old, new) -> bool:
    if isinstance(new, dict | list):  # a JSON field: compare what the database would give back
        return json.loads(json.dumps(old)) == json.loads(json.dumps(new))
    return old == new


@transaction.atomic
def api_product_register(
    *, slug: str, scopes: dict[str, dict], legal_frameworks=(), acting_user=None, **fields
) -> tuple[ApiProduct, list[str]]:
    """Create the API ``slug``, or bring it to ``fields``; create or update its ``scopes`` (code ->
    label, description, sensitivity, fields) and attach its ``legal_frameworks`` (name, reference, url),
    created when unknown. Idempotent: returns the API and what changed (nothing journaled when nothing
    did). Scopes no longer listed are kept, as habilitations may name them. The secret is journaled by
    name only."""
    api = ApiProduct.objects.select_for_update().filter(slug=slug).first()
    created = api is None
    if created:
        api = ApiProduct(slug=slug, **fields)
        changed = ["created"]
    else:
        changed = [name for name, value in fields.items() if not _same(getattr(api, name), value)]
        for name in changed:
            setattr(api, name, fields[name])
    if changed:
        api.full_clean()
        api.save()
    for code, definition in scopes.items():
        scope = ApiScope.objects.filter(code=code).first()
        if scope is not None and scope.api_id != api.pk:
            raise Conflict(_("Le scope %(code)s appartient déjà à une autre API.") % {"code": code})
        if scope is None:
            scope = ApiScope(api=api, code=code, **definition)
        elif all(_same(getattr(scope, name), value) for name, value in definition.items()):
            continue
        else:
            for name, value in definition.items():
                setattr(scope, name, value)
        scope.full_clean()
        scope.save()
        changed.append(f"scopes.{code}")
    frameworks = []
    for name, reference, url in legal_frameworks:
        framework = LegalFramework.objects.filter(name=name).first() or LegalFramework(name=name)
        if framework.pk is None or (framework.reference, framework.url) != (reference, url):
            framework.reference, framework.url = reference, url
            framework.full_clean()
            framework.save()
            changed.append(f"legal_frameworks.{name}")
        frameworks.append(framework)
    if {framework.pk for framework in frameworks} - set(api.legal_frameworks.values_list("pk", flat=True)):
        api.legal_frameworks.add(*frameworks)
        changed.append("legal_frameworks")
    if changed:
        journal.record(
            (events.API_CREATED if created else events.API_CHANGED).code,
            actor=acting_user,
            organisation=api.provider,
            data={"api": api.slug, "fields": sorted(set(changed) - {"created"})},
        )
    return api, [] if not changed else sorted(changed)


S = HabilitationState


@dataclass(frozen=True)
class Transition:
    name: str
    sources: tuple[str, ...]
    target: str
    permission: str  # a guardian permission on the habilitation
    needs_message: bool = False


TRANSITIONS = {
    t.name: t
    for t in (
        Transition("submit", (S.DRAFT, S.CHANGES_REQUESTED), S.SUBMITTED, "change_habilitation"),
        Transition("request_changes", (S.SUBMITTED,), S.CHANGES_REQUESTED, "instruct_habilitation", True),
        Transition("validate", (S.SUBMITTED,), S.VALIDATED, "instruct_habilitation"),
        Transition("refuse", (S.SUBMITTED,), S.REFUSED, "instruct_habilitation", True),
        Transition("revoke", (S.VALIDATED,), S.REVOKED, "instruct_habilitation", True),
        # Amending: back to a draft, while the current authorization stays active.
        Transition("reopen", (S.VALIDATED,), S.DRAFT, "change_habilitation"),
        Transition("archive", (S.DRAFT, S.REFUSED, S.REVOKED), S.ARCHIVED, "change_habilitation"),
    )
}


def _require(user, permission: str, habilitation: Habilitation) -> None:
    if not user.has_perm(f"exchange.{permission}", habilitation):
        raise Forbidden(_("Vous n'avez pas le droit de faire cela sur cette habilitation."))


def _journal(event, habilitation: Habilitation, actor, contract=None, **data) -> None:
    journal.record(
        event.code,
        actor=actor,
        contract=contract,  # the authorization, when one is concerned
        organisation=habilitation.consumer,
        data={"habilitation": str(habilitation.public_id), "api": habilitation.api.slug, **data},
    )


def _value(habilitation, field):
    value = getattr(habilitation, field)
    return value.isoformat() if hasattr(value, "isoformat") else value


@transaction.atomic
def habilitation_create(*, applicant, consumer, api, scopes=(), **fields) -> Habilitation:
    """A draft habilitation of ``consumer`` for ``api``; the applicant must belong to ``consumer``."""
    if not applicant.memberships.filter(organisation=consumer).exists():
        raise Forbidden(_("Vous ne pouvez demander une habilitation que pour votre organisation."))
    habilitation = Habilitation(applicant=applicant, consumer=consumer, api=api, **fields)
    habilitation.full_clean()
    habilitation.save()
    _set_scopes(habilitation, scopes)
    grant_habilitation_permissions(habilitation)
    _journal(events.HABILITATION_CREATED, habilitation, applicant)
    return habilitation


def _set_scopes(habilitation: Habilitation, scopes) -> None:
    scopes = list(scopes)
    foreign = [scope.code for scope in scopes if scope.api_id != habilitation.api_id]
    if foreign:
        raise InvalidInput(
            _("Ces scopes ne sont pas ceux de l'API demandée : %(codes)s") % {"codes": ", ".join(foreign)},
            errors=[{"field": "scopes", "code": "invalid_choice", "message": ", ".join(foreign)}],
        )
    habilitation.scopes.set(scopes)


@transaction.atomic
def habilitation_update(habilitation: Habilitation, *, user, scopes=None, **changes) -> list[str]:
    """Change a draft (or a habilitation sent back for changes): every changed field is kept in the
    history with its old and new value, and journaled by name."""
    habilitation = Habilitation.objects.select_for_update().get(pk=habilitation.pk)
    _require(user, "change_habilitation", habilitation)
    if habilitation.state not in EDITABLE:
        raise Conflict(_("Seul un brouillon ou une habilitation à modifier peut être changé."))
    history = []
    for field, value in changes.items():
        if field not in TRACKED_FIELDS:
            raise InvalidInput(_("Champ non modifiable : %(field)s") % {"field": field})
        old = _value(habilitation, field)
        setattr(habilitation, field, value)
        if _value(habilitation, field) != old:
            new = _value(habilitation, field)
            history.append(
                HabilitationChange(
                    habilitation=habilitation, author=user, field=field, old_value=old, new_value=new
                )
            )
    if scopes is not None:
        old = sorted(habilitation.scopes.values_list("code", flat=True))
        new = sorted(scope.code for scope in scopes)
        if old != new:
            _set_scopes(habilitation, scopes)
            history.append(HabilitationChange(habilitation=habilitation, author=user, field="scopes",
                                              old_value=old, new_value=new))  # fmt: skip
    if history:
        habilitation.full_clean()
        habilitation.save()
        HabilitationChange.objects.bulk_create(history)
        _journal(events.HABILITATION_CHANGED, habilitation, user, fields=sorted(c.field for c in history))
    return sorted(change.field for change in history)


def completeness_errors(habilitation: Habilitation) -> list[dict]:
    """What a habilitation still lacks before it can be submitted."""
    errors = []
    if not habilitation.scopes.exists():
        errors.append({"field": "scopes", "code": "required", "message": _("Choisissez au moins un scope.")})
    if not (habilitation.legal_basis_url or habilitation.legal_basis_document):
        errors.append({"field": "legal_basis_url", "code": "required",
                       "message": _("Joignez le texte du fondement juridique (URL ou PDF).")})  # fmt: skip
    if (
        habilitation.retention_months > RETENTION_WITHOUT_JUSTIFICATION
        and not habilitation.retention_justification
    ):
        errors.append({"field": "retention_justification", "code": "required",
                       "message": _("Au-delà de 36 mois, justifiez la durée de conservation.")})  # fmt: skip
    contacts = habilitation.contacts or {}
    for role in CONTACT_ROLES.ALL:
        contact = contacts.get(role) or {}
        if not (contact.get("name") and contact.get("email")):
            errors.append({"field": f"contacts.{role}", "code": "required",
                           "message": _("%(role)s : nom et adresse électronique requis.")
                           % {"role": CONTACT_ROLES.LABELS[role]}})  # fmt: skip
    return errors


@transaction.atomic
def habilitation_transition(
    habilitation: Habilitation, action: str, *, user, message: str = ""
) -> Habilitation:
    """Move a habilitation along its workflow. Validation freezes a new authorization (the previous
    one becomes obsolete); revocation ends the active one."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise InvalidInput(_("Action inconnue : %(action)s") % {"action": action})
    habilitation = (
        Habilitation.objects.select_for_update().select_related("api", "consumer").get(pk=habilitation.pk)
    )
    _require(user, transition.permission, habilitation)
    if habilitation.state not in transition.sources:
        raise Conflict(
            _("Impossible depuis l'état « %(state)s ».")
            % {"state": HabilitationState(habilitation.state).label}
        )
    if transition.needs_message and not message.strip():
        raise InvalidInput(
            _("Expliquez votre décision dans un message."),
            errors=[{"field": "message", "code": "required", "message": _("Message requis.")}],
        )
    if action == "submit":
        errors = completeness_errors(habilitation)
        if errors:
            raise InvalidInput(_("L'habilitation est incomplète."), errors=errors)
        habilitation.submitted_at = timezone.now()
    source = habilitation.state
    habilitation.state = transition.target
    habilitation.save()
    if message.strip():
        HabilitationMessage.objects.create(habilitation=habilitation, author=user, body=message.strip())
    authorization = None
    if action == "validate":
        authorization = _freeze(habilitation, user)
        credential_for(authorization)
    elif action == "revoke":
        _end_active(habilitation, AuthorizationState.REVOKED)
    _journal(
        events.HABILITATION_TRANSITIONED,
        habilitation,
        user,
        action=action,
        source=source,
        target=transition.target,
        contract=authorization or habilitation.active_authorization,
    )
    _announce(habilitation, action)
    return habilitation


def _end_active(habilitation: Habilitation, state: str) -> None:
    Authorization.objects.filter(habilitation=habilitation, state=AuthorizationState.ACTIVE).update(
        state=state, ended_at=timezone.now()
    )


def _freeze(habilitation: Habilitation, user) -> Authorization:
    scopes = list(habilitation.scopes.order_by("code"))
    _end_active(habilitation, AuthorizationState.OBSOLETE)
    version = (
        habilitation.authorizations.order_by("-version").values_list("version", flat=True).first() or 0
    ) + 1
    now = timezone.now()
    legal_basis = habilitation.legal_basis_url or habilitation.legal_basis_document.name
    snapshot = {
        **{field: _value(habilitation, field) for field in TRACKED_FIELDS},
        "consumer": {"siret": habilitation.consumer.siret, "name": habilitation.consumer.name},
        "api": habilitation.api.slug,
        "scopes": [scope.code for scope in scopes],
        "legal_basis_document": habilitation.legal_basis_document.name or "",
        "applicant": str(habilitation.applicant.public_id),
    }
    return Authorization.objects.create(
        habilitation=habilitation,
        version=version,
        consumer=habilitation.consumer,
        api=habilitation.api,
        scopes=[scope.code for scope in scopes],
        fields=sorted({field for scope in scopes for field in scope.fields}),
        recipients=list(habilitation.recipients),
        legal_basis=f"{habilitation.get_legal_basis_nature_display()} — {legal_basis}"[:600],
        snapshot=snapshot,
        valid_from=now,
        valid_until=now + timedelta(days=round(AUTHORIZATION_MONTHS * 30.44)),
        validated_by=user,
    )


@transaction.atomic
def habilitation_message(habilitation: Habilitation, *, user, body: str) -> HabilitationMessage:
    """A message in the habilitation's thread, from the applicant's side or the instructors'."""
    if not (user.has_perm("exchange.change_habilitation", habilitation)
            or user.has_perm("exchange.instruct_habilitation", habilitation)):  # fmt: skip
        raise Forbidden(_("Vous ne participez pas à cette habilitation."))
    if not body.strip():
        raise InvalidInput(_("Le message est vide."))
    message = HabilitationMessage.objects.create(habilitation=habilitation, author=user, body=body.strip())
    _journal(events.HABILITATION_MESSAGE, habilitation, user)
    return message


SUBJECTS = {
    "submit": _("Habilitation soumise : %(title)s"),
    "request_changes": _("Modifications demandées : %(title)s"),
    "validate": _("Habilitation validée : %(title)s"),
    "refuse": _("Habilitation refusée : %(title)s"),
    "revoke": _("Habilitation révoquée : %(title)s"),
    "reopen": _("Habilitation rouverte pour modification : %(title)s"),
    "archive": _("Habilitation archivée : %(title)s"),
}


def _announce(habilitation: Habilitation, action: str) -> None:
    """E-mail the applicant and the contacts once the transition is committed (never before)."""
    recipients = {habilitation.applicant.email} | {
        (contact or {}).get("email", "") for contact in (habilitation.contacts or {}).values()
    }
    recipients = sorted(address for address in recipients if address)
    if not recipients:
        return
    try:
        link = settings.PUBLIC_URL + reverse("exchange:habilitation-detail", args=[habilitation.public_id])
    except NoReverseMatch:
        link = settings.PUBLIC_URL
    state = HabilitationState(habilitation.state).label
    subject = str(SUBJECTS[action]) % {"title": habilitation.title}
    body = _("L'habilitation « %(title)s » (%(api)s) est maintenant : %(state)s.\n\n%(link)s\n") % {
        "title": habilitation.title, "api": habilitation.api.name, "state": state, "link": link,
    }  # fmt: skip
    messages = [(subject, body, settings.DEFAULT_FROM_EMAIL, [address]) for address in recipients]
    transaction.on_commit(lambda: send_mass_mail(messages, fail_silently=True))


def grant_habilitation_permissions(habilitation: Habilitation) -> None:
    """Object permissions of everyone concerned, from the memberships of both organisations."""
    from platform_core.models import Membership

    memberships = Membership.objects.filter(
        organisation__in=[habilitation.consumer_id, habilitation.api.provider_id]
    ).select_related("user")
    for membership in memberships:
        sync_member(membership.user, habilitation)


def permissions_for(user, habilitation: Habilitation) -> set[str]:
    """What a person may do on a habilitation, from their current roles in both organisations."""
    from platform_core.models import Membership

    roles = {
        (organisation_id, role)
        for organisation_id, role in Membership.objects.filter(
            user=user, organisation__in=[habilitation.consumer_id, habilitation.api.provider_id]
        ).values_list("organisation_id", "role")
    }
    granted = set()
    if any(organisation == habilitation.consumer_id for organisation, _role in roles):
        granted |= {"view_habilitation", "change_habilitation"}
    provider_roles = {role for organisation, role in roles if organisation == habilitation.api.provider_id}
    if provider_roles & {MembershipRole.INSTRUCTOR, MembershipRole.ADMIN}:
        granted |= {"view_habilitation", "instruct_habilitation"}
    if MembershipRole.REPORTER in provider_roles:
        granted |= {"view_habilitation", "report_habilitation"}
    return granted


def sync_member(user, habilitation: Habilitation) -> None:
    from guardian.shortcuts import assign_perm, get_perms, remove_perm

    wanted = permissions_for(user, habilitation)
    current = set(get_perms(user, habilitation)) & {
        "view_habilitation", "change_habilitation", "instruct_habilitation", "report_habilitation",
    }  # fmt: skip
    for permission in wanted - current:
        assign_perm(f"exchange.{permission}", user, habilitation)
    for permission in current - wanted:
        remove_perm(f"exchange.{permission}", user, habilitation)


def sync_membership(membership) -> None:
    """After a membership changes: the person's permissions on the habilitations of that organisation,
    as consumer or as provider."""
    from django.db.models import Q

    habilitations = Habilitation.objects.filter(
        Q(consumer_id=membership.organisation_id) | Q(api__provider_id=membership.organisation_id)
    ).select_related("api")
    for habilitation in habilitations:
        sync_member(membership.user, habilitation)


# --- credentials -------------------------------------------------------------------------------------

ROTATION_GRACE = timedelta(hours=24)  # both secrets work meanwhile: time to deploy the new one
EXPIRY_WARNINGS = (30, 7, 1)  # days before expiry the technical contact is told


def credential_for(authorization: Authorization) -> Credential:
    """The habilitation's credential, bound to this (new) authorization: created at the first
    validation (without a secret: the consumer generates it, and sees it once), renewed in place by an
    amendment's (scopes and expiry follow the authorization)."""
    from oauth2_provider.models import Application

    habilitation = authorization.habilitation
    credential = Credential.objects.select_for_update().filter(habilitation=habilitation).first()
    if credential is None:
        application = Application.objects.create(
            name=f"{habilitation.consumer.name} — {habilitation.api.name}"[:255],
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            client_secret="",
            hash_client_secret=False,
        )
        credential = Credential.objects.create(
            habilitation=habilitation,
            authorization=authorization,
            application=application,
            expires_at=authorization.valid_until,
        )
        event = events.CREDENTIAL_ISSUED
    else:
        credential.authorization = authorization
        credential.expires_at = authorization.valid_until
        credential.warned_days = []
        credential.save(update_fields=["authorization", "expires_at", "warned_days"])
        event = events.CREDENTIAL_RENEWED
    _journal(event, habilitation, None, contract=authorization, client_id=credential.client_id)
    return credential


def _manage_credential(user, credential, permission: str = "change_habilitation") -> None:
    if not user.has_perm(f"exchange.{permission}", credential.habilitation):
        raise Forbidden(_("Vous n'avez pas le droit de gérer cet identifiant d'accès."))


@transaction.atomic
def credential_new_secret(credential, *, user, grace: timedelta = ROTATION_GRACE) -> str:
    """A new secret, returned once. The previous ones keep working for ``grace`` (rotation with an
    overlap), then stop."""
    from identity.hashers import ClientSecretHasher
    from identity.services import new_client_secret

    _manage_credential(user, credential)
    if credential.revoked_at is not None:
        raise Conflict(_("Cet identifiant d'accès est révoqué."))
    now = timezone.now()
    credential.secrets.filter(expires_at__isnull=True).update(expires_at=now + grace)
    secret = new_client_secret()
    CredentialSecret.objects.create(credential=credential, secret_hash=ClientSecretHasher().encode(secret))
    _journal(
        events.CREDENTIAL_SECRET_CREATED,
        credential.habilitation,
        user,
        contract=credential.authorization,
        client_id=credential.client_id,
        grace_hours=int(grace.total_seconds() // 3600),
    )
    return secret


@transaction.atomic
def credential_revoke(credential, *, user) -> None:
    """Immediate: its access tokens are deleted, so the next gateway call is refused."""
    from oauth2_provider.models import AccessToken

    if not (user.has_perm("exchange.change_habilitation", credential.habilitation)
            or user.has_perm("exchange.instruct_habilitation", credential.habilitation)):  # fmt: skip
        raise Forbidden(_("Vous n'avez pas le droit de gérer cet identifiant d'accès."))
    if credential.revoked_at is not None:
        return
    credential.revoked_at = timezone.now()
    credential.save(update_fields=["revoked_at"])
    AccessToken.objects.filter(application=credential.application).delete()
    _journal(
        events.CREDENTIAL_REVOKED,
        credential.habilitation,
        user,
        contract=credential.authorization,
        client_id=credential.client_id,
    )


@transaction.atomic
def credential_set_ip_allowlist(credential, *, user, networks: list[str]) -> list[str]:
    """Restrict the credential to these addresses or CIDR networks (empty: anywhere)."""
    import ipaddress

    _manage_credential(user, credential)
    cleaned = []
    for network in networks:
        try:
            cleaned.append(str(ipaddress.ip_network(network.strip(), strict=False)))
        except ValueError:
            raise InvalidInput(
                _("Adresse ou réseau invalide : %(value)s") % {"value": network[:50]},
                errors=[{"field": "ip_allowlist", "code": "invalid", "message": network[:50]}],
            ) from None
    credential.ip_allowlist = sorted(set(cleaned))
    credential.save(update_fields=["ip_allowlist"])
    _journal(events.CREDENTIAL_CHANGED, credential.habilitation, user, client_id=credential.client_id)
    return credential.ip_allowlist


def credential_usable(credential, now=None) -> bool:
    now = now or timezone.now()
    return (
        credential.revoked_at is None
        and credential.expires_at > now
        and credential.authorization.state == AuthorizationState.ACTIVE
    )


def credential_secret_matches(credential, secret: str, now=None) -> bool:
    """Whether ``secret`` is one of the credential's valid secrets (the new one, or the old one during a
    rotation's grace period)."""
    from identity.hashers import ClientSecretHasher

    now = now or timezone.now()
    hasher = ClientSecretHasher()
    return any(
        hasher.verify(secret, stored.secret_hash)
        for stored in credential.secrets.all()
        if stored.expires_at is None or stored.expires_at > now
    )


def warn_expiring_credentials(now=None) -> int:
    """E-mail the technical contact 30, 7 and 1 days before a credential expires (once each)."""
    now = now or timezone.now()
    sent = 0
    for days in EXPIRY_WARNINGS:
        due = (
            Credential.objects.filter(
                revoked_at__isnull=True, expires_at__gt=now, expires_at__lte=now + timedelta(days=days)
            )
            .exclude(warned_days__contains=[days])
            .select_related("habilitation__api")
        )
        for credential in due:
            with transaction.atomic():
                credential.warned_days = sorted({*credential.warned_days, days})
                credential.save(update_fields=["warned_days"])
                habilitation = credential.habilitation
                contact = ((habilitation.contacts or {}).get(CONTACT_ROLES.TECHNICAL) or {}).get("email")
                _journal(events.CREDENTIAL_EXPIRY_WARNED, habilitation, None, client_id=credential.client_id,
                         days=days)  # fmt: skip
                if contact:
                    subject = _("Votre identifiant d'accès à %(api)s expire dans %(days)s jour(s)") % {
                        "api": habilitation.api.name, "days": days,
                    }  # fmt: skip
                    body = _("L'identifiant %(client)s (%(title)s) expire le %(date)s. Faites renouveler "
                             "l'habilitation pour le prolonger.") % {
                        "client": credential.client_id, "title": habilitation.title,
                        "date": credential.expires_at.date().isoformat(),
                    }  # fmt: skip
                    messages = [(subject, body, settings.DEFAULT_FROM_EMAIL, [contact])]
                    transaction.on_commit(lambda m=messages: send_mass_mail(m, fail_silently=True))
                sent += 1
    return sent
