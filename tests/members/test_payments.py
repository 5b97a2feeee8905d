"""Payment notifications: forged, tampered, replayed, duplicated, reordered, mismatched, unknown;
and the reconciliation job."""

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from members import selectors
from members.models import FlaggedPayment, Payment, PaymentNotification, SandboxEvent
from members.payments import sandbox
from members.services.checkout import payments_reconcile
from tests.factories.members import deliver_pending, pending_subscription, sandbox_order

pytestmark = pytest.mark.django_db
URL = "/api/v1/payments/notify/sandbox/"


def post(body: bytes, headers: dict) -> object:
    extra = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    return APIClient().post(URL, data=body, content_type="application/json", **extra)


def held_success(payment, duplicates=1):
    return sandbox.pay(sandbox_order(payment), hold=True, duplicates=duplicates)


def signed(event, **sign_kwargs):
    body = sandbox.notification_body(event)
    return body, sandbox.sign(body, **sign_kwargs)


def test_valid_notification_activates_once(plans):
    payment = pending_subscription()
    (event,) = held_success(payment)
    body, headers = signed(event)
    response = post(body, headers)
    assert response.status_code == 200, response.content
    assert response.json() == {"code": "SUCCESS", "outcome": "activated"}
    payment.refresh_from_db()
    assert payment.state == "paid" and payment.subscription.state == "active"


def test_replayed_notification_is_acknowledged_but_does_nothing(plans):
    payment = pending_subscription()
    (event,) = held_success(payment)
    body, headers = signed(event)
    assert post(body, headers).json()["outcome"] == "activated"
    again = post(body, headers)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert PaymentNotification.objects.count() == 1
    assert Payment.objects.get(pk=payment.pk).subscription.periods.count() == 1


def test_stale_replay_is_refused(plans):
    payment = pending_subscription()
    (event,) = held_success(payment)
    body, headers = signed(event, timestamp=int(time.time()) - 3600)
    response = post(body, headers)
    assert response.status_code == 401 and response.json()["code"] == "notification_stale"
    assert Payment.objects.get(pk=payment.pk).state == "pending"


def test_forged_notification_is_refused(plans):
    payment = pending_subscription()
    (event,) = held_success(payment)
    body, headers = signed(event, key=b"not-the-gateway-key")
    response = post(body, headers)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "notification_signature_invalid"
    assert Payment.objects.get(pk=payment.pk).state == "pending"
    assert PaymentNotification.objects.count() == 0


def test_unsigned_notification_is_refused(plans):
    payment = pending_subscription()
    (event,) = held_success(payment)
    response = post(sandbox.notification_body(event), {})
    assert response.status_code == 401 and response.json()["code"] == "notification_signature_invalid"


def test_tampered_amount_is_refused(plans):
    payment = pending_subscription()
    (event,) = held_success(payment)
    body, headers = signed(event)
    tampered = body.replace(b'"total":16800', b'"total":1')
    assert tampered != body
    response = post(tampered, headers)
    assert response.status_code == 401 and response.json()["code"] == "notification_signature_invalid"
    assert Payment.objects.get(pk=payment.pk).state == "pending"


def test_amount_mismatch_is_flagged_never_activated(plans):
    payment = pending_subscription()
    order = sandbox_order(payment)
    order.amount_fen = 100  # the gateway charged something else than our order said
    order.save()
    (event,) = sandbox.pay(order, hold=True)
    body, headers = signed(event)
    response = post(body, headers)
    assert response.status_code == 409 and response.json()["code"] == "payment_amount_mismatch"
    payment.refresh_from_db()
    assert payment.state == "pending" and payment.flag_reason == "amount_mismatch"
    assert payment.subscription.state == "pending_payment"
    assert FlaggedPayment.objects.filter(flagged_at__isnull=False, pk=payment.pk).exists()
    assert not selectors.entitlement(user=payment.subscription.user).entitled
    # reconciliation leaves flagged payments to the operators
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert payments_reconcile() == {}


def test_currency_mismatch_is_flagged(plans):
    payment = pending_subscription()
    order = sandbox_order(payment)
    order.currency = "USD"
    order.save()
    (event,) = sandbox.pay(order, hold=True)
    response = post(*signed(event))
    assert response.json()["code"] == "payment_amount_mismatch"
    assert Payment.objects.get(pk=payment.pk).flag_reason == "amount_mismatch"


def test_unknown_payment_is_refused_and_recorded(plans):
    payment = pending_subscription()
    (event,) = held_success(payment)
    data = json.loads(sandbox.notification_body(event))
    data["resource"]["out_trade_no"] = str(uuid.uuid4())
    body = json.dumps(data).encode()
    response = post(body, sandbox.sign(body))
    assert response.status_code == 404 and response.json()["code"] == "payment_unknown"
    assert PaymentNotification.objects.get().outcome == "unknown_payment"


def test_malformed_but_signed_body_is_refused(plans):
    body = b'{"id": "x"}'
    response = post(body, sandbox.sign(body))
    assert response.status_code == 400 and response.json()["code"] == "notification_malformed"


def test_duplicated_notifications_activate_exactly_once(plans):
    payment = pending_subscription()
    events = held_success(payment, duplicates=3)
    outcomes = sandbox.release(events)
    assert outcomes == ["ok", "ok", "ok"]
    payment.refresh_from_db()
    assert payment.subscription.periods.count() == 1
    assert sorted(PaymentNotification.objects.values_list("outcome", flat=True)) == [
        "activated",
        "already_paid",
        "already_paid",
    ]


def test_out_of_order_decline_after_success_changes_nothing(plans):
    payment = pending_subscription()
    order = sandbox_order(payment)
    (declined,) = sandbox.decline(order, hold=True)  # the payer's first attempt failed ...
    (paid,) = sandbox.pay(order, hold=True)  # ... the second went through
    assert sandbox.release([paid, declined]) == ["ok", "ok"]  # delivered the other way round
    payment.refresh_from_db()
    assert payment.state == "paid" and payment.subscription.state == "active"
    assert PaymentNotification.objects.get(event_type=sandbox.EVENT_PAYERROR).outcome == "ignored"


def test_late_notification_after_reconciliation_changes_nothing(plans):
    payment = pending_subscription()
    (event,) = held_success(payment)  # the gateway's notification is late
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    assert payments_reconcile() == {"activated": 1}
    assert sandbox.release([event]) == ["ok"]
    assert PaymentNotification.objects.get().outcome == "already_paid"
    assert Payment.objects.get(pk=payment.pk).subscription.periods.count() == 1


def test_reconciliation_leaves_recent_pending_payments_alone(plans):
    pending_subscription()
    assert payments_reconcile() == {}


def test_abandoned_checkout_becomes_payment_failed_after_timeout(plans):
    payment = pending_subscription()
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    assert payments_reconcile() == {"pending": 1}  # queried, not yet timed out
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(minutes=31))
    assert payments_reconcile() == {"failed": 1}
    payment.refresh_from_db()
    assert payment.state == "failed" and payment.subscription.state == "payment_failed"


def test_undelivered_notifications_are_redelivered(plans):
    payment = pending_subscription()
    sandbox.pay(sandbox_order(payment))  # on-commit delivery never ran in this test transaction
    SandboxEvent.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    from members.tasks import sandbox_redeliver

    assert sandbox_redeliver() == 1
    assert Payment.objects.get(pk=payment.pk).state == "paid"
    assert deliver_pending() == []


def test_ledger_is_consistent_after_the_notification_faults(plans):
    test_duplicated_notifications_activate_exactly_once(plans)
    test_amount_mismatch_is_flagged_never_activated(plans)
    test_out_of_order_decline_after_success_changes_nothing(plans)
    assert selectors.ledger_discrepancies() == []


@pytest.mark.django_db(transaction=True)
def test_sandbox_delivers_over_http_to_the_notify_endpoint(live_server, settings):
    from tests.factories.members import PlanFactory

    PlanFactory()
    settings.SITE_URL = live_server.url
    settings.MEMBERS_SANDBOX_TRANSPORT = "http"
    payment = pending_subscription()
    events = sandbox.pay(sandbox_order(payment), hold=True, duplicates=2)
    assert sandbox.release(events) == ["ok", "ok"]
    payment.refresh_from_db()
    assert payment.state == "paid" and payment.subscription.state == "active"
    assert sorted(PaymentNotification.objects.values_list("outcome", flat=True)) == ["activated", "already_paid"]
