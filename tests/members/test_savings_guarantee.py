"""The savings guarantee (省不回年费，退差价) as plan data: the meter's state all year, the difference refunded
through the refund ledger at the end of a paid year exactly once (a rerun, a run killed midway, runs at
once), trials and refunded years excluded, and the operations overview's forecast."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import Notification
from curation.ops.selectors import ops_figures
from members import selectors
from members.models import GuaranteeSettlement, Plan, Refund, SandboxRefund, Subscription, SubscriptionPeriod
from members.services import guarantee as guarantee_services
from members.services.guarantee import GRACE, guarantee_settle_one, guarantees_settle
from members.services.refunds import refunds_reconcile, subscription_refund
from tests.factories import UserFactory
from tests.factories.events import member as trial_member
from tests.factories.members import PlanFactory, paid_subscription
from tests.threads import together


def guaranteed_card(saved_fen: int = 0) -> Subscription:
    PlanFactory()
    Plan.objects.filter(code="annual").update(savings_guarantee=True)  # the plan data
    subscription = paid_subscription(UserFactory())
    Subscription.objects.filter(pk=subscription.pk).update(savings_fen=saved_fen)
    subscription.refresh_from_db()
    return subscription


def year_of(subscription: Subscription) -> SubscriptionPeriod:
    return SubscriptionPeriod.objects.get(subscription=subscription, payment__isnull=False)


def after_the_year(subscription: Subscription):
    return year_of(subscription).end + GRACE + timedelta(seconds=1)


@pytest.mark.django_db
def test_the_meter_shows_the_guarantee_on_track_below_or_covered_all_year(client):
    subscription = guaranteed_card(saved_fen=2000)
    year = year_of(subscription)
    assert year.guaranteed
    early = selectors.guarantee_meter(subscription=subscription, at=year.start + timedelta(days=10))
    # 10 days in, ¥20 saved: the first 30 days count as gone, ¥20 × 365/30 ≈ ¥243 projected: on track.
    assert (early.state, early.due_now_fen, early.expected_fen) == ("on_track", 14800, 0)
    late = selectors.guarantee_meter(subscription=subscription, at=year.start + timedelta(days=300))
    assert (late.state, late.projected_fen, late.expected_fen) == ("below", 2433, 14367)
    client.force_login(subscription.user)
    page = client.get(reverse("members:membership")).content.decode()
    assert 'id="savings-guarantee"' in page and "guarantee-on_track" in page
    Subscription.objects.filter(pk=subscription.pk).update(savings_fen=17000)
    subscription.refresh_from_db()
    assert selectors.guarantee_meter(subscription=subscription).state == "covered"
    card = client.get(reverse("redemptions:card")).content.decode()
    assert "guarantee-covered" in card
    # A plan without the guarantee, and a trial, show none.
    PlanFactory(code="plain", price_fen=9900)
    plain = paid_subscription(UserFactory(), plan_code="plain")
    assert not year_of(plain).guaranteed and selectors.guarantee_meter(subscription=plain) is None
    trial = Subscription.objects.get(user=trial_member())
    assert selectors.guarantee_meter(subscription=trial) is None


@pytest.mark.django_db
def test_a_year_below_the_fee_gets_the_difference_back_once_with_the_reason_and_a_notice():
    subscription = guaranteed_card(saved_fen=5000)
    year = year_of(subscription)
    assert guarantees_settle(now=year.end + GRACE - timedelta(seconds=1)) == {}  # not before the grace
    assert guarantees_settle(now=after_the_year(subscription)) == {"refunded": 1}
    refund = Refund.objects.get()
    assert (refund.kind, refund.amount_fen, refund.state) == ("guarantee", 11800, "succeeded")
    assert refund.reason == "savings guarantee: saved ¥50.00 of the ¥168.00 fee"
    assert refund.request_key == f"guarantee:{year.pk}"
    settlement = GuaranteeSettlement.objects.get()
    assert (settlement.fee_fen, settlement.saved_fen, settlement.due_fen, settlement.refund) == (
        16800,
        5000,
        11800,
        refund,
    )
    notice = Notification.objects.get(user=subscription.user, kind="members.guarantee_refunded")
    assert "118" in notice.body
    assert SandboxRefund.objects.get().amount_fen == 11800
    # Run again, and again for this year alone: nothing more.
    assert guarantees_settle(now=after_the_year(subscription) + timedelta(days=1)) == {}
    assert guarantee_settle_one(period_id=year.pk, now=after_the_year(subscription)) is None
    assert Refund.objects.count() == 1 and SandboxRefund.objects.count() == 1


@pytest.mark.django_db
def test_covered_years_trials_refunded_years_and_plans_without_the_guarantee_pay_nothing():
    covered = guaranteed_card(saved_fen=16800)
    refunded = guaranteed_card(saved_fen=0)
    subscription_refund(subscription_id=refunded.pk, mode="full", reason="asked", actor="op")
    PlanFactory(code="plain", price_fen=9900)
    plain = paid_subscription(UserFactory(), plan_code="plain")
    trial_member()
    later = max(after_the_year(covered), after_the_year(refunded), after_the_year(plain)) + timedelta(days=100)
    assert guarantees_settle(now=later) == {"covered": 1, "excluded": 1}
    outcomes = dict(GuaranteeSettlement.objects.values_list("subscription_id", "outcome"))
    assert outcomes == {covered.pk: "covered", refunded.pk: "excluded"}
    assert not Refund.objects.filter(kind="guarantee").exists()


@pytest.mark.django_db
def test_a_job_killed_midway_and_run_again_refunds_each_member_once(monkeypatch):
    cards = [guaranteed_card(saved_fen=1000 * n) for n in range(3)]
    later = max(after_the_year(c) for c in cards)
    real_submit = guarantee_services.refunds_submit

    def killed(**kwargs):
        raise SystemExit("worker killed")  # after the first year's commit, before its gateway call

    monkeypatch.setattr(guarantee_services, "refunds_submit", killed)
    with pytest.raises(SystemExit):
        guarantees_settle(now=later)
    assert GuaranteeSettlement.objects.count() == 1
    assert Refund.objects.get().state == "requested" and not SandboxRefund.objects.exists()

    monkeypatch.setattr(guarantee_services, "refunds_submit", real_submit)
    assert guarantees_settle(now=later) == {"refunded": 2}
    assert guarantees_settle(now=later) == {}
    assert refunds_reconcile(now=timezone.now() + timedelta(minutes=2)) == {"succeeded": 1}  # the killed one
    by_card = dict(Refund.objects.values_list("subscription_id", "amount_fen"))
    assert by_card == {cards[0].pk: 16800, cards[1].pk: 15800, cards[2].pk: 14800}
    assert sorted(SandboxRefund.objects.values_list("amount_fen", flat=True)) == [14800, 15800, 16800]
    assert set(Refund.objects.values_list("state", flat=True)) == {"succeeded"}


@pytest.mark.django_db(transaction=True)
def test_jobs_running_at_once_refund_each_member_once():
    cards = [guaranteed_card(saved_fen=100 * n) for n in range(4)]
    later = max(after_the_year(c) for c in cards)
    outcomes = together([lambda: guarantees_settle(now=later) for _ in range(3)])
    assert sum(o.get("refunded", 0) for o in outcomes) == 4, outcomes
    assert GuaranteeSettlement.objects.count() == 4
    assert Refund.objects.filter(kind="guarantee").count() == 4 == SandboxRefund.objects.count()
    assert sorted(Refund.objects.values_list("amount_fen", flat=True)) == [16500, 16600, 16700, 16800]


@pytest.mark.django_db
def test_the_operations_overview_forecasts_the_guarantees_cost():
    claiming = [guaranteed_card(saved_fen=0), guaranteed_card(saved_fen=4000)]
    guaranteed_card(saved_fen=17000)  # covered
    now = year_of(claiming[0]).start + timedelta(days=73)  # a fifth of the year
    figures = {f.key: f for f in ops_figures(now=now).figures}
    # ¥40 in a fifth of the year → ¥200 projected: on track. ¥0 → ¥168 back.
    assert figures["guarantee_claimants"].raw == 1
    assert figures["guarantee_payout"].raw == 16800
    assert figures["guarantee_payout"].value == "¥168.00"


@pytest.mark.django_db
def test_the_api_gives_the_guarantees_state(api_client):
    subscription = guaranteed_card(saved_fen=0)
    api_client.force_login(subscription.user)
    savings = api_client.get(reverse("api-members-me")).json()["savings"]
    assert savings["guarantee"]["state"] == "below" and savings["guarantee"]["due_now_fen"] == 16800


@pytest.mark.django_db
def test_a_voided_visit_does_not_count_towards_the_years_savings():
    from redemptions.counter.selectors import merchant_by_public_id
    from redemptions.counter.services import Counter, redemption_confirm, redemption_void
    from tests.factories.redemptions import code_of, shop, staff_of

    subscription = guaranteed_card()
    merchant = merchant_by_public_id(public_id=shop().public_id)
    counter = Counter(staff=staff_of(merchant))
    kept = redemption_confirm(merchant=merchant, counter=counter, bill=10000, code=code_of(subscription.user).qr)
    subscription.refresh_from_db()
    assert subscription.savings_fen == kept.discount_fen > 0
    redemption_void(redemption=kept, actor="staff", reason="wrong bill")
    subscription.refresh_from_db()
    assert subscription.savings_fen == 0
    assert guarantees_settle(now=after_the_year(subscription)) == {"refunded": 1}
    assert Refund.objects.get(kind="guarantee").amount_fen == 16800  # the voided saving does not count
