import math
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F

from core.errors import DomainError
from core.models import Notification
from members import selectors
from members.models import Payment, Refund, SandboxOrder
from members.services.refunds import subscription_refund
from members.services.subscriptions import trial_start
from tests.factories import UserFactory
from tests.factories.members import paid_subscription, pending_subscription

pytestmark = pytest.mark.django_db


def test_full_refund_is_a_ledger_row_and_ends_the_card(plans):
    subscription = paid_subscription()
    payment = subscription.payments.get()
    (refund,) = subscription_refund(subscription_id=subscription.pk, mode="full", reason="asked", actor="op")
    assert refund.amount_fen == 16800 and refund.kind == "full" and refund.provider_refund_id
    payment.refresh_from_db()
    assert payment.amount_fen == 16800 and payment.refunded_fen == 16800  # the payment's money is never edited
    subscription.refresh_from_db()
    assert subscription.state == "refunded"
    assert not selectors.entitlement(user=subscription.user).entitled
    assert SandboxOrder.objects.get(out_trade_no=str(payment.public_id)).refunded_fen == 16800
    assert Notification.objects.filter(user=subscription.user, kind="members.refunded").exists()
    assert selectors.ledger_discrepancies() == []


def test_prorated_refund_counts_unused_days_in_the_members_favour(plans):
    subscription = paid_subscription()
    at = subscription.period_start + timedelta(days=100, hours=3)
    (refund,) = subscription_refund(
        subscription_id=subscription.pk, mode="prorated", reason="moving", actor="op", at=at
    )
    unused_days = 265  # the started day counts as unused
    assert refund.amount_fen == math.ceil(16800 * unused_days / 365)
    assert refund.kind == "prorated"


def test_refund_above_the_amount_paid_is_refused(plans):
    subscription = paid_subscription()
    with pytest.raises(DomainError) as refusal:
        subscription_refund(subscription_id=subscription.pk, mode="full", reason="x", actor="op", amount_fen=16801)
    assert refusal.value.code == "refund_exceeds_paid"
    assert Refund.objects.count() == 0
    subscription.refresh_from_db()
    assert subscription.state == "active"


def test_database_refuses_refunding_more_than_paid(plans):
    subscription = paid_subscription()
    payment = subscription.payments.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(refunded_fen=F("amount_fen") + 1)


def test_database_refuses_the_same_refund_request_twice(plans):
    subscription = paid_subscription()
    payment = subscription.payments.get()
    Refund.objects.create(
        payment=payment,
        subscription=subscription,
        kind="full",
        amount_fen=1,
        reason="r",
        request_key="k",
        actor_label="op",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Refund.objects.create(
            payment=payment,
            subscription=subscription,
            kind="full",
            amount_fen=1,
            reason="r",
            request_key="k",
            actor_label="op",
        )


def test_refund_of_an_unpaid_subscription_is_refused(plans):
    payment = pending_subscription()
    with pytest.raises(DomainError) as refusal:
        subscription_refund(subscription_id=payment.subscription_id, mode="full", reason="x", actor="op")
    assert refusal.value.code == "subscription_not_paid"
    trial = trial_start(user=UserFactory())
    with pytest.raises(DomainError) as refusal:
        subscription_refund(subscription_id=trial.pk, mode="full", reason="x", actor="op")
    assert refusal.value.code == "subscription_not_paid"


def test_refund_of_an_already_refunded_subscription_is_refused(plans):
    subscription = paid_subscription()
    subscription_refund(subscription_id=subscription.pk, mode="full", reason="x", actor="op")
    with pytest.raises(DomainError) as refusal:
        subscription_refund(subscription_id=subscription.pk, mode="full", reason="x", actor="op")
    assert refusal.value.code == "subscription_already_refunded"
    assert Refund.objects.count() == 1


def test_refund_requires_a_reason(plans):
    subscription = paid_subscription()
    with pytest.raises(DomainError) as refusal:
        subscription_refund(subscription_id=subscription.pk, mode="full", reason="  ", actor="op")
    assert refusal.value.code == "refund_reason_required"


def test_prorated_refund_after_the_period_has_nothing_due(plans):
    subscription = paid_subscription()
    with pytest.raises(DomainError) as refusal:
        subscription_refund(
            subscription_id=subscription.pk,
            mode="prorated",
            reason="x",
            actor="op",
            at=subscription.period_end + timedelta(days=1),
        )
    assert refusal.value.code == "refund_nothing_due"


def test_ledger_check_detects_an_inconsistency(plans):
    subscription = paid_subscription()
    subscription_refund(subscription_id=subscription.pk, mode="full", reason="x", actor="op")
    assert selectors.ledger_discrepancies() == []
    Refund.objects.update(amount_fen=100)  # someone edits the ledger behind the services' back
    problems = selectors.ledger_discrepancies()
    assert any("refund rows" in p for p in problems)
