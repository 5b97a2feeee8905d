"""Members factories. Paid subscriptions are made through the real path (checkout, the sandbox
gateway's payment, the signed notification) so that the ledger is what production would hold."""

from __future__ import annotations

import factory

from members.models import Payment, Plan, SandboxOrder, Subscription
from members.payments import sandbox
from members.services.checkout import checkout_start, payment_sync

from .core import UserFactory


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan
        django_get_or_create = ("code",)

    code = "annual"
    name_zh = "年卡"
    name_en = "Annual card"
    price_fen = 16800
    duration_days = 365
    is_trial = False


class TrialPlanFactory(PlanFactory):
    code = "trial"
    name_zh = "90天体验卡"
    name_en = "90-day trial"
    price_fen = 0
    duration_days = 90
    is_trial = True


def sandbox_order(payment: Payment) -> SandboxOrder:
    return SandboxOrder.objects.get(out_trade_no=str(payment.public_id))


def pending_subscription(user=None, plan_code: str = "annual") -> Payment:
    """A member who chose a plan and was sent to the checkout page (not paid yet)."""
    PlanFactory()
    return checkout_start(user=user or UserFactory(), plan_code=plan_code)


def paid_subscription(user=None, plan_code: str = "annual") -> Subscription:
    """An active card paid through the sandbox (notification delivered inline)."""
    payment = pending_subscription(user, plan_code)
    sandbox.pay(sandbox_order(payment))
    payment_sync(payment=payment)  # in case the notification waits for a commit
    return Subscription.objects.get(pk=payment.subscription_id)


def deliver_pending() -> list[str]:
    """Deliver the sandbox's queued notifications now (in tests the on-commit hooks never fire)."""
    from members.models import SandboxEvent

    ids = SandboxEvent.objects.filter(delivered_at__isnull=True, hold=False).order_by("pk").values_list("pk", flat=True)
    return [sandbox.deliver(pk) for pk in list(ids)]
