"""The test suite: PostgreSQL (the database of record), tasks inline, fast hashing."""

import dj_database_url

from .base import *  # noqa: F403
from .base import env, prepared_statements

DATABASES = {
    "default": dj_database_url.parse(env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"), conn_max_age=0)
}
prepared_statements(DATABASES["default"])  # as in production (core.sql.hot_cursor)
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", "test_redcard")}  # one per parallel worker tree
# The replica alias as a test mirror of the test database (a second connection to it); reads stay on the primary
# unless a test turns REDCARD_READ_REPLICA on (tests/core/test_replica.py).
DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
REDCARD_READ_REPLICA = ""
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "redcard-test"}}
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}

# Static files are served from the app folders (no collectstatic needed).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
