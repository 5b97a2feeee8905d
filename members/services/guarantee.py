"""The savings guarantee (省不回年费，退差价) at the end of each paid year.

A paid year (a :class:`SubscriptionPeriod` with a payment) bought on a plan with ``savings_guarantee`` is
``guaranteed``. When it has ended (and :data:`GRACE` has passed, so that the last day's voids and late
confirmations have landed), the job settles it once: the savings recorded for that year (the meter: the
subscription's while the year is still the one in force, the archived period's after the roll-over; voided
redemptions were taken off the meter when voided) against the fee paid. Below the fee, the difference goes
back through the refund ledger (a :class:`Refund` of kind ``guarantee`` under the request key
``guarantee:<period>``, sent after commit, settled and retried like every refund) and the member is told.

Exactly once: the :class:`GuaranteeSettlement` row is one-to-one with the year and written in the same
transaction as the refund entry, under the subscription's row lock; a second run (or a run racing this
one) finds it and does nothing, and a run killed after the commit leaves a ``requested`` entry that the
refunds' reconciliation job sends under the same number. Trials (no payment), years whose payment was
refunded and refunded cards are excluded (settled as ``excluded``, nothing paid).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from core.db import violates
from core.services import audit_record, notify

from ..models import GuaranteeSettlement, Payment, Refund, SubscriptionPeriod, SubscriptionState
from .common import MEMBERSHIP_URL, _locked_subscription, _now, yuan
from .refunds import _refund_write, refunds_submit

logger = logging.getLogger(__name__)

#: A year is settled this long after it ended.
GRACE = timedelta(days=1)
ACTOR = "system:savings_guarantee"
Outcome = GuaranteeSettlement.Outcome


def _year_savings(period: SubscriptionPeriod) -> int:
    """The savings recorded for ``period`` (caller holds the subscription's lock)."""
    subscription = period.subscription
    if subscription.period_start == period.start:  # still the year on the meter (not rolled over)
        return subscription.savings_fen
    return period.savings_fen


def guarantee_settle_one(*, period_id: int, now: datetime | None = None) -> str | None:
    """Settle one guaranteed year that has ended. Returns the outcome, or None when it was settled
    already (by an earlier or a concurrent run) or is not due."""
    now = now or _now()
    refunds: list[Refund] = []
    with transaction.atomic():
        period = SubscriptionPeriod.objects.select_related("payment").get(pk=period_id)
        period.subscription = _locked_subscription(period.subscription_id)
        if not period.guaranteed or period.payment is None or period.end > now - GRACE:
            return None
        if GuaranteeSettlement.objects.filter(period=period).exists():
            return None
        payment = Payment.objects.select_for_update().get(pk=period.payment.pk)
        fee = payment.amount_fen
        saved = _year_savings(period)
        excluded = (
            payment.state != Payment.State.PAID
            or payment.refunded_fen > 0
            or period.subscription.state == SubscriptionState.REFUNDED
        )
        due = 0 if excluded else max(0, fee - max(0, saved))
        outcome = Outcome.EXCLUDED if excluded else Outcome.REFUNDED if due else Outcome.COVERED
        reason = f"savings guarantee: saved {yuan(max(0, saved))} of the {yuan(fee)} fee"
        try:
            with transaction.atomic():
                if due:
                    refunds = _refund_write(
                        subscription=period.subscription,
                        allocations=[(payment, due)],
                        kind=Refund.Kind.GUARANTEE,
                        reason=reason,
                        actor=ACTOR,
                        request_key=f"guarantee:{period.pk}",
                    )
                settlement = GuaranteeSettlement.objects.create(
                    period=period,
                    subscription=period.subscription,
                    fee_fen=fee,
                    saved_fen=saved,
                    due_fen=due,
                    outcome=outcome,
                    refund=refunds[0] if refunds else None,
                    settled_at=now,
                )
        except IntegrityError as exc:  # another run settled it between our check and our insert
            if violates(exc, "members_guaranteesettlement_period_id_key"):
                return None
            raise
        audit_record(
            actor=ACTOR,
            action="members.guarantee_settled",
            obj=period.subscription,
            reason=reason,
            after={"period": period.pk, "fee_fen": fee, "saved_fen": saved, "due_fen": due, "outcome": outcome},
        )
        if due:
            notify(
                user=period.subscription.user,
                kind="members.guarantee_refunded",
                title=_("Your RedCard's savings guarantee: %(amount)s back"),
                body=_(
                    "This year you saved %(saved)s with your card, less than the %(fee)s fee, so the difference "
                    "(%(amount)s) is on its way back to you."
                ),
                url=MEMBERSHIP_URL,
                context={"amount": yuan(due), "saved": yuan(max(0, saved)), "fee": yuan(fee)},
            )
        logger.info("savings guarantee settled: period %s %s %s", period.pk, settlement.outcome, due)
    if refunds:  # committed: now the gateway (a crash here leaves a requested entry the job sends)
        refunds_submit(refunds=refunds)
    return str(outcome)


def guarantees_settle(*, now: datetime | None = None, limit: int = 5000) -> dict[str, int]:
    """The year-end job: settle every guaranteed year that ended more than :data:`GRACE` ago and has no
    settlement yet. Safe to run again and to run twice at once (each year is settled once)."""
    now = now or _now()
    due = (
        SubscriptionPeriod.objects.filter(
            guaranteed=True, payment__isnull=False, end__lte=now - GRACE, guarantee_settlement__isnull=True
        )
        .order_by("end", "pk")
        .values_list("pk", flat=True)
    )
    counts: dict[str, int] = {}
    for period_id in list(due[:limit]):
        outcome = guarantee_settle_one(period_id=period_id, now=now) or "already_settled"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
