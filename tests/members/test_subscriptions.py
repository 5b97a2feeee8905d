from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import DomainError
from core.models import AuditEntry, Notification
from members import selectors
from members.models import Payment, Subscription, SubscriptionPeriod
from members.payments import sandbox
from members.services.checkout import checkout_start, payments_reconcile, renewals_charge
from members.services.common import _transition
from members.services.subscriptions import (
    reminders_send,
    subscription_cancel,
    subscription_cancel_undo,
    subscription_extend,
    subscription_savings_add,
    subscription_set_auto_renew,
    subscriptions_advance,
    trial_start,
)
from tests.factories import UserFactory
from tests.factories.members import deliver_pending, paid_subscription, pending_subscription, sandbox_order

pytestmark = pytest.mark.django_db


def test_default_plans_are_seeded_by_the_data_migration():
    from importlib import import_module

    from django.apps import apps

    from members.models import Plan

    Plan.objects.all().delete()  # (transactional tests elsewhere flush migration data)
    import_module("members.migrations.0002_default_plans").seed(apps, None)
    annual = Plan.objects.get(code="annual")
    trial = Plan.objects.get(code="trial")
    assert (annual.price_fen, annual.duration_days, annual.currency) == (16800, 365, "CNY")
    assert (trial.price_fen, trial.duration_days, trial.is_trial) == (0, 90, True)


def test_checkout_creates_pending_subscription_and_payment(plans):
    payment = pending_subscription()
    subscription = payment.subscription
    assert subscription.state == "pending_payment"
    assert payment.amount_fen == 16800 and payment.state == "pending"
    assert payment.checkout_url.startswith("/membership/sandbox/checkout/")
    assert not selectors.entitlement(user=subscription.user).entitled


def test_paying_activates_for_a_year_and_audits(plans):
    subscription = paid_subscription()
    assert subscription.state == "active"
    assert subscription.period_end - subscription.period_start == timedelta(days=365)
    assert AuditEntry.objects.filter(action="members.subscription_active", object_id=str(subscription.pk)).exists()
    assert Notification.objects.filter(user=subscription.user, kind="members.activated").exists()
    assert SubscriptionPeriod.objects.filter(subscription=subscription, kind="paid").count() == 1


def test_checkout_refused_when_member_already_has_a_current_card(plans):
    subscription = paid_subscription()
    with pytest.raises(DomainError) as refusal:
        checkout_start(user=subscription.user, plan_code="annual")
    assert refusal.value.code == "subscription_already_current"
    assert Subscription.objects.filter(user=subscription.user).count() == 1


def test_repeated_checkout_returns_the_same_pending_payment(plans):
    payment = pending_subscription()
    again = checkout_start(user=payment.subscription.user, plan_code="annual")
    assert again.pk == payment.pk


def test_database_holds_one_current_subscription_per_member(plans):
    payment = pending_subscription()
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscription.objects.create(
            user=payment.subscription.user,
            plan=payment.subscription.plan,
            state="active",
            period_start=timezone.now(),
            period_end=timezone.now() + timedelta(days=1),
        )


def test_trial_once_per_person(plans):
    user = UserFactory()
    trial = trial_start(user=user)
    assert trial.state == "trialing" and trial.period_end - trial.period_start == timedelta(days=90)
    Subscription.objects.filter(pk=trial.pk).update(state="expired")
    with pytest.raises(DomainError) as refusal:
        trial_start(user=user)
    assert refusal.value.code == "trial_already_used"


def test_unknown_or_trial_plan_is_not_sold_through_checkout(plans):
    user = UserFactory()
    for code in ("nope", "trial"):
        with pytest.raises(DomainError) as refusal:
            checkout_start(user=user, plan_code=code)
        assert refusal.value.code == "plan_unavailable"


def test_cancel_and_undo(plans):
    subscription = paid_subscription()
    user = subscription.user
    assert subscription_cancel(user=user).state == "cancel_at_period_end"
    assert selectors.entitlement(user=user).entitled  # works until the end
    assert subscription_cancel_undo(user=user).state == "active"
    actions = list(AuditEntry.objects.filter(object_id=str(subscription.pk)).values_list("action", flat=True))
    assert "members.subscription_cancel_at_period_end" in actions


@pytest.mark.parametrize(
    "current,target",
    [
        ("pending_payment", "refunded"),
        ("expired", "active"),
        ("trialing", "cancel_at_period_end"),
        ("refunded", "active"),
    ],
)
def test_invalid_transitions_are_refused_with_a_stable_code(plans, current, target):
    subscription = paid_subscription()
    subscription.state = current
    with pytest.raises(DomainError) as refusal:
        _transition(subscription, target, actor="test", reason="x")
    assert refusal.value.code == "invalid_transition"


def test_cancel_of_a_trial_is_an_invalid_transition(plans):
    user = UserFactory()
    trial_start(user=user)
    with pytest.raises(DomainError) as refusal:
        subscription_cancel(user=user)
    assert refusal.value.code == "invalid_transition"


def test_undo_when_not_cancelled_is_refused(plans):
    subscription = paid_subscription()
    with pytest.raises(DomainError) as refusal:
        subscription_cancel_undo(user=subscription.user)
    assert refusal.value.code == "invalid_transition"


def test_entitlement_inside_and_outside_the_period_in_one_query(plans, django_assert_max_num_queries):
    subscription = paid_subscription()
    user = subscription.user
    with django_assert_max_num_queries(2):
        inside = selectors.entitlement(user=user)
    assert inside.entitled and inside.code is None and inside.subscription_id == subscription.pk
    after = selectors.entitlement(user=user, at=subscription.period_end)
    before = selectors.entitlement(user=user, at=subscription.period_start - timedelta(seconds=1))
    assert not after.entitled and after.code == "membership_inactive"
    assert not before.entitled
    nobody = selectors.entitlement(user=UserFactory())
    assert (nobody.entitled, nobody.code, nobody.subscription_id) == (False, "membership_inactive", None)


def test_expiry_job_ends_cards_and_entitlement(plans):
    subscription = paid_subscription()
    subscription_cancel(user=subscription.user)
    counts = subscriptions_advance(now=subscription.period_end + timedelta(seconds=1))
    subscription.refresh_from_db()
    assert counts["expired"] == 1 and subscription.state == "expired"
    assert not selectors.entitlement(user=subscription.user).entitled


def test_auto_renewal_appends_the_next_period_back_to_back(plans):
    subscription = paid_subscription()
    end = subscription.period_end
    charged = renewals_charge(now=end - timedelta(hours=2))
    assert charged == 1
    assert set(deliver_pending()) == {"ok"}
    subscription.refresh_from_db()
    assert subscription.period_end == end + timedelta(days=365)
    periods = list(subscription.periods.order_by("start"))
    assert periods[1].start == periods[0].end  # no gap
    assert selectors.entitlement(user=subscription.user, at=end).entitled
    assert renewals_charge(now=end - timedelta(hours=1)) == 0  # once per period
    assert Payment.objects.filter(subscription=subscription, kind="renewal").count() == 1
    # the meter rolls over when the new period begins
    subscription_savings_add(subscription_id=subscription.pk, amount_fen=2500)
    subscriptions_advance(now=end + timedelta(minutes=1))
    subscription.refresh_from_db()
    assert subscription.state == "active" and subscription.period_start == end and subscription.savings_fen == 0
    assert periods[0].__class__.objects.get(pk=periods[0].pk).savings_fen == 2500


def test_auto_renew_off_means_no_renewal_charge(plans):
    subscription = paid_subscription()
    subscription_set_auto_renew(user=subscription.user, auto_renew=False)
    assert renewals_charge(now=subscription.period_end - timedelta(hours=2)) == 0


def test_reminders_seven_days_and_one_day_before_once_each(plans):
    subscription = paid_subscription()
    mail.outbox.clear()
    end = subscription.period_end
    assert reminders_send(now=end - timedelta(days=6)) == 1
    assert reminders_send(now=end - timedelta(days=5)) == 0
    assert reminders_send(now=end - timedelta(hours=20)) == 1
    notices = Notification.objects.filter(user=subscription.user, kind="members.expiry_reminder")
    assert notices.count() == 2


def test_savings_meter_reads_redemption_totals(plans):
    subscription = paid_subscription()
    assert selectors.member_savings(user=subscription.user).saved_fen == 0
    subscription_savings_add(subscription_id=subscription.pk, amount_fen=21240)
    subscription_savings_add(subscription_id=subscription.pk, amount_fen=-1000)
    savings = selectors.member_savings(user=subscription.user)
    assert (savings.saved_fen, savings.fee_fen, savings.currency) == (20240, 16800, "CNY")


def test_extend_appends_days(plans):
    subscription = paid_subscription()
    end = subscription.period_end
    subscription_extend(subscription_id=subscription.pk, days=10, reason="goodwill", actor="op")
    subscription.refresh_from_db()
    assert subscription.period_end == end + timedelta(days=10)
    with pytest.raises(DomainError) as refusal:
        subscription_extend(subscription_id=subscription.pk, days=0, reason="x", actor="op")
    assert refusal.value.code == "extension_days_invalid"


def test_sandbox_close_prevents_paying_an_abandoned_order(plans):
    payment = pending_subscription()
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(hours=1))
    counts = payments_reconcile()
    assert counts == {"failed": 1}
    payment.refresh_from_db()
    assert payment.state == "failed" and payment.subscription.state == "payment_failed"
    with pytest.raises(DomainError) as refusal:
        sandbox.pay(sandbox_order(payment))
    assert refusal.value.code == "sandbox_order_closed"
    # and the member can start again
    again = checkout_start(user=payment.subscription.user, plan_code="annual")
    assert again.subscription_id != payment.subscription_id


def test_subscription_changes_are_sent_to_partner_webhooks(plans):
    from core.models import WebhookEndpoint, WebhookEvent
    from tests.factories import PartnerApplicationFactory

    WebhookEndpoint.objects.create(
        application=PartnerApplicationFactory(), url="https://partner.example/hooks", event_types=[]
    )
    subscription = paid_subscription()
    subscription_cancel(user=subscription.user)
    types = list(WebhookEvent.objects.order_by("pk").values_list("type", flat=True))
    assert types == ["subscription.active", "subscription.cancel_at_period_end"]
    payload = WebhookEvent.objects.last().payload["data"]
    assert payload["subscription"] == str(subscription.public_id)
    assert payload["member"] == str(subscription.user.public_id)


def test_trial_member_buys_the_card_in_one_tap_and_the_paid_year_follows_the_trial(plans):
    trial = trial_start(user=UserFactory())
    trial_end = trial.period_end
    payment = checkout_start(user=trial.user, plan_code="annual")
    assert payment.subscription_id == trial.pk and payment.plan.code == "annual"
    assert payment.checkout_url.startswith("/membership/sandbox/checkout/")
    # the trial keeps working while the payment is on its way
    assert selectors.entitlement(user=trial.user).entitled
    assert checkout_start(user=trial.user, plan_code="annual").pk == payment.pk  # one order, not two
    sandbox.pay(sandbox_order(payment))
    assert set(deliver_pending()) == {"ok"}
    trial.refresh_from_db()
    assert trial.state == "active" and trial.plan.code == "annual" and trial.auto_renew
    periods = list(trial.periods.order_by("start"))
    assert [p.kind for p in periods] == ["trial", "paid"]
    assert periods[1].start == periods[0].end == trial_end  # no gap, no overlap
    assert periods[1].end == trial_end + timedelta(days=365) == trial.period_end
    assert periods[1].payment_id == payment.pk
    assert selectors.entitlement(user=trial.user, at=trial_end - timedelta(seconds=1)).entitled
    assert selectors.entitlement(user=trial.user, at=trial_end).entitled
    assert selectors.trial_used(user=trial.user)
    with pytest.raises(DomainError):
        trial_start(user=trial.user)
    # the savings meter rolls over when the paid year begins; the trial card is counted as converted
    subscriptions_advance(now=trial_end + timedelta(minutes=1))
    trial.refresh_from_db()
    assert trial.state == "active" and trial.period_start == trial_end
    kpis = selectors.member_kpis(now=trial_end + timedelta(days=1))
    assert kpis["trials_ended"] == 1 and kpis["trials_converted"] == 1
    # it renews like any paid card
    assert renewals_charge(now=trial.period_end - timedelta(hours=2)) == 1


def test_a_declined_upgrade_leaves_the_trial_as_it_was(plans):
    trial = trial_start(user=UserFactory())
    payment = checkout_start(user=trial.user, plan_code="annual")
    sandbox.decline(sandbox_order(payment))
    deliver_pending()
    payments_reconcile(now=timezone.now() + timedelta(hours=1))  # times out and closes the order
    payment.refresh_from_db()
    trial.refresh_from_db()
    assert payment.state == "failed"
    assert trial.state == "trialing" and trial.plan.code == "trial" and trial.periods.count() == 1
    # and the member can try again
    again = checkout_start(user=trial.user, plan_code="annual")
    assert again.pk != payment.pk and again.subscription_id == trial.pk


def test_reminders_fire_again_in_the_second_year(plans):
    subscription = paid_subscription()
    end = subscription.period_end
    assert reminders_send(now=end - timedelta(days=6)) == 1
    assert reminders_send(now=end - timedelta(hours=20)) == 1
    assert renewals_charge(now=end - timedelta(hours=2)) == 1
    assert set(deliver_pending()) == {"ok"}
    subscriptions_advance(now=end + timedelta(minutes=1))
    # year two: the member switches auto-renew off and must hear before the card ends
    subscription_set_auto_renew(user=subscription.user, auto_renew=False)
    subscription.refresh_from_db()
    year_two_end = subscription.period_end
    assert year_two_end == end + timedelta(days=365)
    assert reminders_send(now=year_two_end - timedelta(days=6)) == 1
    assert reminders_send(now=year_two_end - timedelta(days=5)) == 0
    assert reminders_send(now=year_two_end - timedelta(hours=20)) == 1
    notices = Notification.objects.filter(user=subscription.user, kind="members.expiry_reminder")
    assert notices.count() == 4
    assert "续费即可继续享受折扣" in notices.first().body  # year two: it says the card will not renew by itself


def test_without_auto_renew_the_reminder_leads_to_a_one_tap_renewal(plans):
    from members.services.checkout import renewal_checkout_start

    subscription = paid_subscription()
    subscription_set_auto_renew(user=subscription.user, auto_renew=False)
    with pytest.raises(DomainError) as refusal:
        renewal_checkout_start(user=subscription.user)  # a year ahead: too early
    assert refusal.value.code == "renewal_too_early"
    end = subscription.period_end
    Subscription.objects.filter(pk=subscription.pk).update(
        period_start=F("period_start") - timedelta(days=340), period_end=F("period_end") - timedelta(days=340)
    )
    subscription.refresh_from_db()
    end = subscription.period_end
    assert reminders_send(now=end - timedelta(days=6)) == 1
    notice = Notification.objects.get(user=subscription.user, kind="members.expiry_reminder")
    assert notice.url == "/membership/#renew"
    payment = renewal_checkout_start(user=subscription.user)
    assert payment.kind == "renewal" and payment.period_start == end and payment.checkout_url
    assert renewal_checkout_start(user=subscription.user).pk == payment.pk  # a second tap: the same order
    sandbox.pay(sandbox_order(payment))
    assert set(deliver_pending()) == {"ok"}
    subscription.refresh_from_db()
    assert subscription.period_end == end + timedelta(days=365) and subscription.state == "active"
    assert subscription.periods.filter(kind="renewal", start=end).count() == 1
    with pytest.raises(DomainError) as refusal:
        renewal_checkout_start(user=subscription.user)
    assert refusal.value.code == "renewal_too_early"  # the next year is paid
    assert renewals_charge(now=end - timedelta(hours=2)) == 0  # nothing charged twice
