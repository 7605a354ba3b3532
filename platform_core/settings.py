"""Maillage settings: read from the environment only, through platform_core.env.

See the configuration table in README.md for every variable.
"""

import re
from pathlib import Path

from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.conf import global_settings
from django.utils.translation import gettext_lazy as _

from platform_core import embedded_db
from platform_core import logging as logging_setup
from platform_core.env import (
    ConfigurationError,
    database_config,
    env_bool,
    env_choice,
    env_int,
    env_keyring,
    env_list,
    env_secret,
    env_str,
    public_url,
    redis_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = embedded_db.var_dir()
SECRETS_DIR = VAR_DIR / "secrets"

DEBUG = env_bool("DEBUG", default=False)
# Cookies travel over HTTPS only, except in development or when `make run` serves plain http on loopback.
SECURE_COOKIES = env_bool("SECURE_COOKIES", default=not DEBUG)
PUBLIC_URL = public_url("PUBLIC_URL", env_str("PUBLIC_URL") or "http://127.0.0.1:8000")
SECRET_KEY = env_secret("SECRET_KEY", generate_into=SECRETS_DIR, min_length=50)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
if not ALLOWED_HOSTS:
    raise ConfigurationError("ALLOWED_HOSTS", "must list at least one host name")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PUBLIC_URL])

# --- Applications -----------------------------------------------------------------------------

INSTALLED_APPS = [
    # The stock admin with a second factor (django-otp): see protection.admin_site.
    "protection.otp.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_prometheus",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "guardian",
    "django_celery_beat",
    "widget_tweaks",
    "dsfr",
    "platform_core",
    "protection",
    "identity",
    "exchange",
    "commons.referentials",
    "commons.payments",
    "commons.archives",
    "opendata",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "platform_core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "protection.csp.CSPMiddleware",
    "protection.ratelimit.RateLimitHeadersMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# The exchange gateway's calls (a bearer token, JSON both ways, never a browser) are served without the
# middleware of browser sessions, forms and static files (platform_core/wsgi.py): 0.2 ms less per call
# on a path whose own work is a few milliseconds. Request id, security headers, language, quota headers,
# Content-Length (CommonMiddleware) and metrics stay; the CSP is the API's own (protection/csp.py).
LEAN_PATH_PREFIXES = ("/api/v1/gateway/",)
LEAN_MIDDLEWARE = [
    # API answers get the API's policy (protection/csp.py), not the site's with its nonce.
    "protection.csp.ApiCSPMiddleware" if name == "protection.csp.CSPMiddleware" else name
    for name in MIDDLEWARE
    if name
    not in {
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django_otp.middleware.OTPMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    }
]

ROOT_URLCONF = "platform_core.urls"
WSGI_APPLICATION = "platform_core.wsgi.application"
ASGI_APPLICATION = "platform_core.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "platform_core.context_processors.platform",
            ],
        },
    },
]

# --- Data -------------------------------------------------------------------------------------

_database_url = env_str("DATABASE_URL") or embedded_db.url()
if not _database_url:
    raise ConfigurationError(
        "DATABASE_URL",
        "not set and no embedded PostgreSQL in var/: set it, or start one with "
        "`python -m platform_core.embedded_db start` (make run and make test do this)",
    )
DATABASES = {"default": database_config("DATABASE_URL", _database_url)}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    # Citizens, through the identity providers they choose (identity/views.py calls it with the FI).
    "identity.backends.FederationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# People's passwords keep Django's hashers (the first one hashes); the last one serves OAuth client
# secrets only (OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"]).
PASSWORD_HASHERS = [*global_settings.PASSWORD_HASHERS, "identity.hashers.ClientSecretHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# Redis is the broker and the cache when REDIS_URL is set. Without it (a first `make run` on a
# bare machine) Celery uses kombu's filesystem transport under var/celery — worker, beat and
# `celery inspect ping` all work, across processes — and the cache lives in PostgreSQL.
REDIS_URL = redis_url("REDIS_URL", env_str("REDIS_URL")) if env_str("REDIS_URL") else None
if REDIS_URL:
    # Django's Redis cache, keeping its client (platform_core/cache.py).
    CACHES = {"default": {"BACKEND": "platform_core.cache.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "platform_cache"}
    }
    _celery_dir = VAR_DIR / "celery"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "control_folder": str(_celery_dir / "control"),
        "processed_folder": str(_celery_dir / "processed"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{_celery_dir / 'results'}"
    for _folder in ("queue", "control", "processed", "results"):
        (_celery_dir / _folder).mkdir(parents=True, exist_ok=True)

CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "Europe/Paris"
# Batch transfers have their queue, so that a 100,000-item batch does not delay the journal's sealing;
# every worker consumes it too (`make run`, docker-compose: `-Q celery,batches`).
CELERY_TASK_ROUTES = {"exchange.tasks.batch_*": {"queue": "batches"}}

# --- Batch transfers (exchange/batches.py) ----------------------------------------------------------

BATCH_MAX_ITEMS = env_int("BATCH_MAX_ITEMS", 100_000, minimum=1, maximum=1_000_000)
# The body of a batch submission may exceed MAX_REQUEST_BODY_BYTES: it is read line by line.
BATCH_MAX_BODY_BYTES = env_int("BATCH_MAX_BODY_BYTES", 64 * 1024 * 1024, minimum=1024)
BATCH_CHUNK_SIZE = env_int("BATCH_CHUNK_SIZE", 250, minimum=1, maximum=10_000)
# Upstream calls in flight per chunk task (threads over the pooled httpx client).
BATCH_CONCURRENCY = env_int("BATCH_CONCURRENCY", 16, minimum=1, maximum=100)
# How long a claimed item stays with its worker before the sweeper hands it out again (> upstream timeout).
BATCH_LEASE_SECONDS = env_int("BATCH_LEASE_SECONDS", 120, minimum=1)
BATCH_MAX_ATTEMPTS = env_int("BATCH_MAX_ATTEMPTS", 5, minimum=1, maximum=20)
BATCH_RETRY_BASE_MS = env_int("BATCH_RETRY_BASE_MS", 2000, minimum=1)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8, minimum=1, maximum=20)
WEBHOOK_RETRY_BASE_MS = env_int("WEBHOOK_RETRY_BASE_MS", 10_000, minimum=1)

# --- Internationalisation ---------------------------------------------------------------------

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The language chosen with the switcher of the DSFR header (POST /i18n/setlang/).
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
USE_I18N = True
USE_TZ = True
TIME_ZONE = "Europe/Paris"

# --- Static files -----------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
_node_modules = BASE_DIR / "node_modules"
if _node_modules.is_dir():
    STATICFILES_DIRS.append(("npm", _node_modules))
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": VAR_DIR / "media"},
    },
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "platform_core.storage.StaticFilesStorage"
    },
}
MEDIA_URL = "/media/"

# --- Limits -----------------------------------------------------------------------------------

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BODY_BYTES", 2_621_440, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
# API addresses whose views read their body as a stream, with their own limit (platform_core/middleware.py).
API_BODY_LIMITS = {"/api/v1/batches/": BATCH_MAX_BODY_BYTES}

# --- Security ---------------------------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 30 * 60, minimum=60)
# Sessions in Redis (the cache) when there is one: a sign-in journey reads or writes its session on each of
# its 8 requests, 11 % of its CPU in django_session. Redis expires them with the cookie (SESSION_COOKIE_AGE);
# login() still gives a new key. Without REDIS_URL (the cache is then PostgreSQL) they stay in the database.
SESSION_ENGINE = f"django.contrib.sessions.backends.{'cache' if REDIS_URL else 'db'}"
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "platform_core.views.errors.csrf_failure"  # DSFR page, or problem+json under /api/
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    # Production: HTTPS everywhere. Behind a TLS-terminating proxy, it sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 63_072_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = SECURE_COOKIES
    CSRF_COOKIE_SECURE = SECURE_COOKIES

# Content-Security-Policy (django-csp): no inline script or style; scripts carry a fresh nonce.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

# Admin second factor (django-otp, TOTP): required of staff who registered a confirmed device,
# and of every staff account when ADMIN_OTP_REQUIRED is on.
ADMIN_OTP_REQUIRED = env_bool("ADMIN_OTP_REQUIRED", default=False)
OTP_TOTP_ISSUER = "Maillage"

# --- API --------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "oauth2_provider.contrib.rest_framework.OAuth2Authentication",
        "platform_core.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "platform_core.api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "platform_core.api.errors.problem_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["protection.ratelimit.RateLimitThrottle"],
    "DEFAULT_SCHEMA_CLASS": "platform_core.api.schema.ProblemAutoSchema",
    "DEFAULT_VERSIONING_CLASS": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Maillage API",
    "DESCRIPTION": "API de la plateforme Maillage : échanges, habilitations, statistiques ouvertes.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # The schema and its documentation are public, whoever asks.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVERS": [{"url": PUBLIC_URL}],
    "OAUTH2_FLOWS": ["authorizationCode", "clientCredentials"],
    "OAUTH2_AUTHORIZATION_URL": f"{PUBLIC_URL}/api/v2/authorize",
    "OAUTH2_TOKEN_URL": f"{PUBLIC_URL}/api/v2/token",
}

# Quotas (protection.ratelimit): per group (a view's throttle_scope, "default" otherwise), per
# client (OAuth2 application or user) and per IP, in fixed windows counted in the cache (Redis, or
# the database cache without REDIS_URL). Each "N/period" (s, min, h, day) can be overridden by
# RATE_LIMIT_<GROUP>_<KIND>, e.g. RATE_LIMIT_DEFAULT_IP=600/min.
RATE_LIMITS = {
    "default": {"client": "1200/min", "ip": "300/min"},
    # Starting a sign-in and coming back from the identity provider (identity/views.py), per address.
    "sign_in": {"ip": "60/min"},
    # Maillage's OpenID provider endpoints for services (token, userinfo, revocation), per client_id
    # and per address (identity/op_views.py).
    "oidc": {"client": "3000/min", "ip": "3000/min"},
    # The exchange gateway (exchange/gateway.py), per access token and per address.
    "gateway": {"client": "1200/min", "ip": "3000/min"},
    # The public open-data API (opendata/api.py), anonymous: per address.
    "opendata": {"client": "600/min", "ip": "120/min"},
}
for _group, _kinds in RATE_LIMITS.items():
    for _kind, _rate in _kinds.items():
        _variable = f"RATE_LIMIT_{_group.upper()}_{_kind.upper()}"
        _kinds[_kind] = env_str(_variable, _rate)
        if not re.fullmatch(r"[1-9][0-9]*/(s|min|h|day)", _kinds[_kind]):
            raise ConfigurationError(_variable, f"expected N/s, N/min, N/h or N/day, got {_kinds[_kind]!r}")
RATE_LIMIT_CACHE_PREFIX = "ratelimit"
# Addresses of the reverse proxies whose X-Forwarded-For is believed (the client is the last
# address they did not add); empty: the client is REMOTE_ADDR.
RATE_LIMIT_TRUSTED_PROXIES = env_list("RATE_LIMIT_TRUSTED_PROXIES", [])

# --- Operations -------------------------------------------------------------------------------

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", logging_setup.LEVELS)
LOG_FORMAT = env_choice("LOG_FORMAT", "json", logging_setup.FORMATS)
LOGGING = {
    **logging_setup.base_config(),
    "handlers": {"console": logging_setup.stream_handler(LOG_FORMAT)},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Without this, DEBUG=1 also prints every django.* line through Django's own plain handler.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": LOG_LEVEL},
        # Sealing runs every 2 seconds: one INFO line per task received, sent and succeeded would bury
        # everything else. Failures and retries are still logged (ERROR/WARNING).
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.beat": {"level": "WARNING"},
    },
}
HEALTHZ_CELERY_TIMEOUT = env_int("HEALTHZ_CELERY_TIMEOUT_MS", 1500, minimum=100) / 1000
# /metrics: with a token, Prometheus sends `Authorization: Bearer <token>`; without, loopback only.
METRICS_TOKEN = env_secret("METRICS_TOKEN") or None  # empty means unset
if METRICS_TOKEN is not None and len(METRICS_TOKEN) < 32:
    raise ConfigurationError("METRICS_TOKEN", "must be at least 32 characters long (openssl rand -hex 32)")

# --- Platform ---------------------------------------------------------------------------------

PLATFORM_NAME = "Maillage"
EMAIL_BACKEND = env_str("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Maillage <ne-pas-repondre@maillage.localhost>")

# Trust layer: people appear in the journal as HMAC pseudonyms (protection/pseudonyms.py, rotation there).
# The civil registry that verifies citizens' pivot identities at sign-in (identity/registry.py);
# empty: no verification (every sign-in is journaled as unchecked).
CIVIL_REGISTRY_URL = env_str("CIVIL_REGISTRY_URL", "")
# Keys signing the ID tokens Maillage issues to service providers (identity/op_keys.py): a JWK set
# file, generated on first use; retired keys stay published OIDC_RETIRED_KEY_DAYS days.
OIDC_SIGNING_KEYS_FILE = env_str("OIDC_SIGNING_KEYS_FILE", str(SECRETS_DIR / "oidc_signing_keys.json"))
OIDC_RETIRED_KEY_DAYS = env_int("OIDC_RETIRED_KEY_DAYS", 7, minimum=1, maximum=365)
# Keys the pivot identity hash (identity/pivot.py): one person, one account, whichever FI they use;
# service providers' pairwise subjects derive from it, so changing it changes every subject.
IDENTITY_HASH_KEY = env_secret("IDENTITY_HASH_KEY", generate_into=SECRETS_DIR, min_length=32)
# "Dites-le-nous une fois": the data scopes a service provider may ask beside identity claims are the
# exchange hub's API scopes (identity/data_scopes.py asks this resolver; identity never imports exchange).
IDENTITY_DATA_SCOPES = "exchange.citizen.data_scopes"
JOURNAL_PSEUDONYM_KEYS = env_keyring("JOURNAL_PSEUDONYM_KEYS", generate_into=SECRETS_DIR, prefix="p")
# Seals of the journal (protection/sealing.py): Ed25519 `id:base64(32-byte seed)` entries, the last one
# signs; `manage.py rotate_journal_key` adds one. Public halves are published at /api/v1/journal/keys.
JOURNAL_SIGNING_KEYS = env_keyring("JOURNAL_SIGNING_KEYS", generate_into=SECRETS_DIR, prefix="j")
JOURNAL_SEAL_BATCH_SIZE = env_int("JOURNAL_SEAL_BATCH_SIZE", 10_000, minimum=1, maximum=1_000_000)
# django_celery_beat's DatabaseScheduler copies these entries into its tables at start-up.
CELERY_BEAT_SCHEDULE = {
    # Every entry is sealed within seconds; `expires` drops ticks a busy worker could not take in time.
    "protection.seal_journal": {
        "task": "protection.tasks.seal_journal_task",
        "schedule": 2.0,
        "options": {"expires": 2.0},
    },
    # The batches sealed since the last successful verification (`manage.py verify_journal` checks all).
    "protection.verify_journal": {
        "task": "protection.tasks.verify_journal_task",
        "schedule": 600.0,
        "options": {"expires": 600.0},
    },
    # Expired OAuth codes and tokens of the OpenID provider, every night (identity/tasks.py).
    "identity.purge_expired_tokens": {
        "task": "identity.tasks.purge_expired_tokens_task",
        "schedule": crontab(hour=3, minute=45),
        "options": {"expires": 3600.0},
    },
    # Batch items whose worker died (expired claims) and stalled batches, handed out again (batches.py).
    "exchange.sweep_batches": {
        "task": "exchange.tasks.batches_sweep_task",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    },
    # Consumers' credentials expiring in 30, 7 or 1 days: their technical contact is told, every morning.
    "exchange.warn_expiring_credentials": {
        "task": "exchange.tasks.warn_expiring_credentials_task",
        "schedule": crontab(hour=7, minute=0),
        "options": {"expires": 3600.0},
    },
    # Legal basis PDFs that no habilitation names (left behind by rolled-back transactions), every night.
    "exchange.sweep_orphan_legal_basis_files": {
        "task": "exchange.tasks.sweep_orphan_legal_basis_files_task",
        "schedule": crontab(hour=4, minute=15),
        "options": {"expires": 3600.0},
    },
    # Journal entries → open-data daily statistics, incrementally (opendata/aggregation.py).
    "opendata.aggregate_journal": {
        "task": "opendata.tasks.aggregate_journal_task",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # Retention: whole sealed batches past their event types' retention, every night.
    "protection.purge_journal": {
        "task": "protection.tasks.purge_journal_task",
        "schedule": crontab(hour=3, minute=30),
        "options": {"expires": 3600.0},
    },
}
# `make bench` only: the bare baseline views of benchmarks/urls.py, served by the same server and middleware
# as the views they are compared with. benchmarks/ is not in the Docker image: never set it in production.
BENCHMARK_VIEWS = env_bool("BENCHMARK_VIEWS", default=False)
if BENCHMARK_VIEWS and not (BASE_DIR / "benchmarks" / "urls.py").is_file():
    raise ConfigurationError(
        "BENCHMARK_VIEWS", "is for `make bench` in a checkout: benchmarks/ is missing here"
    )
# Demo consultations journaled every 10 s from the sandbox data (on under `make run`, never in production).
SANDBOX_ACTIVITY = env_bool("SANDBOX_ACTIVITY", default=False)
if SANDBOX_ACTIVITY:
    CELERY_BEAT_SCHEDULE["sandbox.activity"] = {
        "task": "sandbox.activity",
        "schedule": 10.0,
        "options": {"expires": 10.0},
    }
# Open data (opendata/suppression.py): published counts below this are "secret statistique".
OPENDATA_SUPPRESSION_THRESHOLD = env_int("OPENDATA_SUPPRESSION_THRESHOLD", 11, minimum=2, maximum=1000)
# The publisher named in the open-data catalogue record (opendata/metadata.py).
OPENDATA_PUBLISHER_NAME = env_str("OPENDATA_PUBLISHER_NAME", "Maillage")
# Encrypted columns (protection/crypto.py): the last key encrypts; rotate, then `reencrypt_fields`.
FIELD_ENCRYPTION_KEYS = env_keyring("FIELD_ENCRYPTION_KEYS", generate_into=SECRETS_DIR, prefix="k")

GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # guardian: anonymous users get no object permissions

# OAuth 2.0 (django-oauth-toolkit): the RFC 9700 security BCP behaviours, all on.
# Client secrets of OAuth applications: a fast keyed hash (identity/hashers.py), never a password hash.
CLIENT_SECRET_KEYS = env_keyring("CLIENT_SECRET_KEYS", generate_into=SECRETS_DIR, prefix="c")
# Named so that migrations depending on django-oauth-toolkit's swappable models resolve.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"  # noqa: S105 (a model name)
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"  # noqa: S105
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"  # noqa: S105
OAUTH2_PROVIDER = {
    "CLIENT_SECRET_HASHER": "hmac_sha256",
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    # http redirect URIs only where the platform itself runs over http (development, `make run` on loopback).
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": SECURE_COOKIES,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"] if SECURE_COOKIES else ["http", "https"],
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    # Maillage as the OpenID provider of service providers (identity/op.py), FranceConnect v2 lifetimes.
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": f"{PUBLIC_URL}/api/v2",
    # identity.op.MaillageValidator (service providers), plus consumers' credentials (exchange/oauth.py).
    "OAUTH2_VALIDATOR_CLASS": "exchange.oauth.ExchangeValidator",
    "OAUTH2_SERVER_CLASS": "identity.op.Server",
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 30,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 60,
    "ID_TOKEN_EXPIRE_SECONDS": 60,
    "SCOPES_BACKEND_CLASS": "exchange.oauth.Scopes",
}
