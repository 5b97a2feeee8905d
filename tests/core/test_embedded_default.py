"""The quick start: a fresh SQLite database migrates, seeds twice without changes and serves the key pages."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = r"""
import json, django
django.setup()
from django.apps import apps
from django.core.management import call_command
from django.test import Client

def counts():
    return {m._meta.label: m.objects.count() for m in apps.get_models()}

call_command("migrate", verbosity=0, interactive=False)
call_command("seed_demo", quiet=True)
first = counts()
call_command("seed_demo", quiet=True)
second = counts()
client = Client()
statuses = {url: client.get(url).status_code for url in ["/", "/healthz", "/api/v1/schema/", "/api/v1/docs/"]}
health = client.get("/healthz").json()
# The counter on SQLite (its writes run one by one there): a new member with a trial, scanned at a demo shop
# whose staff signs in, confirmed by code through the API.
from core.models import User
from members.services import trial_start
from merchants.models import Merchant, MerchantStaff
from redemptions.counter.services import member_code
member = User.objects.create_user(email="smoke-member@example.com")
trial_start(user=member)
shop = MerchantStaff.objects.filter(merchant__state__in=Merchant.VISIBLE_STATES, merchant__paused_on=None).first()
staff_client = Client()
staff_client.force_login(shop.user)
body = {"merchant": str(shop.merchant.public_id), "code": member_code(member=member).qr, "bill_fen": 10000}
confirmed = staff_client.post("/api/v1/redemptions/confirm/", body, content_type="application/json")
again = staff_client.post("/api/v1/redemptions/confirm/", body, content_type="application/json")
saved = member.subscriptions.get().savings_fen
counter = {"status": confirmed.status_code, "again": again.json().get("code"), "saved": saved}
# The counter's hand-built reads (core.sql.instance) give what the ORM gives, types included, on SQLite too.
from core.oauth import PartnerValidator
from merchants.selectors import merchant_with_access
from oauth2_provider.models import AccessToken
from tests.factories import PartnerApplicationFactory, access_token_for

def differences(built, orm):
    return [f.attname for f in type(orm)._meta.concrete_fields
            if (getattr(built, f.attname), type(getattr(built, f.attname)))
            != (getattr(orm, f.attname), type(getattr(orm, f.attname)))]

built = merchant_with_access(public_id=shop.merchant.public_id, staff=shop.user)
orm = Merchant.objects.select_related("city", "offer").get(pk=shop.merchant.pk)
raw = access_token_for(PartnerApplicationFactory(), "redemptions:write").token
token = PartnerValidator()._load_access_token(raw)
mismatches = {"merchant": differences(built, orm), "city": differences(built.city, orm.city),
              "offer": differences(built.offer, orm.offer),
              "token": differences(token, AccessToken.objects.get(pk=token.pk)), "valid": token.is_valid()}
from django.db import connection
print(json.dumps({"first": first, "second": second, "statuses": statuses, "health": health,
                  "vendor": connection.vendor, "counter": counter, "mismatches": mismatches}))
"""


@pytest.mark.slow
def test_fresh_sqlite_migrates_seeds_twice_and_serves(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="redcard.settings.dev",
        SQLITE_PATH=str(tmp_path / "quickstart.sqlite3"),
        MEDIA_ROOT=str(tmp_path / "media"),
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning:django", "-c", PROGRAM],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["vendor"] == "sqlite"
    assert report["first"] == report["second"], "seed_demo is not idempotent"
    assert report["first"]["merchants.City"] == 3
    assert report["first"]["core.User"] >= 3
    assert report["first"]["members.Event"] == 3  # member events at a demo shop and of the programme
    assert report["first"]["members.EventRegistration"] >= 8  # tonight's event is full, with a waitlist
    assert report["statuses"] == {"/": 200, "/healthz": 200, "/api/v1/schema/": 200, "/api/v1/docs/": 200}
    assert report["health"] == {"status": "ok", "database": "ok", "cache": "ok", "broker": "inline"}
    assert report["counter"]["status"] == 201 and report["counter"]["again"] == "code_already_used"
    assert report["counter"]["saved"] > 0
    assert report["mismatches"] == {"merchant": [], "city": [], "offer": [], "token": [], "valid": True}
