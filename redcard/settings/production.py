"""Production: everything from the environment, HTTPS only, no insecure defaults.

It refuses to start on the embedded default's pieces: without PostgreSQL (``DATABASE_URL``) and Redis
(``REDIS_URL``) it would run on a SQLite file, a per-process cache (throttles and login limits per process)
and inline tasks; each missing piece is named in the error.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import CACHES, CELERY_BROKER_URL, CELERY_RESULT_BACKEND, DATABASES, env, env_bool, env_int

DEBUG = False
LOG_FORMAT = env("LOG_FORMAT", "json")
LOGGING["handlers"]["console"]["formatter"] = "json" if LOG_FORMAT == "json" else "plain"  # type: ignore[index]

if not env("DATABASE_URL"):
    raise ImproperlyConfigured(
        "DATABASE_URL must be set in production (postgres://user:password@host:5432/name); "
        "without it RedCard would run on a SQLite file"
    )
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must name a PostgreSQL database (postgres://...) in production")
if env("DATABASE_REPLICA_URL") and DATABASES.get("replica", {}).get("ENGINE") != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_REPLICA_URL must name a PostgreSQL replica of DATABASE_URL (postgres://...)")
if not env("REDIS_URL"):
    raise ImproperlyConfigured(
        "REDIS_URL must be set in production (redis://host:6379/0); without it the cache, throttles and login "
        "limits would be per process and tasks would run inline in web requests"
    )
if env_bool("CELERY_TASK_ALWAYS_EAGER", False):
    raise ImproperlyConfigured("CELERY_TASK_ALWAYS_EAGER must not be set in production: tasks go to the worker")
CELERY_TASK_ALWAYS_EAGER = False
_redis_places = {"REDIS_URL (cache)": CACHES["default"]["LOCATION"], "CELERY_BROKER_URL": CELERY_BROKER_URL}
if CELERY_RESULT_BACKEND.startswith("redis"):
    _redis_places["CELERY_RESULT_BACKEND"] = CELERY_RESULT_BACKEND
if len(set(_redis_places.values())) != len(_redis_places):
    raise ImproperlyConfigured(
        "the cache, the Celery broker and the task results must use separate Redis databases: "
        + ", ".join(_redis_places)
        + " name the same one"
    )
if not env("MEDIA_S3_BUCKET") and not env_bool("REDCARD_MEDIA_ON_FILESYSTEM", False):
    raise ImproperlyConfigured(
        "MEDIA_S3_BUCKET must be set in production (S3-compatible object storage for uploaded files, with "
        "MEDIA_S3_ENDPOINT_URL and the MEDIA_S3_* keys); a folder on one web node is not shared by the others. "
        "REDCARD_MEDIA_ON_FILESYSTEM=1 keeps them under MEDIA_ROOT (one node, or a volume every node mounts)"
    )
SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY or SECRET_KEY.startswith("dev-only"):
    raise ImproperlyConfigured("SECRET_KEY must be set in production")

REDCARD_CODE_KEY_FILE = None  # never generate a signing key in production
if not env("REDCARD_CODE_KEYS"):
    raise ImproperlyConfigured("REDCARD_CODE_KEYS (member code signing keys) must be set in production")
if not env("REDCARD_DATA_KEYS"):
    raise ImproperlyConfigured("REDCARD_DATA_KEYS (keys that seal secrets at rest) must be set in production")

# Payments: the built-in sandbox gateway gives cards away; it never runs here (members/checks.py too).
# Empty: no payment provider, checkout answers "payments_unavailable".
MEMBERS_PAYMENT_PROVIDER = env("MEMBERS_PAYMENT_PROVIDER")
if MEMBERS_PAYMENT_PROVIDER == "sandbox":
    raise ImproperlyConfigured("MEMBERS_PAYMENT_PROVIDER=sandbox: the sandbox payment gateway never runs in production")
MEMBERS_SANDBOX_ENABLED = False
if MEMBERS_PAYMENT_PROVIDER == "alipay":
    _alipay_missing = [
        name
        for name in ("ALIPAY_APP_ID", "ALIPAY_APP_PRIVATE_KEY_PATH", "ALIPAY_PUBLIC_KEY_PATH", "ALIPAY_SELLER_ID")
        if not env(name)
    ]
    if _alipay_missing:
        raise ImproperlyConfigured(f"MEMBERS_PAYMENT_PROVIDER=alipay needs {', '.join(_alipay_missing)}")
if MEMBERS_PAYMENT_PROVIDER == "wechatpay":
    from members.payments.wechatpay import missing_settings as _wechatpay_missing

    if _wechatpay_missing(env):
        raise ImproperlyConfigured(f"MEMBERS_PAYMENT_PROVIDER=wechatpay needs {', '.join(_wechatpay_missing(env))}")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
LANGUAGE_COOKIE_SECURE = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"
