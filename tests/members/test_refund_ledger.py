"""The refund ledger and reconciliation: an entry and its number are committed before the gateway is
called, every retry sends the same number, and timeouts, 5xx answers, crashes, reordered and forged
notices all end with the money moved exactly once and the ledger balanced; the daily bill is compared
with the ledger and every difference is flagged."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import DomainError
from members import selectors
from members.models import Payment, ReconciliationIssue, Refund, SandboxOrder, SandboxRefund
from members.payments import sandbox
from members.services import refunds as refund_services
from members.services.checkout import checkout_start, payment_notification_receive, payment_sync, payments_reconcile
from members.services.reconciliation import BILL_TZ, bill_reconcile
from members.services.refunds import refunds_reconcile, subscription_refund
from tests.factories import UserFactory
from tests.factories.members import deliver_pending, paid_subscription, pending_subscription, sandbox_order

pytestmark = pytest.mark.django_db
LATER = timedelta(minutes=2)


def refund_all(subscription, **kwargs) -> Refund:
    (refund,) = subscription_refund(subscription_id=subscription.pk, mode="full", reason="test", actor="test", **kwargs)
    return refund


def gateway_refunded(payment: Payment) -> int:
    return SandboxOrder.objects.get(out_trade_no=str(payment.public_id)).refunded_fen


def test_refund_number_is_fixed_before_the_gateway_call_and_the_entry_settles(plans):
    subscription = paid_subscription()
    refund = refund_all(subscription)
    assert refund.state == "succeeded" and refund.attempts == 1 and refund.settled_at is not None
    at_gateway = SandboxRefund.objects.get()
    assert at_gateway.out_refund_no == str(refund.public_id) and refund.provider_refund_id == at_gateway.refund_id
    assert gateway_refunded(refund.payment) == 16800
    assert selectors.ledger_discrepancies() == []


def test_gateway_5xx_during_refund_is_settled_by_reconciliation_exactly_once(plans, settings):
    subscription = paid_subscription()
    settings.MEMBERS_SANDBOX_FAULTS = {"refund": "5xx"}
    refund = refund_all(subscription)
    # the intent is committed: the card is refunded in our books, the money is not yet sent
    assert refund.state == "requested" and refund.last_error == "payment_gateway_unavailable"
    subscription.refresh_from_db()
    assert subscription.state == "refunded"
    assert gateway_refunded(refund.payment) == 0
    assert refunds_reconcile(now=timezone.now() + LATER) == {"requested": 1}  # still down: sent again, in vain
    settings.MEMBERS_SANDBOX_FAULTS = {}
    assert refunds_reconcile(now=timezone.now() + LATER) == {"succeeded": 1}
    assert refunds_reconcile(now=timezone.now() + LATER) == {}
    refund.refresh_from_db()
    assert refund.state == "succeeded" and refund.attempts == 3
    assert gateway_refunded(refund.payment) == 16800 and SandboxRefund.objects.count() == 1
    assert selectors.ledger_discrepancies() == []


def test_refund_timeout_after_the_gateway_acted_is_not_refunded_twice(plans, settings):
    subscription = paid_subscription()
    settings.MEMBERS_SANDBOX_FAULTS = {"refund": "timeout"}
    refund = refund_all(subscription)
    assert refund.state == "requested"
    assert gateway_refunded(refund.payment) == 16800  # the gateway did refund; the answer was lost
    settings.MEMBERS_SANDBOX_FAULTS = {}
    assert refunds_reconcile(now=timezone.now() + LATER) == {"succeeded": 1}
    refund.refresh_from_db()
    assert refund.state == "succeeded" and refund.attempts == 1  # settled by query, not sent again
    assert gateway_refunded(refund.payment) == 16800 and SandboxRefund.objects.count() == 1
    assert selectors.ledger_discrepancies() == []


def test_crash_between_gateway_refunded_and_database_recorded(plans, monkeypatch):
    subscription = paid_subscription()

    def crash(**kwargs):
        raise RuntimeError("process killed after the gateway answered")

    monkeypatch.setattr(refund_services, "refunds_record", crash)
    with pytest.raises(RuntimeError):
        refund_all(subscription)
    monkeypatch.undo()
    refund = Refund.objects.get()
    assert refund.state == "requested" and gateway_refunded(refund.payment) == 16800
    # an operator retrying the refund cannot refund again: the card is already refunded
    with pytest.raises(DomainError) as refusal:
        refund_all(subscription)
    assert refusal.value.code == "subscription_already_refunded"
    # nor can a retry of the same request: its number is the same and already in the ledger
    assert refunds_reconcile(now=timezone.now() + LATER) == {"succeeded": 1}
    refund.refresh_from_db()
    assert refund.state == "succeeded"
    assert gateway_refunded(refund.payment) == 16800 and SandboxRefund.objects.count() == 1
    payment = Payment.objects.get()
    assert payment.refunded_fen == 16800
    assert selectors.ledger_discrepancies() == []


def test_refund_notice_before_the_pay_notice_and_duplicated(plans, settings):
    payment = pending_subscription()
    (held_pay,) = sandbox.pay(sandbox_order(payment), hold=True)
    assert payment_sync(payment=payment) == "activated"  # the return page asked the gateway
    settings.MEMBERS_SANDBOX_FAULTS = {"refund": "timeout"}  # our refund call loses its answer
    refund = refund_all(payment.subscription)
    assert refund.state == "requested"
    settings.MEMBERS_SANDBOX_FAULTS = {}
    # the gateway's refund notice arrives first, then twice, and the delayed pay notice after it
    (refund_event,) = sandbox.pending_redeliveries(older_than=timezone.now() + LATER)
    body = sandbox.notification_body(sandbox.SandboxEvent.objects.get(pk=refund_event))
    headers = sandbox.sign(body)
    assert payment_notification_receive(provider_code="sandbox", headers=headers, body=body) == "refund_succeeded"
    assert payment_notification_receive(provider_code="sandbox", headers=headers, body=body) == "duplicate"
    assert sandbox.release([held_pay]) == ["ok"]
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.state == "succeeded" and payment.state == "paid" and payment.refunded_fen == 16800
    assert payment.subscription.state == "refunded" and payment.subscription.periods.count() == 1
    assert refunds_reconcile(now=timezone.now() + LATER) == {}
    assert SandboxRefund.objects.count() == 1 and selectors.ledger_discrepancies() == []


def test_refund_failed_at_the_gateway_is_released_and_flagged(plans, settings):
    subscription = paid_subscription()
    settings.MEMBERS_SANDBOX_FAULTS = {"refund": "5xx"}
    refund = refund_all(subscription)
    settings.MEMBERS_SANDBOX_FAULTS = {}
    # the gateway reports the refund abnormal (the payer's card was closed): a signed notice
    order = sandbox_order(refund.payment)
    resource = {
        "appid": sandbox.app_id(),
        "mchid": sandbox.merchant_id(),
        "out_trade_no": order.out_trade_no,
        "transaction_id": order.transaction_id,
        "out_refund_no": str(refund.public_id),
        "refund_id": "SBR-abnormal",
        "refund_status": "ABNORMAL",
        "amount": {"total": 16800, "refund": 16800, "currency": "CNY"},
    }
    envelope = {"id": "n-abnormal", "create_time": "2026-01-01T00:00:00+08:00", "event_type": "REFUND.ABNORMAL"}
    body = json.dumps({**envelope, "resource": resource}).encode()
    outcome = payment_notification_receive(provider_code="sandbox", headers=sandbox.sign(body), body=body)
    assert outcome == "refund_failed"
    refund.refresh_from_db()
    payment = Payment.objects.get()
    assert refund.state == "failed" and payment.refunded_fen == 0
    issue = ReconciliationIssue.objects.get(kind="refund_failed")
    assert issue.out_refund_no == str(refund.public_id)
    assert refunds_reconcile(now=timezone.now() + LATER) == {}  # final: never sent again
    assert gateway_refunded(payment) == 0


def test_notification_for_another_merchant_or_app_is_refused_and_flagged(plans):
    for field, value in (("mchid", "1900000109"), ("appid", "wx-other-app")):
        payment = pending_subscription(UserFactory())
        (event,) = sandbox.pay(sandbox_order(payment), hold=True)
        data = json.loads(sandbox.notification_body(event))
        data["resource"][field] = value
        body = json.dumps(data).encode()
        with pytest.raises(DomainError) as refusal:
            payment_notification_receive(provider_code="sandbox", headers=sandbox.sign(body), body=body)
        assert refusal.value.code == "payment_merchant_mismatch"
        payment.refresh_from_db()
        assert payment.state == "pending" and payment.flag_reason == "merchant_mismatch"
        assert payment.subscription.state == "pending_payment"
        issue = ReconciliationIssue.objects.get(out_trade_no=str(payment.public_id))
        assert (
            issue.kind == "notification_refused"
            and issue.detail["received"]["merchant_id" if field == "mchid" else "app_id"] == value
        )


def test_checkout_timeout_keeps_the_order_and_a_retry_reuses_its_number(plans, settings):
    user = UserFactory()
    settings.MEMBERS_SANDBOX_FAULTS = {"checkout": "timeout"}
    with pytest.raises(DomainError) as refusal:
        checkout_start(user=user, plan_code="annual")
    assert refusal.value.code == "payment_gateway_unavailable"
    payment = Payment.objects.get(subscription__user=user)
    assert payment.state == "pending" and payment.checkout_url == ""
    settings.MEMBERS_SANDBOX_FAULTS = {}
    again = checkout_start(user=user, plan_code="annual")
    assert again.pk == payment.pk and again.checkout_url
    assert SandboxOrder.objects.filter(out_trade_no=str(payment.public_id)).count() == 1
    sandbox.pay(sandbox_order(again))
    deliver_pending()
    assert Payment.objects.get(pk=payment.pk).state == "paid"


def test_checkout_5xx_order_is_failed_by_reconciliation_once(plans, settings):
    user = UserFactory()
    settings.MEMBERS_SANDBOX_FAULTS = {"checkout": "5xx"}
    with pytest.raises(DomainError):
        checkout_start(user=user, plan_code="annual")
    settings.MEMBERS_SANDBOX_FAULTS = {}
    payment = Payment.objects.get(subscription__user=user)
    assert not SandboxOrder.objects.exists()  # the gateway never saw it
    assert payments_reconcile(now=timezone.now() + timedelta(minutes=10)) == {"pending": 1}
    assert payments_reconcile(now=timezone.now() + timedelta(hours=1)) == {"failed": 1}
    assert payments_reconcile(now=timezone.now() + timedelta(hours=2)) == {}
    payment.refresh_from_db()
    assert payment.state == "failed" and payment.subscription.state == "payment_failed"
    # the member starts again with a new order
    assert checkout_start(user=user, plan_code="annual").pk != payment.pk


def test_daily_bill_differences_are_flagged_both_ways_once(plans):
    subscription = paid_subscription()
    refund = refund_all(subscription)
    day = timezone.now().astimezone(BILL_TZ).date()
    assert bill_reconcile(day=day) == {"matched": 2}
    assert not ReconciliationIssue.objects.exists()
    # a payment the gateway booked that the ledger lacks (paid on an order we never recorded) ...
    stray = SandboxOrder.objects.create(out_trade_no="stray-order", amount_fen=16800, description="x")
    sandbox.pay(stray, hold=True)
    # ... and a ledger payment the gateway never booked (its order at the gateway is unpaid)
    missing = paid_subscription()
    payment = Payment.objects.get(subscription=missing)
    SandboxOrder.objects.filter(out_trade_no=str(payment.public_id)).update(paid_at=None, status="NOTPAY")
    # ... and a refund booked for another amount
    SandboxRefund.objects.filter(out_refund_no=str(refund.public_id)).update(amount_fen=100)
    counts = bill_reconcile(day=day)
    assert counts == {"matched": 1, "not_in_ledger": 1, "not_in_bill": 1, "amount_differs": 1}
    issues = {(i.kind, i.out_trade_no) for i in ReconciliationIssue.objects.all()}
    assert issues == {
        ("not_in_ledger", "stray-order"),
        ("not_in_bill", str(payment.public_id)),
        ("amount_differs", str(refund.payment.public_id)),
    }
    assert bill_reconcile(day=day) == {"matched": 1}  # each difference is flagged once


def test_bill_check_without_a_usable_gateway_reports_and_does_not_crash(plans, settings):
    paid_subscription()  # a sandbox payment from before the sandbox was switched off
    settings.MEMBERS_PAYMENT_PROVIDER = ""
    settings.MEMBERS_SANDBOX_ENABLED = False
    assert bill_reconcile(day=timezone.now().astimezone(BILL_TZ).date()) == {"provider_unknown": 1}
    assert not ReconciliationIssue.objects.exists()
