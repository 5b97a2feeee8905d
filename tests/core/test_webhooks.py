"""Webhooks: Standard Webhooks signatures, retries with backoff, the delivery log and replay."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from core import webhooks
from core.models import WebhookDelivery, WebhookEndpoint
from tests.factories import PartnerApplicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _loopback_partners_allowed(settings):
    """These partners listen on loopback, which an operator must allow (core.webhooks refuses it otherwise)."""
    settings.REDCARD_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


class Receiver:
    """A partner's endpoint on loopback that answers with the queued status codes."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(*statuses):
        r = Receiver(statuses or (200,))
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def endpoint_for(url, **fields):
    return WebhookEndpoint.objects.create(application=PartnerApplicationFactory(), url=url, **fields)


def test_an_event_is_delivered_signed_per_standard_webhooks(receiver, django_capture_on_commit_callbacks):
    r = receiver(204)
    endpoint = endpoint_for(r.url)
    with django_capture_on_commit_callbacks(execute=True):
        event = webhooks.emit("redemption.confirmed", {"id": "abc", "amount_fen": 1234})
    assert len(r.requests) == 1
    headers, body = r.requests[0]
    payload = Webhook(endpoint.secret).verify(body, headers)
    assert payload["type"] == "redemption.confirmed"
    assert payload["data"] == {"id": "abc", "amount_fen": 1234}
    assert headers["webhook-id"] == event.msg_id
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.state == "succeeded" and delivery.attempts == 1 and delivery.last_status_code == 204


def test_a_tampered_body_fails_verification(receiver, django_capture_on_commit_callbacks):
    from standardwebhooks.webhooks import WebhookVerificationError

    r = receiver(200)
    endpoint = endpoint_for(r.url)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.emit("redemption.confirmed", {"amount_fen": 1})
    headers, body = r.requests[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(body.replace(b"1", b"9"), headers)


def test_only_endpoints_that_want_the_event_get_it(receiver, django_capture_on_commit_callbacks):
    r = receiver(200)
    endpoint_for(r.url, event_types=["subscription.activated"])
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.emit("redemption.confirmed", {}) is None
        webhooks.emit("subscription.activated", {})
    assert len(r.requests) == 1


def test_nothing_is_sent_when_the_transaction_rolls_back(receiver):
    from django.db import transaction

    r = receiver(200)
    endpoint_for(r.url)
    with pytest.raises(RuntimeError), transaction.atomic():
        webhooks.emit("redemption.confirmed", {})
        raise RuntimeError("rolled back")
    assert r.requests == []
    assert not WebhookDelivery.objects.exists()


def test_failures_are_retried_with_backoff_then_given_up(receiver, django_capture_on_commit_callbacks):
    r = receiver(500)
    endpoint_for(r.url)
    with django_capture_on_commit_callbacks(execute=True):
        event = webhooks.emit("redemption.confirmed", {})
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.state == "failed" and delivery.attempts == 1 and delivery.last_status_code == 500
    assert delivery.next_attempt_at - delivery.last_attempt_at == webhooks.RETRY_SCHEDULE[0]

    # Not due yet: the retry job leaves it alone.
    assert webhooks.deliver_due() == 0
    total = timedelta()
    for attempt in range(2, len(webhooks.RETRY_SCHEDULE) + 2):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        assert webhooks.deliver_due() == 1
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
    for step in webhooks.RETRY_SCHEDULE:
        total += step
    assert timedelta(hours=20) < total < timedelta(hours=30)  # "about a day"
    assert delivery.state == "dead" and delivery.next_attempt_at is None
    assert len(r.requests) == len(webhooks.RETRY_SCHEDULE) + 1


def test_retry_succeeds_when_the_partner_recovers(receiver, django_capture_on_commit_callbacks):
    r = receiver(503, 200)
    endpoint_for(r.url)
    with django_capture_on_commit_callbacks(execute=True):
        event = webhooks.emit("redemption.confirmed", {})
    WebhookDelivery.objects.filter(event=event).update(next_attempt_at=timezone.now())
    webhooks.deliver_due()
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.state == "succeeded" and delivery.attempts == 2
    # The same webhook-id on every attempt, so partners can de-duplicate.
    assert r.requests[0][0]["webhook-id"] == r.requests[1][0]["webhook-id"] == event.msg_id


def test_an_unreachable_endpoint_is_logged(django_capture_on_commit_callbacks):
    endpoint_for("http://127.0.0.1:9/unreachable")
    with django_capture_on_commit_callbacks(execute=True):
        event = webhooks.emit("redemption.confirmed", {})
    delivery = WebhookDelivery.objects.get(event=event)
    assert delivery.state == "failed" and delivery.last_status_code is None and delivery.last_error


def test_admin_replay_sends_a_dead_delivery_again(receiver, admin_client, django_capture_on_commit_callbacks):
    r = receiver(500)
    endpoint_for(r.url)
    with django_capture_on_commit_callbacks(execute=True):
        event = webhooks.emit("redemption.confirmed", {"n": 1})
    delivery = WebhookDelivery.objects.get(event=event)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="dead", next_attempt_at=None)
    r.statuses = [200]
    assert admin_client.get("/admin/core/webhookdelivery/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/core/webhookdelivery/", {"action": "replay_deliveries", "_selected_action": [delivery.pk]}
        )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == "succeeded"
    assert json.loads(r.requests[-1][1])["data"] == {"n": 1}


def test_with_no_endpoint_the_application_filter_is_never_read(django_assert_num_queries):
    from core.models import PartnerApplication

    with django_assert_num_queries(1):  # the endpoints; the lazy application queryset stays unevaluated
        assert webhooks.emit("redemption.confirmed", {}, applications=PartnerApplication.objects.all()) is None


def test_emit_many_sends_each_event_only_to_its_applications_endpoints(django_capture_on_commit_callbacks):
    """``emit_many``'s per-event filter is ``emit``'s: an event goes to the endpoints of the applications given
    for it (None: every endpoint that wants the type; an empty set: none)."""
    from core.models import WebhookEvent

    pos, other = PartnerApplicationFactory(), PartnerApplicationFactory()
    at_pos = WebhookEndpoint.objects.create(application=pos, url="http://127.0.0.1:9/pos")
    at_other = WebhookEndpoint.objects.create(application=other, url="http://127.0.0.1:9/other")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        recorded = webhooks.emit_many(
            [("redemption.confirmed", {"n": 1}), ("redemption.confirmed", {"n": 2}), ("redemption.voided", {"n": 3})],
            applications=[{pos.pk}, None, set()],
        )
    assert recorded == 3 and len(callbacks) == 1  # one send for the batch
    sent = sorted(
        (event.payload["data"]["n"], delivery.endpoint_id)
        for event in WebhookEvent.objects.all()
        for delivery in event.deliveries.all()
    )
    assert sent == sorted([(1, at_pos.pk), (2, at_pos.pk), (2, at_other.pk)])
    assert WebhookEvent.objects.count() == 2  # nobody receives the third: no event recorded
