"""The sandbox gateway (a free "pay" button) never reaches production."""

import json
import os
import subprocess
import sys
from base64 import b64encode
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from core.errors import DomainError
from members.checks import sandbox_not_deployed
from members.services.checkout import checkout_start
from tests.factories import UserFactory
from tests.factories.members import pending_subscription

ROOT = Path(__file__).resolve().parents[2]


def production_check(**env: str) -> subprocess.CompletedProcess:
    keys = json.dumps({"ci": b64encode(os.urandom(32)).decode()})
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MEMBERS_")},
        "DJANGO_SETTINGS_MODULE": "redcard.settings.production",
        "SECRET_KEY": b64encode(os.urandom(48)).decode(),
        "REDCARD_CODE_KEYS": keys,
        "REDCARD_CODE_KEY_ID": "ci",
        "REDCARD_DATA_KEYS": keys,
        "ALLOWED_HOSTS": "redcard.example",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "MEDIA_S3_BUCKET": "redcard-media",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )


def test_production_settings_refuse_to_start_with_the_sandbox():
    refused = production_check(MEMBERS_PAYMENT_PROVIDER="sandbox")
    assert refused.returncode != 0
    assert "sandbox payment gateway never runs in production" in refused.stderr
    allowed = production_check()
    assert allowed.returncode == 0, allowed.stderr  # no provider: it starts and sells nothing


def test_deploy_check_fails_when_the_sandbox_is_selected_or_enabled(settings):
    settings.MEMBERS_PAYMENT_PROVIDER = "sandbox"
    assert [e.id for e in sandbox_not_deployed()] == ["members.E001"]
    settings.MEMBERS_PAYMENT_PROVIDER = ""
    settings.MEMBERS_SANDBOX_ENABLED = True
    assert [e.id for e in sandbox_not_deployed()] == ["members.E001"]
    settings.MEMBERS_SANDBOX_ENABLED = False
    assert sandbox_not_deployed() == []
    settings.MEMBERS_PAYMENT_PROVIDER = "paypal"
    assert [e.id for e in sandbox_not_deployed()] == ["members.E002"]


@pytest.mark.django_db
def test_sandbox_pages_and_notify_endpoint_do_not_exist_when_disabled(plans, client, settings):
    payment = pending_subscription()
    checkout_url = payment.checkout_url
    settings.MEMBERS_PAYMENT_PROVIDER = ""
    settings.MEMBERS_SANDBOX_ENABLED = False
    client.force_login(payment.subscription.user)
    assert client.get(checkout_url).status_code == 404
    assert client.post(checkout_url, {"action": "pay"}).status_code == 404
    notify = APIClient().post("/api/v1/payments/notify/sandbox/", data=b"{}", content_type="application/json")
    assert notify.status_code == 404 and notify.json()["code"] == "provider_unknown"
    with pytest.raises(DomainError) as refusal:
        checkout_start(user=UserFactory(), plan_code="annual")
    assert refusal.value.code == "payments_unavailable"
