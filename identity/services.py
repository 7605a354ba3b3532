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
