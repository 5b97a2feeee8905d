"""Issue 18, part 1: trusted proxies, Redis away (fail open), liveness/readiness/health, and production
settings that refuse to start on the embedded default's pieces."""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.core.cache import caches
from django.urls import reverse

from core.api import throttling
from core.models import WebhookDelivery, WebhookEndpoint
from merchants.models import PartnerGrant
from redemptions.counter.outbox import outbox_catch_up
from redemptions.models import Redemption, RedemptionOutbox
from tests.factories import PartnerApplicationFactory
from tests.factories.redemptions import code_of, member_with_card, shop, staff_of

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused at once


def away_from_a_window_boundary() -> None:
    if time.time() % 60 > 57:
        time.sleep(60 - time.time() % 60 + 0.1)


def anon_rate(settings, rate: str) -> None:
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": rate}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def anonymous_call(client, forwarded: str | None = None, remote: str = "198.51.100.7"):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.get(f"/api/v1/merchants/{uuid.uuid4()}/notes/", **extra)


# --- One trusted-proxy setting -----------------------------------------------------------------------------


def test_one_setting_feeds_drf_allauth_and_logs(settings):
    assert settings.REDCARD_TRUSTED_PROXIES == 0
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
    assert settings.ALLAUTH_TRUSTED_PROXY_COUNT == 0
    env = {**os.environ, "REDCARD_TRUSTED_PROXIES": "2", "DJANGO_SETTINGS_MODULE": "redcard.settings.test"}
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.REDCARD_TRUSTED_PROXIES, s.REST_FRAMEWORK['NUM_PROXIES'], s.ALLAUTH_TRUSTED_PROXY_COUNT)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "2", "2"]


def test_a_spoofed_forwarded_for_gets_no_fresh_anonymous_budget(client, settings):
    away_from_a_window_boundary()
    anon_rate(settings, "2/min")
    assert anonymous_call(client, "203.0.113.1").status_code == 404
    assert anonymous_call(client, "203.0.113.2").status_code == 404
    refused = anonymous_call(client, "203.0.113.3")
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"


def test_behind_one_trusted_proxy_the_client_is_the_proxys_last_entry(client, settings):
    """The proxy appends the address it saw; whatever the client wrote before it is ignored."""
    away_from_a_window_boundary()
    anon_rate(settings, "2/min")
    settings.REDCARD_TRUSTED_PROXIES = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.2"
    assert anonymous_call(client, "1.1.1.1, 203.0.113.9", remote=proxy).status_code == 404
    assert anonymous_call(client, "2.2.2.2, 203.0.113.9", remote=proxy).status_code == 404
    assert anonymous_call(client, "3.3.3.3, 203.0.113.9", remote=proxy).status_code == 429
    # Another real client behind the same proxy has its own budget.
    assert anonymous_call(client, "203.0.113.10", remote=proxy).status_code == 404


def test_logs_carry_the_request_id_and_the_client_address(client, settings, caplog):
    from core.logs import JsonFormatter

    settings.REDCARD_TRUSTED_PROXIES = 1
    logger = logging.getLogger("core.middleware")
    with caplog.at_level(logging.INFO, logger="core.middleware"):
        response = client.get(
            "/api/v1/me/?x=a%00b", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5", HTTP_X_REQUEST_ID="edge-42"
        )
    assert response.status_code == 400
    assert response["X-Request-ID"] == "edge-42"
    record = next(r for r in caplog.records if r.name == logger.name)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "edge-42" and line["client_ip"] == "203.0.113.5"
    settings.REDCARD_TRUSTED_PROXIES = 0  # no proxy of ours: a client's request id is not taken
    assert client.get("/livez", HTTP_X_REQUEST_ID="edge-43")["X-Request-ID"] != "edge-43"


# --- Redis away ----------------------------------------------------------------------------------------------


@pytest.fixture
def redis_down(settings):
    """The cache (and the throttle's client) on a Redis that refuses connections, the broker too."""
    from redcard.celery import app

    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "core.cache.FailOpenRedisCache", "LOCATION": DEAD_REDIS, "OPTIONS": {}},
    }
    caches["default"] = caches.create_connection("default")  # type: ignore[attr-defined]
    throttling._redis_client.cache_clear()

    def fresh_pools():  # the app caches its broker connections: drop them when the broker URL changes
        app._pool = None
        app.amqp._producer_pool = None

    saved = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = DEAD_REDIS
    fresh_pools()
    yield
    app.conf.task_always_eager, app.conf.broker_url = saved
    fresh_pools()
    throttling._redis_client.cache_clear()


def test_with_redis_down_the_counter_keeps_confirming(redis_down, caplog, django_capture_on_commit_callbacks):
    """Throttle and cache fail open (logged); the redemption's outbox row (webhook, credit, notice) stays due
    for the catch-up job, and the webhook it then records stays due for the retry job: 201, nothing lost."""
    from rest_framework.test import APIClient

    merchant, member = shop(), member_with_card()
    staff = staff_of(merchant)
    listener = PartnerApplicationFactory()
    PartnerGrant.objects.create(merchant=merchant, application=listener, scopes="redemptions:write")
    WebhookEndpoint.objects.create(application=listener, url="https://partner.example/hooks")
    client = APIClient()
    client.force_login(staff)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("api-redemption-confirm"),
            {"merchant": str(merchant.public_id), "code": code_of(member).qr, "bill_fen": 5000},
        )
    assert response.status_code == 201, response.content
    assert Redemption.objects.filter(member=member).count() == 1
    assert RedemptionOutbox.objects.get(redemption__member=member).done_at is None
    assert not WebhookDelivery.objects.exists()
    assert outbox_catch_up() == 1  # the periodic catch-up (Redis still away)
    delivery = WebhookDelivery.objects.get(event__type="redemption.confirmed")
    assert delivery.state == WebhookDelivery.State.PENDING and delivery.next_attempt_at is not None
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "API throttle fails open" in messages


def test_with_redis_down_health_is_degraded_and_the_node_stays_ready(redis_down, client):
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded" and body["database"] == "ok"
    assert body["cache"].startswith("error") and body["broker"].startswith("error")
    assert client.get("/readyz").status_code == 200
    assert client.get("/livez").json() == {"status": "ok"}


def test_with_the_database_down_readiness_fails_and_liveness_holds(client, monkeypatch):
    from core import views

    def refused():
        raise ConnectionRefusedError("database away")

    monkeypatch.setattr(views, "_database", refused)
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").json()["status"] == "down"
    assert client.get("/healthz").status_code == 503
    assert client.get("/livez").status_code == 200


@pytest.mark.redis
def test_the_fail_open_cache_works_normally_when_redis_is_up(settings):
    url = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15")
    from core.cache import FailOpenRedisCache

    backend = FailOpenRedisCache(url, {"KEY_PREFIX": f"t{uuid.uuid4().hex}"})
    assert backend.add("k", 1, 5) is True and backend.add("k", 2, 5) is False
    assert backend.incr("k") == 2 and backend.get("k") == 2
    backend.delete("k")
    assert backend.get("k", "gone") == "gone"


# --- Production refuses the embedded default's pieces ---------------------------------------------------------


def production_env(**overrides: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="redcard.settings.production",
        SECRET_KEY="t-" + secrets.token_urlsafe(40),
        REDCARD_CODE_KEYS=json.dumps({"k": base64.b64encode(secrets.token_bytes(32)).decode()}),
        REDCARD_CODE_KEY_ID="k",
        REDCARD_DATA_KEYS=json.dumps({"k": base64.b64encode(secrets.token_bytes(32)).decode()}),
        ALLOWED_HOSTS="redcard.example",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        REDIS_URL="redis://127.0.0.1:6379/0",
        MEDIA_S3_BUCKET="redcard-media",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def manage_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"DATABASE_URL": None}, "DATABASE_URL must be set"),
        ({"DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, "PostgreSQL"),
        ({"REDIS_URL": None}, "REDIS_URL must be set"),
        ({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}, "separate Redis databases"),
        ({"CELERY_TASK_ALWAYS_EAGER": "1"}, "CELERY_TASK_ALWAYS_EAGER"),
        ({"MEDIA_S3_BUCKET": None}, "MEDIA_S3_BUCKET must be set"),
        ({"DATABASE_REPLICA_URL": "sqlite:////tmp/replica.sqlite3"}, "DATABASE_REPLICA_URL must name a PostgreSQL"),
    ],
)
def test_production_refuses_to_start_naming_the_missing_piece(overrides, named):
    result = manage_check(production_env(**overrides))
    assert result.returncode != 0
    assert named in result.stderr, result.stderr[-2000:]


def test_production_starts_with_postgresql_and_redis_on_separate_databases():
    env = production_env()
    result = manage_check(env)
    assert result.returncode == 0, result.stderr[-2000:]
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.CACHES['default']['LOCATION'], s.CELERY_BROKER_URL, s.CELERY_RESULT_BACKEND, "
        "s.CACHES['default']['BACKEND'], s.CELERY_TASK_ALWAYS_EAGER)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [
        "redis://127.0.0.1:6379/0",
        "redis://127.0.0.1:6379/1",
        "redis://127.0.0.1:6379/2",
        "core.cache.FailOpenRedisCache",
        "False",
    ]


def test_a_replica_url_adds_the_replica_alias_for_the_dashboards():
    code = (
        "import django; django.setup(); from django.conf import settings as s; r = s.DATABASES.get('replica'); "
        "print(s.REDCARD_READ_REPLICA or '-', r and r['PORT'], r and r['OPTIONS']['connect_timeout'], "
        "s.DATABASE_ROUTERS[0])"
    )
    env = production_env(DATABASE_REPLICA_URL="postgres://reader@127.0.0.1:5433/postgres")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["replica", "5433", "2", "core.replica.ReplicaRouter"]
    alone = production_env(DATABASE_REPLICA_URL=None)
    out = subprocess.run([sys.executable, "-c", code], env=alone, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["-", "None", "None", "core.replica.ReplicaRouter"]


def test_production_keeps_uploads_in_object_storage_or_on_the_file_system_only_when_told():
    code = (
        "import django; django.setup(); from django.core.files.storage import storages; d = storages['default']; "
        "print(type(d).__module__ + '.' + type(d).__name__, getattr(d, 'querystring_expire', '-'))"
    )
    s3 = production_env(MEDIA_S3_ENDPOINT_URL="https://s3.example", REDCARD_PRIVATE_FILE_URL_SECONDS="45")
    out = subprocess.run([sys.executable, "-c", code], env=s3, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["storages.backends.s3.S3Storage", "45"]
    local = production_env(MEDIA_S3_BUCKET=None, REDCARD_MEDIA_ON_FILESYSTEM="1")
    out = subprocess.run([sys.executable, "-c", code], env=local, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["django.core.files.storage.filesystem.FileSystemStorage", "-"]
