import uuid

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils.translation import gettext_lazy as _

from identity.enums import EidasLevel, ProviderAudience, UserKind
from protection.fields import EncryptedTextField


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
