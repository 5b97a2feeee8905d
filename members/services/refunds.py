"""Refunds: quotes, allocation over payments and the refund ledger."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from core.services import Actor, actor_label, audit_record, notify

from .. import errors  # noqa: F401  (registers the codes)
from ..models import (
    PAID_STATES,
    Payment,
    Refund,
    Subscription,
    SubscriptionPeriod,
)
from ..payments import get_provider
from ..payments.base import RefundRequest
from .common import MEMBERSHIP_URL, S, _locked_subscription, _now, _transition, yuan

# --- refunds ------------------------------------------------------------------------------


def amount_due(
    *, amount_fen: int, refunded_fen: int, start: datetime | None, end: datetime | None, mode: str, at: datetime
) -> int:
    """What is due on one payment: all that remains (full), or the unused days of the period it
    bought (prorated; a started day counts as unused and the fen is rounded up: in the member's
    favour), never more than remains."""
    remaining = amount_fen - refunded_fen
    if mode == Refund.Kind.FULL or start is None or end is None or at <= start:
        return remaining
    if at >= end:
        return 0
    total_days = max(1, round((end - start).total_seconds() / 86400))
    unused_days = min(total_days, math.ceil((end - at).total_seconds() / 86400))
    return min(remaining, -(-amount_fen * unused_days // total_days))


def _quote(payment: Payment, period: SubscriptionPeriod | None, mode: str, at: datetime) -> int:
    return amount_due(
        amount_fen=payment.amount_fen,
        refunded_fen=payment.refunded_fen,
        start=period.start if period else None,
        end=period.end if period else None,
        mode=mode,
        at=at,
    )


def refund_quote(*, subscription: Subscription, mode: str, at: datetime | None = None) -> int:
    """The total a refund of ``mode`` would return now (for admin forms and dry runs)."""
    at = at or _now()
    payments = subscription.payments.filter(state=Payment.State.PAID).select_related("period")
    return sum(_quote(p, getattr(p, "period", None), mode, at) for p in payments)


def _allocate(
    payments: Sequence[Payment],
    periods: dict[int | None, SubscriptionPeriod],
    mode: str,
    at: datetime,
    amount: int | None,
) -> list[tuple[Payment, int]]:
    if amount is None:
        return [(p, q) for p in payments if (q := _quote(p, periods.get(p.pk), mode, at)) > 0]
    allocations = []
    left = amount
    for payment in sorted(payments, key=lambda p: p.pk, reverse=True):
        take = min(left, payment.amount_fen - payment.refunded_fen)
        if take > 0:
            allocations.append((payment, take))
            left -= take
    if left > 0:
        raise DomainError("refund_exceeds_paid")
    return allocations


def subscription_refund(
    *,
    subscription_id: int,
    mode: str,
    reason: str,
    actor: Actor,
    request_key: str | None = None,
    amount_fen: int | None = None,
    at: datetime | None = None,
) -> list[Refund]:
    """Refund a paid subscription (full, prorated by unused days, or an explicit amount) and
    end it. One ledger row per payment refunded; the payment's ``refunded_fen`` counter goes up
    under its row lock and the database refuses a total above the amount.

    Raises ``refund_reason_required``, ``subscription_not_found``, ``subscription_already_refunded``,
    ``subscription_not_paid``, ``refund_exceeds_paid``, ``refund_nothing_due``."""
    if not reason or not reason.strip():
        raise DomainError("refund_reason_required")
    if mode not in Refund.Kind.values:
        raise DomainError("validation_failed")
    if amount_fen is not None and amount_fen <= 0:
        raise DomainError("refund_nothing_due")
    at = at or _now()
    request_key = request_key or uuid.uuid4().hex
    with transaction.atomic():
        subscription = _locked_subscription(subscription_id)
        if subscription.state == S.REFUNDED:
            raise DomainError("subscription_already_refunded")
        payments = list(
            Payment.objects.select_for_update()
            .filter(subscription=subscription, state=Payment.State.PAID)
            .order_by("pk")
        )
        if subscription.state not in PAID_STATES or not payments:
            raise DomainError("subscription_not_paid")
        periods: dict[int | None, SubscriptionPeriod] = {
            p.payment_id: p for p in SubscriptionPeriod.objects.filter(payment__in=payments)
        }
        allocations = _allocate(payments, periods, mode, at, amount_fen)
        if not allocations:
            raise DomainError("refund_nothing_due")
        refunds = _refund_write(
            subscription=subscription,
            allocations=allocations,
            kind=mode,
            reason=reason,
            actor=actor,
            request_key=request_key,
        )
        total = sum(r.amount_fen for r in refunds)
        _transition(
            subscription,
            S.REFUNDED,
            actor=actor,
            reason=reason,
            ended_at=at,
            auto_renew=False,
        )
        notify(
            user=subscription.user,
            kind="members.refunded",
            title=_("Your RedCard was refunded"),
            body=_("%(amount)s is on its way back to you. Reason: %(reason)s"),
            url=MEMBERSHIP_URL,
            context={"amount": yuan(total), "reason": reason},
        )
    return refunds


REFUND_NAMESPACE = uuid.UUID("5f0c3a52-6b0e-4d8e-9a57-1f3c8a0de7b1")


def refund_id(request_key: str, payment: Payment) -> uuid.UUID:
    """Our refund number (``out_refund_no`` at the provider), derived from the request key and
    the payment: a retry after a crash sends the same number and the gateway refunds once."""
    return uuid.uuid5(REFUND_NAMESPACE, f"{request_key}:{payment.public_id}")


def _refund_write(
    *,
    subscription: Subscription,
    allocations: Sequence[tuple[Payment, int]],
    kind: str,
    reason: str,
    actor: Actor,
    request_key: str,
) -> list[Refund]:
    provider_refunds = []
    refunds = []
    for payment, amount in allocations:
        try:
            with transaction.atomic():
                refund = Refund.objects.create(
                    public_id=refund_id(request_key, payment),
                    payment=payment,
                    subscription=subscription,
                    kind=kind,
                    amount_fen=amount,
                    currency=payment.currency,
                    reason=reason,
                    request_key=request_key,
                    actor_label=actor_label(actor)[:120],
                )
                Payment.objects.filter(pk=payment.pk).update(refunded_fen=F("refunded_fen") + amount)
        except IntegrityError:
            raise DomainError("refund_exceeds_paid") from None
        refunds.append(refund)
        provider_refunds.append(
            RefundRequest(
                out_trade_no=str(payment.public_id),
                out_refund_no=str(refund.public_id),
                amount_fen=amount,
                currency=payment.currency,
            )
        )
        audit_record(
            actor=actor,
            action="members.refund_issued",
            obj=payment,
            reason=reason,
            after={"refund": str(refund.public_id), "amount_fen": amount, "kind": kind},
        )
    ids = get_provider(allocations[0][0].provider).refund_many(requests=provider_refunds)
    for refund, provider_id in zip(refunds, ids, strict=True):
        refund.provider_refund_id = provider_id
        refund.save(update_fields=["provider_refund_id"])
    return refunds


def payment_refund_flagged(*, payment_id: int, reason: str, actor: Actor) -> Refund:
    """Return the money of a paid payment that was flagged (e.g. paid after its order closed)
    without touching the subscription. Raises ``subscription_not_paid`` or ``refund_nothing_due``."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.flagged_at is None or payment.state != Payment.State.PAID:
            raise DomainError("subscription_not_paid")
        remaining = payment.amount_fen - payment.refunded_fen
        if remaining <= 0:
            raise DomainError("refund_nothing_due")
        subscription = _locked_subscription(payment.subscription_id)
        return _refund_write(
            subscription=subscription,
            allocations=[(payment, remaining)],
            kind=Refund.Kind.FULL,
            reason=reason or "flagged payment returned",
            actor=actor,
            request_key=f"flagged:{payment.public_id}",
        )[0]
