"""Demo members in each state, with payments and a refund (added to ``seed_demo``)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from core.demo import DEMO_PASSWORD, demo_user
from core.localtime import programme_day
from core.models import Notification
from core.services import reader_text

from .models import Payment, Plan, SandboxOrder, Subscription, SubscriptionPeriod
from .payments import sandbox
from .services.checkout import checkout_start, payment_sync, payments_reconcile
from .services.common import programme_get
from .services.refunds import subscription_refund
from .services.subscriptions import seed_default_plans, subscription_cancel, subscriptions_advance, trial_start


def _paid_member(email: str, name: str) -> Subscription:
    user = demo_user(email, display_name=name)
    current = Subscription.objects.filter(user=user).first()
    if current is not None:
        return current
    payment = checkout_start(user=user, plan_code="annual")
    sandbox.pay(SandboxOrder.objects.get(out_trade_no=str(payment.public_id)))
    payment_sync(payment=payment, actor="system:demo")
    return Subscription.objects.get(pk=payment.subscription_id)


def _move_notices(subscription: Subscription, shift: timedelta) -> None:
    """The member's notices move with the history they tell of: the time they were sent, and the card's end
    date they state (the same date the membership page reads from the subscription)."""
    user = subscription.user
    if subscription.period_end is None:
        return
    old_end = reader_text(programme_day(subscription.period_end), language=user.language)
    subscription.refresh_from_db(fields=["period_end"])
    new_end = reader_text(programme_day(subscription.period_end or timezone.now()), language=user.language)
    for notice in Notification.objects.filter(user=user):
        notice.created_at -= shift
        notice.title, notice.body = notice.title.replace(old_end, new_end), notice.body.replace(old_end, new_end)
        notice.save(update_fields=["created_at", "title", "body"])


def seed(out: list[tuple[str, str, str]]) -> None:
    seed_default_plans()  # a flushed test database lacks the migration's rows
    # The demo sells the annual card with the savings guarantee (plan data: Admin → Plans), so its paid
    # members' meters show it.
    Plan.objects.filter(code="annual").update(savings_guarantee=True)
    if not programme_get().sales_open:
        return  # a suspended programme sells nothing, not even to the demo
    active = _paid_member("member@redcard.local", "会员 Wang")
    if active.period_start and active.period_start > timezone.now() - timedelta(days=1):
        # A member of six weeks: the demo visits of the last weeks fall inside the paid period.
        shift = timedelta(days=42)
        Subscription.objects.filter(pk=active.pk).update(
            period_start=F("period_start") - shift, period_end=F("period_end") - shift
        )
        SubscriptionPeriod.objects.filter(subscription=active).update(start=F("start") - shift, end=F("end") - shift)
        Payment.objects.filter(subscription=active).update(
            created_at=F("created_at") - shift, paid_at=F("paid_at") - shift, period_start=F("period_start") - shift
        )
        _move_notices(active, shift)

    cancelling = _paid_member("cancelling@redcard.local", "会员 Zhao")
    if cancelling.state == Subscription.State.ACTIVE:
        subscription_cancel(user=cancelling.user)

    refunded = _paid_member("refunded@redcard.local", "会员 Sun")
    if refunded.state == Subscription.State.ACTIVE:
        subscription_refund(
            subscription_id=refunded.pk, mode="prorated", reason="演示：会员申请退款", actor="system:demo"
        )

    expired = _paid_member("expired@redcard.local", "会员 Qian")
    if expired.state == Subscription.State.ACTIVE:
        past = timezone.now() - timedelta(days=1)
        Subscription.objects.filter(pk=expired.pk).update(period_start=past - timedelta(days=365), period_end=past)
        SubscriptionPeriod.objects.filter(subscription=expired).update(start=past - timedelta(days=365), end=past)
        subscriptions_advance()

    trial_user = demo_user("trial@redcard.local", display_name="体验 Zhou")
    if not Subscription.objects.filter(user=trial_user).exists():
        trial_start(user=trial_user)

    pending_user = demo_user("pending@redcard.local", display_name="待付 Wu")
    if not Subscription.objects.filter(user=pending_user).exists():
        checkout_start(user=pending_user, plan_code="annual")

    failed_user = demo_user("failed@redcard.local", display_name="失败 Zheng")
    if not Subscription.objects.filter(user=failed_user).exists():
        payment = checkout_start(user=failed_user, plan_code="annual")
        Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(hours=1))
        payments_reconcile()

    no_card = demo_user("nocard@redcard.local", display_name="新人 Lin")
    out.append(("member (active card)", active.user.email, DEMO_PASSWORD))
    out.append(("member (no card)", no_card.email, DEMO_PASSWORD))
    out.append(("member (cancelling)", cancelling.user.email, DEMO_PASSWORD))
    out.append(("member (refunded)", refunded.user.email, DEMO_PASSWORD))
    out.append(("member (trial)", trial_user.email, DEMO_PASSWORD))


def seed_after(out: list[tuple[str, str, str]]) -> None:
    """Member events take place at demo shops, which exist only after the merchants' demo."""
    from .events.demo import seed as seed_events

    seed_events(out)
