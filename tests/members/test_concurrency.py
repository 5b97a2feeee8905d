"""Real threads on PostgreSQL: the guards are row locks and constraints, not Python checks."""

import threading

import pytest
from django.db import connection

from core.errors import DomainError
from members import selectors
from members.models import Payment, PaymentNotification, Refund, Subscription, SubscriptionPeriod
from members.payments import sandbox
from members.services.checkout import checkout_start
from members.services.refunds import subscription_refund
from tests.factories import UserFactory
from tests.factories.members import PlanFactory, paid_subscription, pending_subscription, sandbox_order


def run_together(fn, count):
    barrier = threading.Barrier(count)
    results: list = []
    lock = threading.Lock()

    def worker():
        try:
            barrier.wait()
            outcome = fn()
        except DomainError as exc:
            outcome = exc.code
        except Exception as exc:
            outcome = repr(exc)
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_refunds_produce_one_refund():
    PlanFactory()
    subscription = paid_subscription()

    def refund():
        subscription_refund(subscription_id=subscription.pk, mode="full", reason="dup", actor="op")
        return "refunded"

    results = run_together(refund, 2)
    assert sorted(results) == ["refunded", "subscription_already_refunded"]
    assert Refund.objects.count() == 1
    assert Payment.objects.get(subscription=subscription).refunded_fen == 16800
    assert selectors.ledger_discrepancies() == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_notifications_activate_once():
    PlanFactory()
    payment = pending_subscription()
    events = sandbox.pay(sandbox_order(payment), hold=True, duplicates=4)
    queue = list(events)
    lock = threading.Lock()

    def deliver():
        with lock:
            event = queue.pop()
        Payment.objects.none()  # each thread has its own connection
        return sandbox.release([event])[0]

    results = run_together(deliver, 4)
    assert results == ["ok"] * 4
    assert SubscriptionPeriod.objects.filter(subscription_id=payment.subscription_id).count() == 1
    outcomes = sorted(PaymentNotification.objects.values_list("outcome", flat=True))
    assert outcomes.count("activated") == 1 and outcomes.count("already_paid") == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkouts_leave_one_current_subscription():
    PlanFactory()
    user = UserFactory()

    def checkout():
        checkout_start(user=user, plan_code="annual")
        return "ok"

    results = run_together(checkout, 4)
    assert "ok" in results
    assert set(results) <= {"ok", "subscription_already_current"}
    assert Subscription.objects.filter(user=user).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_refund_is_settled_once_when_its_notice_and_reconciliation_race(settings):
    from members.payments.base import RefundResult
    from members.services.refunds import refund_record

    PlanFactory()
    subscription = paid_subscription()
    settings.MEMBERS_SANDBOX_FAULTS = {"refund": "5xx"}  # the entry stays requested
    (refund,) = subscription_refund(subscription_id=subscription.pk, mode="full", reason="race", actor="op")
    settings.MEMBERS_SANDBOX_FAULTS = {}
    failed = RefundResult(str(refund.public_id), "failed", provider_state="ABNORMAL")

    results = run_together(lambda: refund_record(refund_id=refund.pk, result=failed, actor="race"), 4)
    assert sorted(results) == ["failed", "unchanged", "unchanged", "unchanged"]
    # the payment's counter was released once, not four times (the CHECK would refuse a negative)
    assert Payment.objects.get(subscription=subscription).refunded_fen == 0
    assert Refund.objects.get().state == "failed"
