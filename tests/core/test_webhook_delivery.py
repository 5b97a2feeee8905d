"""Issue 18, part 3: webhooks a partner can trust. Delivery holds no transaction or row lock while the partner
answers, runs a bounded number at a time, follows no redirect, refuses our own networks unless an operator
allows them, and signs with every live secret during a rotation."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connections
from django.utils import timezone
from standardwebhooks import Webhook

from core import webhooks
from core.models import AuditEntry, WebhookDelivery, WebhookEndpoint
from tests.factories import PartnerApplicationFactory, UserFactory

pytestmark = pytest.mark.django_db


class Partner:
    """A partner's endpoint on loopback (threaded), answering ``status`` after ``delay`` seconds, running
    ``during`` inside each request, and counting how many requests it had at once."""

    def __init__(self, status=200, delay=0.0, headers=None, during=None):
        self.requests, self.errors = [], []
        self.active = self.max_active = 0
        lock = threading.Lock()
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    partner.active += 1
                    partner.max_active = max(partner.max_active, partner.active)
                try:
                    if during is not None:
                        during(json.loads(body))
                except Exception as exc:  # reported to the test, not swallowed
                    partner.errors.append(exc)
                time.sleep(delay)
                partner.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                with lock:
                    partner.active -= 1
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def partner():
    made = []

    def make(**kwargs):
        made.append(Partner(**kwargs))
        return made[-1]

    yield make
    for p in made:
        p.close()


@pytest.fixture
def loopback_allowed(settings):
    settings.REDCARD_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


def endpoint_for(url, **fields):
    return WebhookEndpoint.objects.create(application=PartnerApplicationFactory(), url=url, **fields)


def emit_now(django_capture_on_commit_callbacks, payload=None):
    with django_capture_on_commit_callbacks(execute=True):
        return webhooks.emit("redemption.confirmed", payload or {"n": 1})


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_our_own_networks_are_refused_destinations(address):
    assert webhooks.destination_allowed(address) is False


def test_public_addresses_are_allowed_and_operators_may_allow_a_network(settings):
    assert webhooks.destination_allowed("8.8.8.8") and webhooks.destination_allowed("2001:4860:4860::8888")
    settings.REDCARD_WEBHOOK_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    assert webhooks.destination_allowed("10.20.3.4") and not webhooks.destination_allowed("10.21.0.1")


def test_a_loopback_endpoint_gets_nothing_unless_allowed(partner, django_capture_on_commit_callbacks):
    p = partner()
    endpoint_for(p.url)
    event = emit_now(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.state == "failed" and "refused destination" in delivery.last_error
    assert p.requests == []


def test_a_redirect_is_not_followed(partner, loopback_allowed, django_capture_on_commit_callbacks):
    elsewhere = partner()
    p = partner(status=307, headers={"Location": elsewhere.url})
    endpoint_for(p.url)
    event = emit_now(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.state == "failed" and delivery.last_status_code == 307
    assert len(p.requests) == 1 and elsewhere.requests == []


@pytest.mark.django_db(transaction=True)
def test_no_transaction_or_row_lock_is_held_while_the_partner_answers(partner, loopback_allowed):
    """Inside the partner's handler another connection locks the delivery row with NOWAIT: it would fail
    if the sender held the row (the old code kept SELECT ... FOR UPDATE across the HTTP call)."""
    from django.db import connection

    def try_lock(body):
        try:
            with connection.cursor() as cursor:  # the server thread's own connection
                cursor.execute("BEGIN")
                cursor.execute("SELECT id FROM core_webhookdelivery FOR UPDATE NOWAIT")
                cursor.execute("ROLLBACK")
        finally:
            connection.close()

    p = partner(during=try_lock)
    endpoint_for(p.url)
    event = webhooks.emit("redemption.confirmed", {"n": 1})  # autocommit: sent on commit at once
    assert p.errors == [], p.errors
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.state == "succeeded" and delivery.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_due_deliveries_go_out_a_bounded_number_at_a_time(partner, loopback_allowed, settings):
    settings.REDCARD_WEBHOOK_CONCURRENCY = 3
    p = partner(delay=0.4)
    endpoint = endpoint_for(p.url)
    for n in range(7):
        event = webhooks.WebhookEvent.objects.create(msg_id=f"msg_{n}", type="t", payload={"n": n})
        WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now())
    started = time.monotonic()
    assert webhooks.deliver_due() == 7
    elapsed = time.monotonic() - started
    assert p.max_active == 3  # parallel, and never more than the pool
    assert WebhookDelivery.objects.filter(state="succeeded").count() == 7
    assert elapsed < 7 * 0.4  # not one after another
    connections.close_all()


def test_a_delivery_being_sent_is_not_taken_twice(partner, loopback_allowed, django_capture_on_commit_callbacks):
    p = partner()
    endpoint = endpoint_for(p.url)
    event = webhooks.WebhookEvent.objects.create(msg_id="msg_once", type="t", payload={})
    delivery = WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=timezone.now())
    assert webhooks._claim(delivery.pk) is not None
    assert webhooks.deliver(delivery.pk) is None  # leased to the first sender
    assert p.requests == []
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())  # the lease ran out
    assert webhooks.deliver(delivery.pk) == "succeeded"


def test_a_rotated_secret_signs_beside_the_new_one_until_the_overlap_ends(
    partner, loopback_allowed, django_capture_on_commit_callbacks
):
    p = partner()
    endpoint = endpoint_for(p.url)
    old = endpoint.secret
    operator = UserFactory(is_staff=True)
    new = webhooks.endpoint_rotate_secret(endpoint=endpoint, actor=operator)
    assert new != old and endpoint.previous_secret == old
    assert AuditEntry.objects.filter(action="webhook.secret_rotate", actor=operator).exists()
    emit_now(django_capture_on_commit_callbacks)
    headers, body = p.requests[-1]
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # a partner on either secret verifies
        assert Webhook(secret).verify(body, headers) is not None
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_until=timezone.now() - timedelta(seconds=1))
    emit_now(django_capture_on_commit_callbacks)
    headers, body = p.requests[-1]
    assert len(headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(body, headers)
    with pytest.raises(Exception):
        Webhook(old).verify(body, headers)


def test_operators_rotate_from_the_console(admin_client):
    endpoint = endpoint_for("https://partner.example/hooks")
    old = endpoint.secret
    response = admin_client.post(
        "/admin/core/webhookendpoint/", {"action": "rotate_secrets", "_selected_action": [endpoint.pk]}
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    assert endpoint.previous_secret_until > timezone.now() + timedelta(hours=23)


# --- The events that were missing ----------------------------------------------------------------------------


def test_a_merchant_listing_change_is_an_event(django_capture_on_commit_callbacks):
    from merchants import services as merchant_services
    from tests.factories import MerchantFactory

    endpoint = endpoint_for("https://partner.example/hooks", event_types=["merchant.listing_changed"])
    merchant = MerchantFactory()
    before = merchant.state
    with django_capture_on_commit_callbacks(execute=False):
        merchant_services.merchant_transition(merchant=merchant, target="suspended", actor="system:t", reason="x")
    delivery = WebhookDelivery.objects.select_related("event").get(endpoint=endpoint)
    data = delivery.event.payload["data"]
    assert delivery.event.type == "merchant.listing_changed"
    assert data == {
        "merchant": str(merchant.public_id),
        "state": "suspended",
        "previous_state": before,
        "changed_at": data["changed_at"],
    }


def test_a_programme_suspension_sends_one_event_per_subscription(django_capture_on_commit_callbacks):
    import io

    from django.core.management import call_command

    from members.services.common import _programme_tz
    from members.services.subscriptions import seed_default_plans
    from tests.factories.members import paid_subscription

    seed_default_plans()
    endpoint = endpoint_for("https://partner.example/hooks", event_types=["subscription.refunded"])
    paid = [paid_subscription() for _ in range(3)]
    today = timezone.localtime(timezone.now(), timezone=_programme_tz()).date()
    with django_capture_on_commit_callbacks(execute=False):
        call_command(
            "suspend_program",
            "--effective-date",
            today.isoformat(),
            "--refund",
            "full",
            "--batch-size",
            "2",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    events = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event")
    by_subscription = {d.event.payload["data"]["subscription"]: d.event.payload["data"] for d in events}
    assert set(by_subscription) == {str(s.public_id) for s in paid}
    for subscription in paid:
        data = by_subscription[str(subscription.public_id)]
        assert data["state"] == "refunded" and data["reason"] == "programme_suspended"
        assert data["member"] == str(subscription.user.public_id) and data["refunded_fen"] > 0
