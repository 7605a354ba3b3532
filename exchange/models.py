"""The data-exchange hub: the API catalogue, habilitations (DataPass-like contracts) and the
authorizations they freeze when validated.

A habilitation is the living request (its states below); an authorization is the immutable snapshot
of a validated habilitation, the thing the gateway and credentials are bound to. Amending a validated
habilitation reopens it while its current authorization stays active; validating the amendment
freezes a new authorization and makes the previous one obsolete.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from protection.fields import EncryptedTextField

RETENTION_WITHOUT_JUSTIFICATION = 36  # months


class ApiStatus(models.TextChoices):
    BETA = "beta", _("Bêta")
    STABLE = "stable", _("En production")
    DEPRECATED = "deprecated", _("Dépréciée")
    SUSPENDED = "suspended", _("Suspendue")


class UpstreamAuth(models.TextChoices):
    NONE = "none", _("Aucune")
    BEARER = "bearer", _("Jeton porteur (Authorization: Bearer)")
    API_KEY = "api_key", _("Clé d'API dans un en-tête")


class Sensitivity(models.TextChoices):
    PUBLIC = "public", _("Publique")
    PERSONAL = "personal", _("Donnée personnelle")
    SENSITIVE = "sensitive", _("Donnée sensible (article 9 du RGPD)")


class LegalFramework(models.Model):
    name = models.CharField(_("nom"), max_length=200)
    reference = models.CharField(_("référence"), max_length=300, blank=True)
    url = models.URLField(_("adresse (Légifrance…)"), max_length=400, blank=True)

    class Meta:
        verbose_name = _("cadre juridique")
        verbose_name_plural = _("cadres juridiques")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiProduct(models.Model):
    """An API a provider organisation publishes through Maillage."""

    public_id = models.UUIDField(_("identifiant public"), default=uuid.uuid4, unique=True, editable=False)
    slug = models.SlugField(
        _("identifiant"), max_length=64, unique=True, help_text=_("Dans l'URL de la passerelle.")
    )
    name = models.CharField(_("nom"), max_length=200)
    provider = models.ForeignKey(
        "platform_core.Organisation",
        on_delete=models.PROTECT,
        related_name="api_products",
        verbose_name=_("fournisseur"),
    )
    description = models.TextField(_("description"))
    upstream_base_url = models.URLField(_("URL de base du fournisseur"), max_length=400)
    upstream_auth = models.CharField(
        _("authentification auprès du fournisseur"), max_length=16, choices=UpstreamAuth.choices,
        default=UpstreamAuth.BEARER,
    )  # fmt: skip
    upstream_header = models.CharField(
        _("en-tête de la clé"), max_length=64, blank=True, help_text=_("Pour une clé d'API : X-Api-Key…")
    )
    upstream_secret = EncryptedTextField(_("secret d'accès au fournisseur"), blank=True, default="")
    legal_frameworks = models.ManyToManyField(
        LegalFramework, blank=True, related_name="apis", verbose_name=_("cadres juridiques")
    )
    status = models.CharField(_("statut"), max_length=16, choices=ApiStatus.choices, default=ApiStatus.BETA)
    availability_target = models.DecimalField(
        _("disponibilité visée (%)"), max_digits=5, decimal_places=2, default=99.5
    )
    latency_target_ms = models.PositiveIntegerField(_("temps de réponse visé (ms, p95)"), default=500)
    openapi = models.JSONField(_("description OpenAPI"), blank=True, default=dict)
    published = models.BooleanField(_("publiée au catalogue"), default=False)
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("API du catalogue")
        verbose_name_plural = _("API du catalogue")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiScope(models.Model):
    """A group of fields of an API that a habilitation asks for, and a credential is granted."""

    api = models.ForeignKey(
        ApiProduct, on_delete=models.CASCADE, related_name="scopes", verbose_name=_("API")
    )
    code = models.SlugField(
        _("code"),
        max_length=64,
        unique=True,
        help_text=_("Unique sur la plateforme : cnaf_quotient_familial…"),
    )
    label = models.CharField(_("libellé"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    sensitivity = models.CharField(
        _("sensibilité"), max_length=16, choices=Sensitivity.choices, default=Sensitivity.PERSONAL
    )
    fields = ArrayField(
        models.CharField(max_length=120),
        verbose_name=_("champs"),
        help_text=_("Les champs de la réponse que ce scope donne (noms de premier niveau)."),
    )

    class Meta:
        verbose_name = _("scope d'API")
        verbose_name_plural = _("scopes d'API")
        ordering = ["api", "code"]

    def __str__(self) -> str:
        return f"{self.label} ({self.code})"


class HabilitationState(models.TextChoices):
    DRAFT = "draft", _("Brouillon")
    SUBMITTED = "submitted", _("Soumise")
    CHANGES_REQUESTED = "changes_requested", _("Modifications demandées")
    VALIDATED = "validated", _("Validée")
    REFUSED = "refused", _("Refusée")
    REVOKED = "revoked", _("Révoquée")
    ARCHIVED = "archived", _("Archivée")


class LegalBasisNature(models.TextChoices):
    LAW = "law", _("Loi ou règlement")
    DECREE = "decree", _("Décret ou arrêté")
    DELIBERATION = "deliberation", _("Délibération")
    PUBLIC_MISSION = "public_mission", _("Mission de service public")
    CONSENT = "consent", _("Consentement de la personne")


class Habilitation(models.Model):
    """A consumer organisation's request to use an API: why, on which legal basis, which fields, for
    how long, for whom. Instructed by the provider organisation."""

    public_id = models.UUIDField(_("identifiant public"), default=uuid.uuid4, unique=True, editable=False)
    consumer = models.ForeignKey(
        "platform_core.Organisation",
        on_delete=models.PROTECT,
        related_name="habilitations",
        verbose_name=_("organisation demandeuse"),
    )
    api = models.ForeignKey(
        ApiProduct, on_delete=models.PROTECT, related_name="habilitations", verbose_name=_("API")
    )
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="habilitations",
        verbose_name=_("demandeur"),
    )
    state = models.CharField(
        _("état"), max_length=20, choices=HabilitationState.choices, default=HabilitationState.DRAFT
    )
    title = models.CharField(_("intitulé"), max_length=200)
    purpose = models.TextField(_("finalité"))
    legal_basis_nature = models.CharField(
        _("nature du fondement juridique"), max_length=20, choices=LegalBasisNature.choices
    )
    legal_basis_url = models.URLField(_("texte du fondement juridique (URL)"), max_length=400, blank=True)
    legal_basis_document = models.FileField(
        _("texte du fondement juridique (PDF)"), upload_to="habilitations/legal-basis/", blank=True
    )
    scopes = models.ManyToManyField(ApiScope, related_name="habilitations", verbose_name=_("scopes demandés"))
    recipients = ArrayField(
        models.CharField(max_length=14),
        verbose_name=_("destinataires (SIRET)"),
        default=list,
        blank=True,
        help_text=_("Les organisations, autres que la vôtre, qui recevront les données."),
    )
    retention_months = models.PositiveSmallIntegerField(
        _("durée de conservation (mois)"), validators=[MinValueValidator(1)]
    )
    retention_justification = models.TextField(_("justification de la durée de conservation"), blank=True)
    expected_volume = models.PositiveIntegerField(_("volumétrie attendue (appels par jour)"), default=1000)
    production_date = models.DateField(_("date de mise en production prévue"), null=True, blank=True)
    contacts = models.JSONField(
        _("contacts"),
        default=dict,
        blank=True,
        help_text=_("Métier, technique, délégué à la protection des données, responsable de traitement."),
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)
    submitted_at = models.DateTimeField(_("soumise le"), null=True, blank=True)

    class Meta:
        verbose_name = _("habilitation")
        verbose_name_plural = _("habilitations")
        ordering = ["-updated_at"]
        permissions = [
            ("instruct_habilitation", _("Instruire l'habilitation")),
            ("report_habilitation", _("Suivre l'habilitation (rapporteur)")),
        ]
        constraints = [
            models.CheckConstraint(
                name="exchange_habilitation_retention_justified",
                condition=models.Q(retention_months__lte=RETENTION_WITHOUT_JUSTIFICATION)
                | ~models.Q(retention_justification=""),
                violation_error_message=_("Au-delà de 36 mois, justifiez la durée de conservation."),
            ),
            models.CheckConstraint(
                name="exchange_habilitation_state_valid",
                condition=models.Q(state__in=HabilitationState.values),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def active_authorization(self):
        return self.authorizations.filter(state=AuthorizationState.ACTIVE).first()


class CONTACT_ROLES:  # noqa: N801 - a namespace of constants
    BUSINESS = "business"
    TECHNICAL = "technical"
    DPO = "dpo"
    CONTROLLER = "controller"
    ALL = (BUSINESS, TECHNICAL, DPO, CONTROLLER)
    LABELS = {
        BUSINESS: _("Contact métier"),
        TECHNICAL: _("Contact technique"),
        DPO: _("Délégué à la protection des données"),
        CONTROLLER: _("Responsable de traitement"),
    }


class HabilitationChange(models.Model):
    """One field's change, by whom and when: the habilitation's field-level history."""

    habilitation = models.ForeignKey(Habilitation, on_delete=models.CASCADE, related_name="changes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    field = models.CharField(_("champ"), max_length=64)
    old_value = models.JSONField(_("ancienne valeur"), null=True)
    new_value = models.JSONField(_("nouvelle valeur"), null=True)
    at = models.DateTimeField(_("le"), auto_now_add=True)

    class Meta:
        verbose_name = _("modification d'habilitation")
        verbose_name_plural = _("modifications d'habilitations")
        ordering = ["habilitation", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.field} ({self.at:%Y-%m-%d})"


class HabilitationMessage(models.Model):
    """A message between the applicant and the instructors, kept with the habilitation."""

    habilitation = models.ForeignKey(Habilitation, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(_("message"))
    at = models.DateTimeField(_("le"), auto_now_add=True)

    class Meta:
        verbose_name = _("message d'habilitation")
        verbose_name_plural = _("messages d'habilitations")
        ordering = ["habilitation", "at", "pk"]

    def __str__(self) -> str:
        return f"message {self.pk}"


class AuthorizationState(models.TextChoices):
    ACTIVE = "active", _("Active")
    OBSOLETE = "obsolete", _("Remplacée")
    REVOKED = "revoked", _("Révoquée")


class Authorization(models.Model):
    """The frozen, validated version of a habilitation: what credentials and the gateway enforce.
    Its content never changes after creation (a database trigger refuses it); only its state moves,
    from active to obsolete (replaced by an amendment) or revoked."""

    public_id = models.UUIDField(_("identifiant public"), default=uuid.uuid4, unique=True, editable=False)
    habilitation = models.ForeignKey(
        Habilitation, on_delete=models.PROTECT, related_name="authorizations", verbose_name=_("habilitation")
    )
    version = models.PositiveIntegerField(_("version"))
    state = models.CharField(
        _("état"), max_length=16, choices=AuthorizationState.choices, default=AuthorizationState.ACTIVE
    )
    consumer = models.ForeignKey(
        "platform_core.Organisation",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("consommateur"),
    )
    api = models.ForeignKey(ApiProduct, on_delete=models.PROTECT, related_name="authorizations")
    scopes = ArrayField(models.CharField(max_length=64), verbose_name=_("scopes accordés"))
    fields = ArrayField(models.CharField(max_length=120), verbose_name=_("champs accordés"))
    recipients = ArrayField(models.CharField(max_length=14), verbose_name=_("destinataires (SIRET)"))
    legal_basis = models.CharField(_("fondement juridique"), max_length=600)
    snapshot = models.JSONField(_("contenu validé"))
    valid_from = models.DateTimeField(_("valide du"))
    valid_until = models.DateTimeField(_("valide jusqu'au"))
    validated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    ended_at = models.DateTimeField(_("fin le"), null=True, blank=True)

    class Meta:
        verbose_name = _("autorisation")
        verbose_name_plural = _("autorisations")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["habilitation", "version"], name="exchange_authorization_version"
            ),
            models.UniqueConstraint(
                fields=["habilitation"],
                condition=models.Q(state="active"),
                name="exchange_authorization_one_active",
            ),
            models.CheckConstraint(
                name="exchange_authorization_validity",
                condition=models.Q(valid_until__gt=models.F("valid_from")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.habilitation} v{self.version}"


class Credential(models.Model):
    """The OAuth 2.0 client (client credentials grant) through which a consumer calls the gateway under
    a habilitation. Bound to the habilitation's current authorization: its scopes are the granted ones,
    its expiry the authorization's, and an amendment's validation renews it in place."""

    public_id = models.UUIDField(_("identifiant public"), default=uuid.uuid4, unique=True, editable=False)
    habilitation = models.OneToOneField(
        Habilitation, on_delete=models.PROTECT, related_name="credential", verbose_name=_("habilitation")
    )
    authorization = models.ForeignKey(
        Authorization, on_delete=models.PROTECT, related_name="credentials", verbose_name=_("autorisation")
    )
    application = models.OneToOneField(
        "oauth2_provider.Application", on_delete=models.PROTECT, related_name="exchange_credential"
    )
    expires_at = models.DateTimeField(_("expire le"))
    revoked_at = models.DateTimeField(_("révoqué le"), null=True, blank=True)
    ip_allowlist = ArrayField(
        models.CharField(max_length=43),
        verbose_name=_("adresses autorisées"),
        default=list,
        blank=True,
        help_text=_("Adresses IP ou réseaux (CIDR) ; vide : toutes."),
    )
    warned_days = ArrayField(models.PositiveSmallIntegerField(), default=list, blank=True)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)

    class Meta:
        verbose_name = _("identifiant d'accès")
        verbose_name_plural = _("identifiants d'accès")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.habilitation} ({self.application.client_id})"

    @property
    def client_id(self) -> str:
        return self.application.client_id


class CredentialSecret(models.Model):
    """One secret of a credential, as a keyed hash. Two are valid during a rotation's grace period."""

    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="secrets")
    secret_hash = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Vide : jusqu'à la rotation suivante.")
    )

    class Meta:
        verbose_name = _("secret d'identifiant d'accès")
        verbose_name_plural = _("secrets d'identifiants d'accès")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"secret {self.pk}"


class BatchStatus(models.TextChoices):
    QUEUED = "queued", _("En attente")
    RUNNING = "running", _("En cours")
    COMPLETED = "completed", _("Terminé")
    FAILED = "failed", _("Échoué")


class BatchFormat(models.TextChoices):
    JSONL = "jsonl", _("JSON Lines")
    CSV = "csv", _("CSV")


class WebhookStatus(models.TextChoices):
    NONE = "none", _("Sans notification")
    PENDING = "pending", _("À envoyer")
    DELIVERED = "delivered", _("Remise")
    FAILED = "failed", _("Échec de remise")


class Batch(models.Model):
    """A batch transfer: many gateway calls under one credential, processed by Celery workers in chunks.
    Its context (API, path, recipient, purpose) is the batch's; each item only designates a person."""

    public_id = models.UUIDField(_("identifiant public"), default=uuid.uuid4, unique=True, editable=False)
    credential = models.ForeignKey(
        Credential, on_delete=models.PROTECT, related_name="batches", verbose_name=_("identifiant d'accès")
    )
    authorization = models.ForeignKey(
        Authorization, on_delete=models.PROTECT, related_name="batches", verbose_name=_("autorisation")
    )
    consumer = models.ForeignKey(
        "platform_core.Organisation",
        on_delete=models.PROTECT,
        related_name="batches",
        verbose_name=_("organisation"),
    )
    api = models.ForeignKey(
        ApiProduct, on_delete=models.PROTECT, related_name="batches", verbose_name=_("API")
    )
    path = models.CharField(_("chemin"), max_length=300)
    scopes = ArrayField(models.CharField(max_length=64), verbose_name=_("scopes du jeton"))
    recipient = models.CharField(_("destinataire (SIRET)"), max_length=14)
    purpose = models.CharField(_("référence de l'habilitation"), max_length=64)
    input_format = models.CharField(_("format"), max_length=8, choices=BatchFormat.choices)
    webhook_url = models.URLField(_("adresse de notification"), max_length=500, blank=True)
    idempotency_key = models.CharField(_("clé d'idempotence"), max_length=200)
    fingerprint = models.CharField(_("empreinte de la requête"), max_length=64)
    status = models.CharField(
        _("état"), max_length=16, choices=BatchStatus.choices, default=BatchStatus.QUEUED
    )
    total = models.PositiveIntegerField(_("éléments"), default=0)
    processed_count = models.PositiveIntegerField(_("terminés"), default=0)
    failed_count = models.PositiveIntegerField(_("en échec"), default=0)
    chunk_size = models.PositiveIntegerField(_("taille des lots"))
    webhook_status = models.CharField(
        _("notification"), max_length=16, choices=WebhookStatus.choices, default=WebhookStatus.NONE
    )
    webhook_attempts = models.PositiveSmallIntegerField(_("tentatives de notification"), default=0)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    started_at = models.DateTimeField(_("commencé le"), null=True, blank=True)
    finished_at = models.DateTimeField(_("terminé le"), null=True, blank=True)
    progressed_at = models.DateTimeField(_("dernier progrès le"), null=True, blank=True)

    class Meta:
        verbose_name = _("traitement par lot")
        verbose_name_plural = _("traitements par lot")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["credential", "idempotency_key"], name="exchange_batch_idempotency"
            ),
            models.CheckConstraint(
                name="exchange_batch_status_valid", condition=models.Q(status__in=BatchStatus.values)
            ),
            models.CheckConstraint(
                name="exchange_batch_counts",
                condition=models.Q(processed_count__lte=models.F("total"))
                & models.Q(failed_count__lte=models.F("processed_count")),
            ),
        ]
        indexes = [models.Index(fields=["status", "progressed_at"], name="exchange_batch_active")]

    def __str__(self) -> str:
        return str(self.public_id)

    @property
    def pending_count(self) -> int:
        return self.total - self.processed_count

    @property
    def percent(self) -> float:
        return round(100 * self.processed_count / self.total, 1) if self.total else 100.0


class BatchItemStatus(models.TextChoices):
    PENDING = "pending", _("En attente")
    PROCESSING = "processing", _("En cours")
    DONE = "done", _("Traité")
    FAILED = "failed", _("En échec")


class BatchItem(models.Model):
    """One line of a batch: the person's parameters, then the masked answer. ``attempts`` counts claims;
    a claim holds the item until ``lease_expires_at``, after which it can be claimed again (the sweeper
    re-enqueues its chunk); after an upstream fault it waits in ``pending`` until ``retry_after``."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="items")
    line = models.PositiveIntegerField(_("ligne"))
    chunk = models.PositiveIntegerField(_("lot"))
    params = models.JSONField(_("paramètres"))
    case_id = models.CharField(_("dossier"), max_length=100, blank=True)
    status = models.CharField(
        _("état"), max_length=16, choices=BatchItemStatus.choices, default=BatchItemStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("tentatives"), default=0)
    lease_expires_at = models.DateTimeField(_("réservé jusqu'au"), null=True, blank=True)
    retry_after = models.DateTimeField(_("nouvel essai après"), null=True, blank=True)
    result_status = models.PositiveSmallIntegerField(_("statut HTTP"), null=True, blank=True)
    result = models.JSONField(_("réponse (masquée)"), null=True, blank=True)
    error_code = models.CharField(_("erreur"), max_length=64, blank=True)
    processed_at = models.DateTimeField(_("traité le"), null=True, blank=True)

    class Meta:
        verbose_name = _("élément de lot")
        verbose_name_plural = _("éléments de lot")
        ordering = ["batch", "line"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "line"], name="exchange_batchitem_line"),
            models.CheckConstraint(
                name="exchange_batchitem_status_valid", condition=models.Q(status__in=BatchItemStatus.values)
            ),
        ]
        indexes = [
            # Claiming: the unfinished items of one chunk.
            models.Index(
                fields=["batch", "chunk", "line"],
                name="exchange_batchitem_claim",
                condition=models.Q(status__in=["pending", "processing"]),
            ),
            # The sweeper: claims whose lease ran out.
            models.Index(
                fields=["lease_expires_at"],
                name="exchange_batchitem_lease",
                condition=models.Q(status="processing"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.line}"


class WebhookSecret(models.Model):
    """A secret the consumer shares with Maillage to verify batch notifications. Kept encrypted (signing
    needs it in clear); several can be active at once so the consumer rotates without missing one."""

    public_id = models.UUIDField(_("identifiant public"), default=uuid.uuid4, unique=True, editable=False)
    credential = models.ForeignKey(
        Credential,
        on_delete=models.PROTECT,
        related_name="webhook_secrets",
        verbose_name=_("identifiant d'accès"),
    )
    value = EncryptedTextField(_("secret"))
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expire le"), null=True, blank=True)

    class Meta:
        verbose_name = _("secret de notification")
        verbose_name_plural = _("secrets de notification")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return str(self.public_id)
