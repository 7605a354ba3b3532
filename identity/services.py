"""Writes to accounts, each journaled in the caller's transaction."""

import secrets

from django.db import transaction

from identity import events
from protection import journal
from protection.pseudonyms import pseudonym_for


def journal_user(event_type: str, user, *, acting_user=None, fields=()) -> None:
    """The journal entry of a change to an account: which fields changed, never their values."""
    journal.record(
        event_type,
        actor=acting_user,
        subject=pseudonym_for(str(user.public_id)),
        data={"kind": user.kind, "fields": sorted(fields)},
    )


def new_client_secret() -> str:
    """A random client secret (256 bits); stored only as a keyed hash, shown once."""
    return secrets.token_urlsafe(32)


@transaction.atomic
def service_provider_create(
    *,
    organisation,
    name: str,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str] = (),
    public: bool = False,
    acting_user=None,
    client_id: str | None = None,
    secret: str | None = None,
    **fields,
):
    """A new service provider ("FS") of ``organisation``: its OAuth application, its profile, the
    object permissions of the organisation's administrators and developers, and a journal entry.
    Returns (service, secret); the secret is shown once and never stored in clear."""
    from oauth2_provider.models import Application

    from identity.models import ClientAuthMethod, ServiceProvider

    secret = "" if public else (secret or new_client_secret())
    application = Application(
        name=name.strip(),
        client_type=Application.CLIENT_PUBLIC if public else Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(redirect_uris),
        post_logout_redirect_uris=" ".join(post_logout_redirect_uris),
        client_secret=secret,
        user=acting_user,
        skip_authorization=False,
    )
    if client_id:
        application.client_id = client_id
    application.full_clean(exclude=["user", "client_secret"] if public else ["user"])
    application.save()
    if public:
        fields["auth_method"] = ClientAuthMethod.NONE
    service = ServiceProvider(application=application, organisation=organisation, **fields)
    service.full_clean(exclude=["application"])
    service.save()
    grant_service_permissions(service)
    journal.record(
        events.SERVICE_CREATED.code,
        actor=acting_user,
        organisation=organisation,
        data={"fs": application.client_id, "name": application.name, "public": public},
    )
    return service, secret


def grant_service_permissions(service) -> None:
    """Members of the service's organisation with the admin or developer role manage it."""
    from guardian.shortcuts import assign_perm

    from platform_core.enums import MembershipRole
    from platform_core.models import Membership

    managers = Membership.objects.filter(
        organisation=service.organisation, role__in=[MembershipRole.ADMIN, MembershipRole.DEVELOPER]
    ).select_related("user")
    for membership in managers:
        for permission in ("view_serviceprovider", "change_serviceprovider", "manage_serviceprovider"):
            assign_perm(f"identity.{permission}", membership.user, service)


@transaction.atomic
def service_provider_rotate_secret(service, *, acting_user=None) -> str:
    """A new client secret for a confidential service; the old one stops working at once."""
    secret = new_client_secret()
    application = service.application
    application.client_secret = secret
    application.save(update_fields=["client_secret", "updated"])
    journal.record(
        events.SERVICE_SECRET_ROTATED.code,
        actor=acting_user,
        organisation=service.organisation,
        data={"fs": application.client_id},
    )
    return secret


APPLICATION_FIELDS = ("name", "redirect_uris", "post_logout_redirect_uris")
SERVICE_FIELDS = (
    "audience", "sector_identifier_uri", "scopes", "eidas_levels", "private", "signing_alg", "auth_method",
    "jwks", "logo",
)  # fmt: skip


@transaction.atomic
def service_provider_update(service, *, acting_user=None, **changes) -> list[str]:
    """Change a service provider (its application's URIs and name, its profile, its FI lists); the
    journal names the changed fields. Returns them."""
    application = service.application
    changed = []
    for field, value in changes.items():
        if field in ("redirect_uris", "post_logout_redirect_uris") and not isinstance(value, str):
            value = " ".join(value)
        if field in ("allowed_providers", "denied_providers"):
            current = set(getattr(service, field).values_list("pk", flat=True))
            wanted = {getattr(provider, "pk", provider) for provider in value}
            if current != wanted:
                getattr(service, field).set(wanted)
                changed.append(field)
            continue
        target = application if field in APPLICATION_FIELDS else service
        if field not in APPLICATION_FIELDS and field not in SERVICE_FIELDS:
            raise ValueError(f"{field} cannot be changed")
        if getattr(target, field) != value:
            setattr(target, field, value)
            changed.append(field)
    if changed:
        application.full_clean(exclude=["user", "client_secret"])
        service.full_clean(exclude=["application"])
        application.save()
        service.save()
        journal.record(
            events.SERVICE_CHANGED.code,
            actor=acting_user,
            organisation=service.organisation,
            data={"fs": application.client_id, "fields": sorted(changed)},
        )
    return sorted(changed)


def sync_membership_permissions(membership) -> None:
    """Keep guardian's object permissions in step with memberships: an organisation's admins and
    developers manage its service providers, and stop when they leave or change role."""
    from guardian.shortcuts import assign_perm, remove_perm

    from identity.models import ServiceProvider
    from platform_core.enums import MembershipRole
    from platform_core.models import Membership

    services = list(ServiceProvider.objects.filter(organisation_id=membership.organisation_id))
    if not services:
        return
    still_manager = Membership.objects.filter(
        user_id=membership.user_id,
        organisation_id=membership.organisation_id,
        role__in=[MembershipRole.ADMIN, MembershipRole.DEVELOPER],
    ).exists()
    for service in services:
        for permission in ("view_serviceprovider", "change_serviceprovider", "manage_serviceprovider"):
            if still_manager:
                assign_perm(f"identity.{permission}", membership.user, service)
            else:
                remove_perm(f"identity.{permission}", membership.user, service)
