import io
import math
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from core.errors import DomainError
from core.models import Notification
from members import selectors
from members.models import Payment, Programme, ReconciliationIssue, Refund, SandboxOrder, Subscription, SuspensionRefund
from members.services.checkout import checkout_start
from members.services.common import _programme_tz
from members.services.subscriptions import subscription_cancel_undo, subscriptions_advance, trial_start
from tests.factories import UserFactory
from tests.factories.members import paid_subscription, pending_subscription

pytestmark = pytest.mark.django_db


def suspend(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("suspend_program", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def today_local():
    return timezone.localtime(timezone.now(), timezone=_programme_tz()).date()


def test_full_suspension_stops_sales_ends_cards_and_refunds_everyone(plans):
    paid = [paid_subscription() for _ in range(5)]
    trial = trial_start(user=UserFactory())
    pending = pending_subscription()
    out, err = suspend("--effective-date", today_local().isoformat(), "--refund", "full", "--batch-size", "2")
    assert "Processed 6 subscription(s); refunded 5 for ¥840.00" in out
    assert "[##############################]" in err and "100%" in err
    for subscription in paid:
        subscription.refresh_from_db()
        assert subscription.state == "refunded"
        assert not selectors.entitlement(user=subscription.user).entitled
    trial.refresh_from_db()
    assert trial.state == "expired"
    pending.refresh_from_db()
    assert pending.state == "failed" and pending.subscription.state == "payment_failed"
    assert Refund.objects.count() == 5 and SuspensionRefund.objects.count() == 6
    assert Notification.objects.filter(kind="members.programme_suspended").count() == 6
    with pytest.raises(DomainError) as refusal:
        checkout_start(user=UserFactory(), plan_code="annual")
    assert refusal.value.code == "sales_closed"
    with pytest.raises(DomainError):
        trial_start(user=UserFactory())
    assert selectors.ledger_discrepancies() == []


def test_future_effective_date_keeps_cards_working_until_then(plans):
    subscription = paid_subscription()
    effective = today_local() + timedelta(days=30)
    suspend("--effective-date", effective.isoformat(), "--refund", "prorated")
    subscription.refresh_from_db()
    programme = Programme.objects.get()
    assert subscription.state == "cancel_at_period_end" and subscription.period_end == programme.effective_at
    assert selectors.entitlement(user=subscription.user).entitled
    refund = Refund.objects.get()
    unused = math.ceil((subscription.periods.get().end - programme.effective_at).total_seconds() / 86400)
    assert refund.amount_fen == math.ceil(16800 * unused / 365)
    with pytest.raises(DomainError) as refusal:
        subscription_cancel_undo(user=subscription.user)
    assert refusal.value.code == "programme_suspended"
    subscriptions_advance(now=programme.effective_at + timedelta(seconds=1))
    subscription.refresh_from_db()
    assert subscription.state == "refunded"
    assert not selectors.entitlement(user=subscription.user).entitled
    assert selectors.ledger_discrepancies() == []


def test_dry_run_changes_nothing(plans):
    subscription = paid_subscription()
    out, _err = suspend("--effective-date", today_local().isoformat(), "--refund", "full", "--dry-run")
    assert "DRY RUN" in out and "refunded 1 for ¥168.00" in out
    assert Programme.objects.get().sales_open
    assert Refund.objects.count() == 0 and SuspensionRefund.objects.count() == 0
    subscription.refresh_from_db()
    assert subscription.state == "active"


def test_suspension_killed_midway_resumes_exactly_once(plans):
    for _ in range(7):
        paid_subscription()
    args = ["--effective-date", today_local().isoformat(), "--refund", "full", "--batch-size", "2"]
    with pytest.raises(RuntimeError, match="simulated crash"):
        suspend(*args, "--fail-after-batches", "2")
    assert SuspensionRefund.objects.count() == 4  # two whole batches, nothing half-written
    assert Refund.objects.count() == 4
    assert selectors.ledger_discrepancies() == []
    out, _err = suspend(*args)
    assert "Processed 3 subscription(s)" in out
    assert Refund.objects.count() == 7
    assert Payment.objects.filter(refunded_fen=16800).count() == 7
    assert set(Subscription.objects.values_list("state", flat=True)) == {"refunded"}
    out, _err = suspend(*args)
    assert "Processed 0 subscription(s)" in out
    assert Refund.objects.count() == 7
    assert selectors.ledger_discrepancies() == []


def test_rerun_with_other_settings_is_refused(plans):
    suspend("--effective-date", today_local().isoformat(), "--refund", "full")
    with pytest.raises(CommandError, match="programme_already_suspended"):
        suspend("--effective-date", today_local().isoformat(), "--refund", "prorated")


def test_bad_date_is_refused(plans):
    with pytest.raises(CommandError):
        suspend("--effective-date", "31/12/2026", "--refund", "full")


def test_refunds_the_gateway_refuses_are_reported_and_flagged(plans):
    subscriptions = [paid_subscription() for _ in range(3)]
    broken = SandboxOrder.objects.get(out_trade_no=str(subscriptions[1].payments.get().public_id))
    broken.refunded_fen = broken.amount_fen  # refunded by hand in the gateway's console: it refuses ours
    broken.save()
    out, _err = suspend("--effective-date", today_local().isoformat(), "--refund", "full")
    # the gateway refuses one refund: the others go through, the refused one is reported and flagged
    assert "Processed 3 subscription(s); refunded 2 for ¥336.00" in out
    assert "1 failure(s)" in out and f"{subscriptions[1].public_id}: refund_exceeds_paid" in out
    assert "Reconciliation issues" in out
    assert sorted(Refund.objects.values_list("state", flat=True)) == ["failed", "succeeded", "succeeded"]
    failed = Refund.objects.get(state="failed")
    assert failed.subscription_id == subscriptions[1].pk and failed.payment.refunded_fen == 0
    assert ReconciliationIssue.objects.get(kind="refund_failed").out_refund_no == str(failed.public_id)
    out, _err = suspend("--effective-date", today_local().isoformat(), "--refund", "full")
    assert "Processed 0 subscription(s)" in out  # never refunded twice
    # what remains is the difference an operator settles: the money went back by hand at the gateway
    assert selectors.ledger_discrepancies() == [
        f"payment {failed.payment.public_id}: refunded 0 here, 16800 at the gateway"
    ]
