import uuid

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from identity.enums import EidasLevel, ProviderAudience, UserKind
from protection.fields import EncryptedTextField


def default_eidas_levels() -> list[str]:
    return [EidasLevel.LOW]


class MaillageUserManager(UserManager):
    def create_citizen(self, username: str, **extra_fields) -> "User":
        """Citizens sign in through an identity provider only: they never get a usable password."""
        extra_fields.update(kind=UserKind.CITIZEN, is_staff=False, is_superuser=False)
        user = self.model(username=self.model.normalize_username(username), **extra_fields)
        user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("kind", UserKind.STAFF)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    public_id = models.UUIDField(_("identifiant public"), default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(
        _("type de compte"), max_length=16, choices=UserKind.choices, default=UserKind.AGENT
    )
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    objects = MaillageUserManager()

    class Meta:
        verbose_name = _("utilisateur")
        verbose_name_plural = _("utilisateurs")
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                name="identity_user_citizen_has_no_password",
                condition=~models.Q(kind=UserKind.CITIZEN)
                | models.Q(password__startswith=UNUSABLE_PASSWORD_PREFIX),
                violation_error_message=_("Un usager ne peut pas avoir de mot de passe."),
            ),
            models.CheckConstraint(
                name="identity_user_citizen_not_staff",
                condition=~models.Q(kind=UserKind.CITIZEN) | models.Q(is_staff=False, is_superuser=False),
                violation_error_message=_("Un usager ne peut pas accéder à l'administration."),
            ),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    def set_password(self, raw_password):
        if self.kind == UserKind.CITIZEN and raw_password is not None:
            raise ValueError("citizens sign in through an identity provider and have no password")
        super().set_password(raw_password)


class IdentityProvider(models.Model):
    """An upstream identity provider ("FI") Maillage federates: an OpenID Connect provider of which
    Maillage is a client. Everything else (endpoints, keys) is read from its discovery document."""

    slug = models.SlugField(_("identifiant"), max_length=64, unique=True, help_text=_("Valeur de idp_hint."))
    name = models.CharField(_("nom"), max_length=120)
    audience = models.CharField(
        _("utilisateurs"), max_length=16, choices=ProviderAudience.choices, default=ProviderAudience.CITIZEN
    )
    issuer = models.URLField(_("émetteur (issuer)"), max_length=300, unique=True)
    discovery_url = models.URLField(
        _("document de découverte"),
        max_length=400,
        blank=True,
        help_text=_("Vide : <issuer>/.well-known/openid-configuration."),
    )
    client_id = models.CharField(_("identifiant client"), max_length=200)
    client_secret = EncryptedTextField(_("secret client"))
    scopes = models.CharField(_("scopes demandés"), max_length=300, default="openid profile email birth")
    eidas_level = models.CharField(
        _("niveau eIDAS"), max_length=8, choices=EidasLevel.choices, default=EidasLevel.LOW
    )
    display_order = models.PositiveSmallIntegerField(_("ordre d'affichage"), default=100)
    logo = models.FileField(_("logo"), upload_to="identity-providers/", blank=True)
    enabled = models.BooleanField(_("actif"), default=False)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("fournisseur d'identité")
        verbose_name_plural = _("fournisseurs d'identité")
        ordering = ["display_order", "name"]
        constraints = [
            models.CheckConstraint(
                name="identity_provider_scopes_openid",
                condition=models.Q(scopes__regex=r"(^| )openid( |$)"),
                violation_error_message=_("Les scopes doivent comprendre openid."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def discovery_document_url(self) -> str:
        return self.discovery_url or f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


class CitizenIdentity(models.Model):
    """A citizen's pivot identity, as the identity providers vouched for it (encrypted at rest).

    ``identity_hash`` is a keyed hash of the six normalised pivot fields (identity/pivot.py): the same
    person signing in through two providers lands on the same account, and service providers'
    pairwise subjects derive from it.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="pivot_identity")
    identity_hash = models.CharField(_("empreinte d'identité"), max_length=64, unique=True)
    given_name = EncryptedTextField(_("prénoms"))
    family_name = EncryptedTextField(_("nom de naissance"))
    preferred_username = EncryptedTextField(_("nom d'usage"), blank=True, default="")
    birthdate = EncryptedTextField(_("date de naissance"))
    gender = EncryptedTextField(_("sexe"))
    birthplace = EncryptedTextField(_("lieu de naissance"), blank=True, default="")
    birthcountry = EncryptedTextField(_("pays de naissance"))
    email = EncryptedTextField(_("courriel"), blank=True, default="")
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("identité pivot")
        verbose_name_plural = _("identités pivot")

    def __str__(self) -> str:
        return f"identité pivot de {self.user.public_id}"


class FederatedIdentity(models.Model):
    """The subject an identity provider gives a person: how a provider's sign-in finds its account."""

    provider = models.ForeignKey(
        IdentityProvider, on_delete=models.PROTECT, related_name="identities", verbose_name=_("fournisseur")
    )
    subject = models.CharField(_("identifiant chez le fournisseur"), max_length=255)
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="federated_identities", verbose_name=_("utilisateur")
    )
    acr = models.CharField(_("dernier niveau eIDAS"), max_length=8, blank=True)
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    last_login = models.DateTimeField(_("dernière connexion"), null=True, blank=True)

    class Meta:
        verbose_name = _("identité fédérée")
        verbose_name_plural = _("identités fédérées")
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="identity_federated_unique_subject")
        ]

    def __str__(self) -> str:
        return f"{self.provider.slug}:{self.subject[:12]}…"


class ProviderBlock(models.Model):
    """A citizen's refusal of an identity provider for their future sign-ins (set in Mon espace)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="provider_blocks")
    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="blocks")
    created_at = models.DateTimeField(_("bloqué le"), auto_now_add=True)

    class Meta:
        verbose_name = _("fournisseur d'identité bloqué")
        verbose_name_plural = _("fournisseurs d'identité bloqués")
        constraints = [models.UniqueConstraint(fields=["user", "provider"], name="identity_block_unique")]

    def __str__(self) -> str:
        return f"{self.provider.slug} bloqué"


class SigningAlgorithm(models.TextChoices):
    ES256 = "ES256", "ES256"
    RS256 = "RS256", "RS256"


class ClientAuthMethod(models.TextChoices):
    SECRET_BASIC = "client_secret_basic", "client_secret_basic"
    SECRET_POST = "client_secret_post", "client_secret_post"
    PRIVATE_KEY_JWT = "private_key_jwt", "private_key_jwt"
    NONE = "none", _("aucune (client public, PKCE S256)")


class ServiceProvider(models.Model):
    """A service provider ("FS"): an OAuth application of an organisation that signs people in through
    Maillage. Redirect URIs, post-logout URIs, client type and secret are the application's."""

    application = models.OneToOneField(
        "oauth2_provider.Application",
        on_delete=models.CASCADE,
        related_name="service_provider",
        verbose_name=_("application OAuth"),
    )
    organisation = models.ForeignKey(
        "platform_core.Organisation",
        on_delete=models.PROTECT,
        related_name="service_providers",
        verbose_name=_("organisation"),
    )
    audience = models.CharField(
        _("usagers du service"), max_length=16, choices=ProviderAudience.choices,
        default=ProviderAudience.CITIZEN,
    )  # fmt: skip
    sector_identifier_uri = models.URLField(
        _("identifiant de secteur (sector_identifier_uri)"),
        max_length=400,
        blank=True,
        help_text=_("Obligatoire si les URL de redirection sont sur plusieurs domaines."),
    )
    scopes = models.CharField(_("scopes autorisés"), max_length=600, default="openid profile")
    eidas_levels = ArrayField(
        models.CharField(max_length=8, choices=EidasLevel.choices),
        verbose_name=_("niveaux eIDAS autorisés"),
        default=default_eidas_levels,
    )
    private = models.BooleanField(
        _("service privé"),
        default=False,
        help_text=_("Un service privé recueille le consentement explicite de la personne."),
    )
    signing_alg = models.CharField(
        _("algorithme de signature"), max_length=5, choices=SigningAlgorithm.choices,
        default=SigningAlgorithm.ES256,
    )  # fmt: skip
    auth_method = models.CharField(
        _("authentification du client"), max_length=32, choices=ClientAuthMethod.choices,
        default=ClientAuthMethod.SECRET_BASIC,
    )  # fmt: skip
    jwks = models.JSONField(
        _("clés publiques (JWKS)"),
        blank=True,
        default=dict,
        help_text=_("Pour private_key_jwt : le jeu de clés publiques du service."),
    )
    allowed_providers = models.ManyToManyField(
        IdentityProvider, blank=True, related_name="allowing_services",
        verbose_name=_("fournisseurs d'identité autorisés"), help_text=_("Vide : tous."),
    )  # fmt: skip
    denied_providers = models.ManyToManyField(
        IdentityProvider, blank=True, related_name="denying_services",
        verbose_name=_("fournisseurs d'identité exclus"),
    )  # fmt: skip
    logo = models.FileField(_("logo"), upload_to="service-providers/", blank=True)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("fournisseur de service")
        verbose_name_plural = _("fournisseurs de service")
        ordering = ["application__name"]
        permissions = [("manage_serviceprovider", _("Gérer le fournisseur de service"))]
        constraints = [
            models.CheckConstraint(
                name="identity_service_scopes_openid",
                condition=models.Q(scopes__regex=r"(^| )openid( |$)"),
                violation_error_message=_("Les scopes doivent comprendre openid."),
            ),
            models.CheckConstraint(
                name="identity_service_eidas_levels",
                condition=models.Q(eidas_levels__len__gte=1)
                & models.Q(eidas_levels__contained_by=list(EidasLevel.values)),
                violation_error_message=_("Choisissez au moins un niveau eIDAS."),
            ),
        ]

    def __str__(self) -> str:
        return self.application.name or self.application.client_id

    @property
    def client_id(self) -> str:
        return self.application.client_id

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def default_eidas_level(self) -> str:
        return min(self.eidas_levels)  # eidas1 < eidas2 < eidas3 as strings

    def eidas_level_for(self, acr_values: str) -> str:
        """FranceConnect's rule: of the requested levels the lowest, raised to the lowest level the
        service may use; unknown or missing values give the service's default."""
        requested = sorted(set(acr_values.split()) & set(EidasLevel.values))
        if not requested:
            return self.default_eidas_level
        eligible = [level for level in sorted(self.eidas_levels) if level >= requested[0]]
        return eligible[0] if eligible else max(self.eidas_levels)

    @property
    def redirect_uri_list(self) -> list[str]:
        return self.application.redirect_uris.split()

    @property
    def post_logout_uri_list(self) -> list[str]:
        return self.application.post_logout_redirect_uris.split()

    @property
    def sector(self) -> str:
        from identity.claims import sector_of

        return sector_of(self.redirect_uri_list, self.sector_identifier_uri)

    def allows_provider(self, provider: IdentityProvider) -> bool:
        if provider.audience != self.audience:
            return False
        if self.denied_providers.filter(pk=provider.pk).exists():
            return False
        allowed = self.allowed_providers.all()
        return not allowed.exists() or allowed.filter(pk=provider.pk).exists()


class Consent(models.Model):
    """A person's consent to a private service receiving these claims; revocable from Mon espace."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="consents")
    service_provider = models.ForeignKey(
        ServiceProvider, on_delete=models.CASCADE, related_name="consents", verbose_name=_("service")
    )
    claims = ArrayField(models.CharField(max_length=64), verbose_name=_("données transmises"))
    granted_at = models.DateTimeField(_("accordé le"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("retiré le"), null=True, blank=True)

    class Meta:
        verbose_name = _("consentement")
        verbose_name_plural = _("consentements")
        ordering = ["-granted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "service_provider"],
                condition=models.Q(revoked_at__isnull=True),
                name="identity_consent_one_active",
            )
        ]

    def __str__(self) -> str:
        return f"consentement {self.service_provider_id}"


class Authorization(models.Model):
    """What an authorization code was issued for (FS, person, FI, level), kept after the code is
    redeemed: a replayed code finds it and revokes the tokens it gave, and userinfo reads its context."""

    code_hash = models.CharField(max_length=64, unique=True)
    service_provider = models.ForeignKey(ServiceProvider, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    provider = models.ForeignKey(IdentityProvider, on_delete=models.SET_NULL, null=True, related_name="+")
    acr = models.CharField(max_length=8)
    amr = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    auth_time = models.DateTimeField()
    session_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    access_token = models.OneToOneField(
        "oauth2_provider.AccessToken",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="maillage_authorization",
    )

    class Meta:
        verbose_name = _("autorisation")
        verbose_name_plural = _("autorisations")
        indexes = [models.Index(fields=["created_at"], name="identity_authz_created")]

    def __str__(self) -> str:
        return f"autorisation {self.pk} ({self.acr})"
