"""Settings shared by every environment, read from the environment.

With nothing configured RedCard runs on the embedded default: a SQLite file,
a local-memory cache, Celery tasks run inline and e-mail printed to the
console. Setting ``DATABASE_URL`` and ``REDIS_URL`` moves it onto PostgreSQL,
Redis and a real Celery worker. Every variable is listed in the README.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.utils.translation import gettext_lazy as _

# Each app's periodic jobs (plain dicts: these modules import nothing of Django).
from core.schedule import BEAT as CORE_BEAT
from curation.schedule import BEAT as CURATION_BEAT
from members.schedule import BEAT as MEMBERS_BEAT
from merchants.schedule import BEAT as MERCHANTS_BEAT
from redemptions.schedule import BEAT as REDEMPTIONS_BEAT

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


SECRET_KEY = env("SECRET_KEY", "dev-only-insecure-key-change-me-0123456789abcdefghijklmnop")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # Our apps first so that their templates and translations win.
    "core",
    "members",
    "merchants",
    "redemptions",
    "curation",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "simple_history",
]

MIDDLEWARE = [
    "core.logs.RequestContextMiddleware",
    "core.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "core.middleware.RejectUnstorableInputMiddleware",
    "core.localtime.LocalTimeMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "core.console.ConsoleRequiresMFAMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]
# Console history (core.history): no revert button (a revert would bypass the services' rules).
SIMPLE_HISTORY_REVERT_DISABLED = True

ROOT_URLCONF = "redcard.urls"
WSGI_APPLICATION = "redcard.wsgi.application"

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
                "core.context_processors.site",
            ],
        },
    }
]

# --- Database ----------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    # Connections are kept for DB_CONN_MAX_AGE seconds and checked before a request reuses one, so after a
    # database restart or failover each thread reconnects instead of failing its next request.
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
            conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", True),
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
# A streaming replica of the primary for the dashboards and the operations overview (core.replica): those reads
# go there, every other read and every write to the primary. Without it everything reads the primary.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL")
REDCARD_READ_REPLICA = ""
# The counter's hot statements are prepared on the server once per connection (core.sql.hot_cursor); off behind a
# pooler in transaction mode that cannot keep prepared statements (PgBouncer before 1.21).
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)


def prepared_statements(database: Any) -> Any:
    """``database`` (a PostgreSQL entry of ``DATABASES``) with psycopg's preparation on when
    ``DATABASE_PREPARED_STATEMENTS``: Django turns it off (``prepare_threshold`` None). Django's own cursors bind
    on the client, which never prepares: only ``hot_cursor``'s statements are prepared."""
    if DATABASE_PREPARED_STATEMENTS and "postgresql" in database.get("ENGINE", ""):
        database.setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
    return database


prepared_statements(DATABASES["default"])
if DATABASE_URL and DATABASE_REPLICA_URL:
    _replica = dj_database_url.parse(
        DATABASE_REPLICA_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", True),
    )
    # An unreachable replica is given up quickly: the pages fall back to the primary.
    _replica.setdefault("OPTIONS", {}).setdefault("connect_timeout", env_int("DB_REPLICA_CONNECT_TIMEOUT", 2))
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica
    REDCARD_READ_REPLICA = "replica"
DATABASE_ROUTERS = ["core.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Celery -------------------------------------------------------------
# One Redis server, three databases: the cache on REDIS_URL's database (0 unless the URL names one), the
# Celery broker on the next, task results on the one after (so flushing the cache never drops a queued task).
# CELERY_BROKER_URL / CELERY_RESULT_BACKEND override them.
REDIS_URL = env("REDIS_URL")


def redis_database_url(url: str, offset: int) -> str:
    """``url`` moved ``offset`` databases on: ``redis://h:6379/4`` + 1 -> ``redis://h:6379/5``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) + offset
    return urlunsplit(parts._replace(path=f"/{database}"))


REDIS_TIMEOUTS = {
    "socket_connect_timeout": float(env("REDIS_CONNECT_TIMEOUT", "0.5")),
    "socket_timeout": float(env("REDIS_SOCKET_TIMEOUT", "1")),
}
if REDIS_URL:
    # Fails open (core.cache): with Redis away, reads miss and limits are not enforced, the counter goes on.
    CACHES = {"default": {"BACKEND": "core.cache.FailOpenRedisCache", "LOCATION": REDIS_URL, "OPTIONS": REDIS_TIMEOUTS}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "redcard"}}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", redis_database_url(REDIS_URL, 1) if REDIS_URL else "memory://")
CELERY_RESULT_BACKEND = env(
    "CELERY_RESULT_BACKEND", redis_database_url(REDIS_URL, 2) if REDIS_URL else "cache+memory://"
)
# Nobody waits on a task's return value (tasks record their outcome in the database): no result is stored and
# a publish does not subscribe to the result database. A task that is awaited says ignore_result=False.
CELERY_TASK_IGNORE_RESULT = True
# A task a worker took but never acknowledged (the worker was killed: acks are late) goes back to the queue after
# the visibility timeout; longer than the longest task (the suspension's hour), or a slow task would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3900),
    # How often a worker looks for such tasks (kombu 5.7: every interval x throttle seconds; its defaults, 10 x
    # 10, let a lost task wait up to 100 s past its timeout). One cheap scan every 10 s.
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": 1,
}
# Publishing gives up after about a second when the broker is away (the caller logs and carries on; the
# periodic jobs pick up what was left due) instead of holding a request.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.3, "interval_max": 0.5}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not bool(REDIS_URL or env("CELERY_BROKER_URL")))
CELERY_TASK_EAGER_PROPAGATES = True
# Tasks are idempotent (they settle what is due, guarded by constraints) and are acknowledged after they
# finish, so a worker lost mid-task leaves it to another; a task that must not run twice says acks_late=False
# (e-mail). One task at a time per worker process (no prefetched task waits behind a long one).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Every task has a time limit: soft (the task's SoftTimeLimitExceeded, to stop cleanly) then hard.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
# Exactly one beat: the scheduler sends only while it holds a lock in Redis (core.beat).
CELERY_BEAT_SCHEDULER = "core.beat:LockedScheduler"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Each app lists its periodic jobs in <app>/schedule.py.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    **CORE_BEAT,
    **MEMBERS_BEAT,
    **MERCHANTS_BEAT,
    **REDEMPTIONS_BEAT,
    **CURATION_BEAT,
}

# --- Auth ---------------------------------------------------------------------
AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
# The address is verified with a 6-character code typed on the page that asked for it: the visitor stays in
# the same tab and session (a plan chosen before signing up survives), and no second "confirm" tap is needed.
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[RedCard 小红卡] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SITE_URL.startswith("https") else "http"
# Login attempts are rate limited per IP and per account (allauth, backed by the cache).
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}

# Second factors (allauth.mfa): required for everyone who can reach the console (core.console).
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = "RedCard 小红卡"
MFA_PASSKEY_LOGIN_ENABLED = False
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = False  # WebAuthn needs https (dev allows http://127.0.0.1)

# --- E-mail -------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
if env("EMAIL_URL"):
    # smtp://user:password@host:port ; smtps:// for implicit TLS
    from urllib.parse import unquote, urlparse

    _mail = urlparse(env("EMAIL_URL"))
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _mail.hostname or "localhost"
    EMAIL_PORT = _mail.port or 25
    EMAIL_HOST_USER = unquote(_mail.username or "")
    EMAIL_HOST_PASSWORD = unquote(_mail.password or "")
    EMAIL_USE_SSL = _mail.scheme == "smtps"
    EMAIL_USE_TLS = _mail.scheme == "smtp+tls"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "RedCard 小红卡 <noreply@redcard.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- I18N ---------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"  # storage and the API; pages switch to local time (core.localtime)
# The programme's local timezone: member pages, the console and the overview (a city's zone rules its shops' pages).
REDCARD_DEFAULT_TIMEZONE = env("REDCARD_DEFAULT_TIMEZONE", "Asia/Shanghai")
# 24-hour clock in both languages; ISO dates in English, 2026年12月3日 in Chinese (redcard/formats/).
FORMAT_MODULE_PATH = ["redcard.formats"]

# --- Programme rules that operators tune (each app reads them with these defaults) ----
REDCARD_VOID_WINDOW_SECONDS = env_int("REDCARD_VOID_WINDOW_SECONDS", 3600)
REDCARD_EVENT_NO_SHOW_LIMIT = env_int("REDCARD_EVENT_NO_SHOW_LIMIT", 2)
REDCARD_EVENT_NO_SHOW_DAYS = env_int("REDCARD_EVENT_NO_SHOW_DAYS", 180)
REDCARD_CLAIM_SECONDS = env_int("REDCARD_CLAIM_SECONDS", 180)
# The scanner's claim feed (redemptions.counter.feed): "nothing new" answered from Redis for at most this long
# after a database read, through a signed URL valid this many hours.
REDCARD_CLAIM_FEED_MAX_AGE = env_int("REDCARD_CLAIM_FEED_MAX_AGE", 30)
REDCARD_CLAIM_FEED_TOKEN_HOURS = env_int("REDCARD_CLAIM_FEED_TOKEN_HOURS", 24)
# Offline at the counter: records a scanner keeps, how late the server still accepts one, the clock skew allowed.
REDCARD_OFFLINE_QUEUE_MAX = env_int("REDCARD_OFFLINE_QUEUE_MAX", 50)
REDCARD_OFFLINE_MAX_AGE_SECONDS = env_int("REDCARD_OFFLINE_MAX_AGE_SECONDS", 24 * 3600)
REDCARD_OFFLINE_CLOCK_SKEW_SECONDS = env_int("REDCARD_OFFLINE_CLOCK_SKEW_SECONDS", 300)
REDCARD_ATTRIBUTION_WINDOW_DAYS = env_int("REDCARD_ATTRIBUTION_WINDOW_DAYS", 7)
REDCARD_TOUCH_RETENTION_DAYS = env_int("REDCARD_TOUCH_RETENTION_DAYS", 180)
COMPLAINT_FIRST_RESPONSE_HOURS = env_int("COMPLAINT_FIRST_RESPONSE_HOURS", 24)
COMPLAINT_RESOLUTION_HOURS = env_int("COMPLAINT_RESOLUTION_HOURS", 72)

# --- Payment gateways (keys are files outside the repository; README lists every setting) ---------
# Alipay (members/payments/alipay.py): with MEMBERS_PAYMENT_PROVIDER=alipay the first four are required.
ALIPAY_APP_ID = env("ALIPAY_APP_ID")
ALIPAY_APP_PRIVATE_KEY_PATH = env("ALIPAY_APP_PRIVATE_KEY_PATH")  # our application's RSA2 private key (PEM)
ALIPAY_PUBLIC_KEY_PATH = env("ALIPAY_PUBLIC_KEY_PATH")  # Alipay's public key for this application (PEM)
ALIPAY_SELLER_ID = env("ALIPAY_SELLER_ID")  # the merchant's 2088... partner id; notifications must name it
ALIPAY_NOTIFY_URL = env("ALIPAY_NOTIFY_URL")  # default: SITE_URL + /api/v1/payments/notify/alipay/
# where Alipay posts agreement (周期扣款) notices; default: SITE_URL + /api/v1/payments/agreements/notify/alipay/
ALIPAY_AGREEMENT_NOTIFY_URL = env("ALIPAY_AGREEMENT_NOTIFY_URL")
ALIPAY_GATEWAY = env("ALIPAY_GATEWAY", "https://openapi.alipay.com/gateway.do")
ALIPAY_TIMEOUT = float(env("ALIPAY_TIMEOUT", "15"))

# --- Static files -------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT: Path | None = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES: dict[str, dict] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_MIMETYPES = {".wasm": "application/wasm", ".webmanifest": "application/manifest+json"}

# --- Uploaded files (complaint photos) --------------------------------------------------------------------
# Private: no URL serves them directly; a view checks who asks (core.files). The embedded default keeps them on
# the file system under MEDIA_ROOT. With MEDIA_S3_BUCKET set they go to S3-compatible object storage
# (django-storages), shared by every web node, and the view answers with a signed URL that lives
# REDCARD_PRIVATE_FILE_URL_SECONDS. Production refuses the file system unless REDCARD_MEDIA_ON_FILESYSTEM=1.
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_S3_BUCKET = env("MEDIA_S3_BUCKET")
REDCARD_PRIVATE_FILE_URL_SECONDS = env_int("REDCARD_PRIVATE_FILE_URL_SECONDS", 60)
if MEDIA_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": MEDIA_S3_BUCKET,
            "endpoint_url": env("MEDIA_S3_ENDPOINT_URL") or None,
            "region_name": env("MEDIA_S3_REGION") or None,
            "access_key": env("MEDIA_S3_ACCESS_KEY_ID") or None,
            "secret_key": env("MEDIA_S3_SECRET_ACCESS_KEY") or None,
            "location": env("MEDIA_S3_PREFIX"),
            "addressing_style": env("MEDIA_S3_ADDRESSING_STYLE") or None,  # "path" for MinIO and most others
            "signature_version": "s3v4",
            "default_acl": None,  # the bucket's own policy: keep it private
            "querystring_auth": True,
            "querystring_expire": REDCARD_PRIVATE_FILE_URL_SECONDS,
            "file_overwrite": False,
        },
    }
# --- Webhooks to partners (core.webhooks) ------------------------------------------
# Networks a webhook endpoint may resolve to besides public addresses (CIDRs, comma-separated): loopback,
# private and link-local destinations are refused otherwise.
REDCARD_WEBHOOK_ALLOWED_NETWORKS = env_list("REDCARD_WEBHOOK_ALLOWED_NETWORKS")
REDCARD_WEBHOOK_CONCURRENCY = env_int("REDCARD_WEBHOOK_CONCURRENCY", 8)
REDCARD_WEBHOOK_SECRET_OVERLAP_HOURS = env_int("REDCARD_WEBHOOK_SECRET_OVERLAP_HOURS", 24)

# --- Proxies ------------------------------------------------------------------
# How many reverse proxies of ours stand in front of the web nodes (0: clients connect directly). The client's
# address is then the entry that many places from the end of X-Forwarded-For, for the API throttle (DRF's
# NUM_PROXIES), allauth's login limits (ALLAUTH_TRUSTED_PROXY_COUNT) and the logs (core.logs); anything a
# client put in front of it is ignored. gunicorn's forwarded_allow_ips names the proxies' addresses.
REDCARD_TRUSTED_PROXIES = env_int("REDCARD_TRUSTED_PROXIES", 0)
ALLAUTH_TRUSTED_PROXY_COUNT = REDCARD_TRUSTED_PROXIES

# --- Metrics (core.metrics) -----------------------------------------------------
# /metrics answers a request with "Authorization: Bearer <REDCARD_METRICS_TOKEN>" or from an address in
# REDCARD_METRICS_NETWORKS (CIDRs; the client address as the proxies setting reads it); 404 to anyone else,
# and to everyone while neither is set. REDCARD_METRICS_QUEUES: the Celery queues whose length is reported.
REDCARD_METRICS_TOKEN = env("REDCARD_METRICS_TOKEN")
REDCARD_METRICS_NETWORKS = env_list("REDCARD_METRICS_NETWORKS")
REDCARD_METRICS_QUEUES = env_list("REDCARD_METRICS_QUEUES", "celery")

# --- Security headers that hold everywhere --------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# --- REST API -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api.auth.PartnerOAuth2Authentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.CursorPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "core.api.errors.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["core.api.throttling.ClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "client": env("API_THROTTLE_RATE", "1200/min"),
        "anon": env("API_ANON_THROTTLE_RATE", "120/min"),
    },
    "DEFAULT_VERSIONING_CLASS": None,
    "NUM_PROXIES": REDCARD_TRUSTED_PROXIES,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "RedCard 小红卡 API",
    "DESCRIPTION": (
        "Partner and member API of RedCard. Errors are application/problem+json with a stable `code`. "
        "Every POST/PUT/PATCH/DELETE accepts an `Idempotency-Key` header. Partner apps authenticate "
        "with OAuth 2 client credentials at `/o/token/`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums"],
    # Choice sets that share a field name across apps get their own enum names (no W001 collisions).
    "ENUM_NAME_OVERRIDES": {
        "RedemptionStatusEnum": "redemptions.models.Redemption.Status",
        "RedemptionChannelEnum": "redemptions.models.Channel",
        "ClaimStatusEnum": "redemptions.models.Claim.Status",
        "NfcTagKindEnum": "redemptions.models.NfcTag.Kind",
        "RefundKindEnum": "members.models.Refund.Kind",
        "EventStateEnum": "members.models.Event.State",
        "EventRegistrationStateEnum": "members.models.RegistrationState",
    },
}

# --- OAuth 2 for partner apps ---------------------------------------------------
OAUTH2_PROVIDER_APPLICATION_MODEL = "core.PartnerApplication"
OAUTH2_PROVIDER = {
    # Every scope a partner app can be granted; each application is limited to
    # the scopes listed on it in admin (core.oauth.PartnerScopes).
    "SCOPES": {
        "members:read": "Look up a member's entitlement",
        "members:refund": "Refund subscriptions (operators)",
        "merchants:read": "Read the merchant catalogue",
        "merchants:write": "Submit merchant applications",
        "redemptions:write": "Prepare, confirm and void redemptions at granted merchants",
        "consumption:write": "Report and refund members' orders paid through the partner at granted merchants",
        "notes:write": "Publish notes from the content app",
        "touches:write": "Report note views, clicks and saves",
        "insights:read": "Read dashboards of granted merchants",
        "complaints:write": "File complaints on a member's behalf",
        "ops:read": "Read operations figures",
        "events:write": "Organisers' tools: attendance, waitlist and check-in of events at granted merchants",
    },
    "SCOPES_BACKEND_CLASS": "core.oauth.PartnerScopes",
    "OAUTH2_VALIDATOR_CLASS": "core.oauth.PartnerValidator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("OAUTH_TOKEN_SECONDS", 3600),
    "APPLICATION_ADMIN_CLASS": "core.oauth_admin.PartnerApplicationAdmin",
    # RFC 9700 (OAuth 2.0 Security BCP): tokens hashed at rest, no implicit or password grants, no tokens in
    # query strings, https redirect URIs only (partners use client credentials anyway).
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}

# --- Content-Security-Policy (no inline scripts, nothing from other hosts) ------
CSP_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'", "'wasm-unsafe-eval'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:", "blob:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "media-src": ["'self'", "blob:"],
    "worker-src": ["'self'", "blob:"],
    "manifest-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
if MEDIA_S3_BUCKET:
    # Photos are answered with a redirect to a signed URL of the object store: images may come from there.
    from urllib.parse import urlsplit as _urlsplit

    _media_origin = env("MEDIA_S3_PUBLIC_ORIGIN") or env("MEDIA_S3_ENDPOINT_URL") or "https://*.amazonaws.com"
    _parts = _urlsplit(_media_origin)
    CSP_POLICY["img-src"].append(f"{_parts.scheme}://{_parts.netloc}" if _parts.netloc else _media_origin)
# Swagger UI and Django admin set style attributes at run time.
CSP_STYLE_ATTRIBUTE_PATHS = ["/api/v1/docs/", "/admin/"]

# --- Member codes (redemptions.counter.codes): Ed25519 signing keys ---------------------
# REDCARD_CODE_KEYS is JSON {"<key id>": "<base64 32-byte Ed25519 seed>", ...}; every key listed
# verifies, REDCARD_CODE_KEY_ID names the one that signs. Keep retired keys listed for a few minutes
# after a rotation so codes already on screen keep working. Without keys the embedded default
# generates one into REDCARD_CODE_KEY_FILE (under var/, never committed); production refuses to start.
REDCARD_CODE_KEYS = env("REDCARD_CODE_KEYS")
REDCARD_CODE_KEY_ID = env("REDCARD_CODE_KEY_ID")
REDCARD_CODE_KEY_FILE: Path | None = BASE_DIR / "var" / "keys" / "member-codes.json"

# --- Secrets at rest (core.sealing): AES-256-GCM keys -----------------------------
# REDCARD_DATA_KEYS is JSON {"<key id>": "<base64 32-byte key>", ...}; REDCARD_DATA_KEY_ID names the one
# that seals, every key listed opens. Without keys the embedded default derives one from SECRET_KEY;
# production refuses to start.
REDCARD_DATA_KEYS = env("REDCARD_DATA_KEYS")
REDCARD_DATA_KEY_ID = env("REDCARD_DATA_KEY_ID")

# --- Idempotency --------------------------------------------------------------
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)

# Plain lines on a laptop, one JSON object a line in production (LOG_FORMAT=json); both carry the request id
# and the client's address (core.logs).
LOG_FORMAT = env("LOG_FORMAT", "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": "core.logs.RequestContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(client_ip)s] %(message)s"},
        "json": {"()": "core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery.app.trace": {"level": env("CELERY_TRACE_LOG_LEVEL", "WARNING")},
        "kombu.connection": {"level": "ERROR"},
    },
}

CSRF_FAILURE_VIEW = "core.views.csrf_failure"

# --- Error reporting --------------------------------------------------------------
# With SENTRY_DSN set, unhandled errors of web requests and tasks go to Sentry (or a compatible service) with
# the request id as a tag; no personal data is sent (send_default_pii off).
SENTRY_DSN = env("SENTRY_DSN")
if SENTRY_DSN:
    from core.errors_reporting import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", "production"),
        release=env("SENTRY_RELEASE"),
        traces_sample_rate=float(env("SENTRY_TRACES_SAMPLE_RATE", "0")),
    )
