"""mozilla-django-oidc's authentication backend, for many identity providers.

The library reads one provider's endpoints and secrets from settings; here ``get_settings`` reads
them from the IdentityProvider record the sign-in is for, and the network and token checks go
through identity/federation.py (httpx, cached JWKS refreshed on unknown kid, strict claim checks).
What stays the library's is the shape of the flow: token, ID token, userinfo, then find or create
the user from the claims.
"""

import hashlib

from django.db import transaction
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from identity import federation, pivot, registry
from identity.enums import ProviderAudience, UserKind
from identity.models import CitizenIdentity, FederatedIdentity, User
from platform_core.enums import MembershipRole, OrganisationKind
from platform_core.models import Membership, Organisation
from platform_core.services import membership_create


class FederationBackend(OIDCAuthenticationBackend):
    def __init__(self, provider=None, *args, **kwargs):
        self.provider = provider
        self.meta = federation.metadata(provider) if provider is not None else None
        super().__init__(*args, **kwargs)

    def get_settings(self, attr, *args):
        meta, provider = self.meta, self.provider
        values = {
            "OIDC_OP_TOKEN_ENDPOINT": meta.token_endpoint if meta else "",
            "OIDC_OP_USER_ENDPOINT": (meta.userinfo_endpoint or "") if meta else "",
            "OIDC_OP_JWKS_ENDPOINT": meta.jwks_uri if meta else "",
            "OIDC_RP_CLIENT_ID": provider.client_id if provider else "",
            "OIDC_RP_CLIENT_SECRET": provider.client_secret if provider else "",
            "OIDC_RP_SIGN_ALGO": "RS256",
            "OIDC_RP_SCOPES": provider.scopes if provider else "openid",
        }
        if attr in values:
            return values[attr]
        if args:
            return args[0]
        return super().get_settings(attr)

    def authenticate(self, request, federation_callback=None, **kwargs):
        """Only for a provider's callback (``federation_callback``: provider, code, nonce, verifier,
        redirect_uri); other credentials are for other backends."""
        if federation_callback is None or self.provider is None:
            return None
        tokens = federation.exchange_code(
            self.provider,
            self.meta,
            code=federation_callback["code"],
            redirect_uri=federation_callback["redirect_uri"],
            code_verifier=federation_callback["verifier"],
        )
        claims = self.verify_token(tokens["id_token"], nonce=federation_callback["nonce"])
        self.id_token, self.id_token_claims = tokens["id_token"], claims
        return self.get_or_create_user(tokens["access_token"], tokens["id_token"], claims)

    def verify_token(self, token, **kwargs):
        return federation.validate_id_token(self.provider, self.meta, token, nonce=kwargs.get("nonce", ""))

    def get_userinfo(self, access_token, id_token, payload):
        userinfo = federation.fetch_userinfo(self.provider, self.meta, access_token, subject=payload["sub"])
        return {**payload, **userinfo}

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        if self.provider.audience == ProviderAudience.AGENT:
            self.registry_status = registry.UNCHECKED  # agents are vouched for by their employer's FI
            return self.agent_for(pivot.normalise_agent(claims), payload)
        if self.provider.audience == ProviderAudience.COMPANY:
            self.registry_status = registry.UNCHECKED  # representatives are vouched for by the company FI
            return self.company_for(pivot.normalise_company(claims), payload)
        identity = pivot.normalise(claims)
        self.pivot_identity = identity
        self.registry_status = registry.verify(identity)  # RegistryRefusal stops the sign-in here
        return self.citizen_for(identity, payload)

    def _link_subject(self, user: User, payload: dict) -> None:
        """This FI's subject leads to ``user`` from now on; the sign-in's level is kept."""
        link = {"provider": self.provider, "subject": payload["sub"]}
        values = {"user": user, "acr": str(payload.get("acr", ""))[:8], "last_login": timezone.now()}
        # Every sign-in but the first finds the link: one UPDATE, where update_or_create() takes a
        # savepoint, a SELECT ... FOR UPDATE, an UPDATE and a release.
        if not FederatedIdentity.objects.filter(**link).update(**values):
            FederatedIdentity.objects.update_or_create(**link, defaults=values)

    def _account_for(self, kind: str, prefix: str, payload: dict) -> User:
        """The account this FI's subject leads to (locked), or a new one of ``kind`` without a password
        (not saved yet); FederationError when the subject belongs to another kind of account."""
        link = (
            FederatedIdentity.objects.select_for_update()
            .select_related("user")
            .filter(provider=self.provider, subject=payload["sub"])
            .first()
        )
        self.created = link is None
        if link is None:
            digest = hashlib.sha256(f"{self.provider.pk}:{payload['sub']}".encode()).hexdigest()[:20]
            user = User(username=f"{prefix}-{digest}", kind=kind)
            user.set_unusable_password()
            return user
        if link.user.kind != kind:
            raise federation.FederationError(
                "wrong_account", "this subject belongs to another kind of account"
            )
        return link.user

    def _join(self, user: User, organisation: Organisation | None, role: str) -> None:
        """``user`` gets ``role`` in ``organisation`` (journaled), unless they have it already."""
        self.organisation = organisation
        if (
            organisation is not None
            and not Membership.objects.filter(user=user, organisation=organisation, role=role).exists()
        ):
            membership_create(user=user, organisation=organisation, role=role)

    @transaction.atomic
    def agent_for(self, agent: "pivot.AgentIdentity", payload: dict) -> User:
        """The public agent's account (created on first sign-in, found again by this FI's subject),
        kept up to date, and made a member ("agent") of the organisation with the agent's SIRET."""
        user = self._account_for(UserKind.AGENT, "agent", payload)
        user.email, user.first_name, user.last_name = agent.email, agent.given_name, agent.usual_name
        user.save()
        self._link_subject(user, payload)
        self._join(user, Organisation.objects.filter(siret=agent.siret).first(), MembershipRole.AGENT)
        return user

    @transaction.atomic
    def company_for(self, rep: "pivot.CompanyRepresentative", payload: dict) -> User:
        """The company representative's account (created on first sign-in, found again by this FI's
        subject), kept up to date, and made "representative" of the company with the SIREN.

        A SIREN names the legal unit, which may have several establishments (SIRETs) here: the
        representative joins the one with the lowest SIRET, so that every sign-in picks the same."""
        user = self._account_for(UserKind.COMPANY, "entreprise", payload)
        user.email, user.first_name, user.last_name = rep.email, rep.given_name, rep.family_name
        user.save()
        self._link_subject(user, payload)
        companies = Organisation.objects.filter(siren=rep.siren, kind=OrganisationKind.COMPANY)
        self._join(user, companies.order_by("siret").first(), MembershipRole.REPRESENTATIVE)
        return user

    @transaction.atomic
    def citizen_for(self, identity: pivot.PivotIdentity, payload: dict) -> User:
        """The citizen account of this pivot identity (created on first sign-in), its pivot identity
        refreshed and this provider's subject linked to it."""
        digest = pivot.identity_hash(identity)
        found = (
            CitizenIdentity.objects.select_related("user")
            .select_for_update(of=("self",))
            .filter(identity_hash=digest)
            .first()
        )
        if found is None:
            user = User.objects.create_citizen(username=f"usager-{digest[:20]}")
            self.created = True
            found = CitizenIdentity(user=user, identity_hash=digest)
        else:
            user = found.user
            self.created = False
        fields = (*pivot.PIVOT_FIELDS, "preferred_username", "email")
        if self.created or any(getattr(found, name) != getattr(identity, name) for name in fields):
            for name in fields:
                setattr(found, name, getattr(identity, name))
            found.save()  # only when the FI vouched for something new: updated_at says when it changed
        self._link_subject(user, payload)
        return user
