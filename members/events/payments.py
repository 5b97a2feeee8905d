"""Paid places of member events, through the same payment provider interface as the card
(``members.payments``): a checkout per registration, settlement from the provider's notification, the
return page or the reconciliation job, the place released when the payment fails or never comes, and
one refund per paid place (cancelled before the cut-off, or the event cancelled).

Order of work, as for the card: the payment (or refund) row is written and committed first, the
provider is called outside any transaction, and its answer is applied in a new transaction under the
event's row lock. A refund is a one-to-one row of its payment, so it is issued exactly once however
many cancellations race.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import webhooks
from core.errors import DomainError
from core.services import audit_record, notify

from ..models import Event, EventPayment, EventRefund, EventRegistration, RegistrationState
from ..payments import get_provider
from ..payments.base import RefundRequest, Transaction

logger = logging.getLogger(__name__)
State = RegistrationState

#: A pending event payment is asked about at the provider after this long ...
RECONCILE_AFTER = timedelta(minutes=2)
#: ... and the place is released (the order closed) after this long without payment.
PAYMENT_TIMEOUT = timedelta(minutes=15)


def payment_open(*, registration: EventRegistration) -> EventPayment:
    """Write the pending order of a registration that waits for payment (inside the caller's
    transaction; the provider is called by :func:`checkout_create` after commit)."""
    return EventPayment.objects.create(
        registration=registration,
        provider=get_provider().code,
        amount_fen=registration.price_fen,
        currency=registration.event.currency,
    )


def checkout_create(*, payment: EventPayment) -> EventPayment:
    """Open the order at the provider (outside any transaction) and keep its hosted page."""
    registration = payment.registration
    checkout = get_provider(payment.provider).create_checkout(
        out_trade_no=str(payment.public_id),
        amount_fen=payment.amount_fen,
        currency=payment.currency,
        description=f"RedCard 小红卡 · {registration.event.title}"[:120],
        return_url=reverse("members:event_paid", args=[registration.event.public_id, payment.public_id]),
        payer_id=registration.user_id,
    )
    EventPayment.objects.filter(pk=payment.pk).update(checkout_url=checkout.url)
    payment.checkout_url = checkout.url
    return payment


def payment_of(*, public_id: Any) -> EventPayment | None:
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return (
        EventPayment.objects.select_related("registration__event", "registration__user").filter(public_id=key).first()
    )


def _release_unpaid(event: Event, registration: EventRegistration, *, at: datetime, reason: str) -> None:
    """The place of a registration whose payment failed goes back (and on to the waitlist)."""
    from .services import _release, _set_state, promote_locked

    if registration.state != State.PENDING_PAYMENT:
        return
    _release(event, registration)
    _set_state(
        registration, State.LAPSED, actor="system:event_payments", reason=reason, ended_at=at, end_reason=reason[:200]
    )
    notify(
        user=registration.user,
        kind="event_payment_failed",
        title=_("Your place was released: %(title)s"),
        body=_("The payment did not arrive in time, so the place went back to the event."),
        url=f"/membership/events/{event.public_id}/",
        context={"title": event.title},
    )
    webhooks.emit("event.lapsed", {"event": event.public_id, "registration": registration.public_id, "reason": reason})
    promote_locked(event, at=at, actor="system:event_payments")


def settle(*, payment: EventPayment, txn: Transaction, at: datetime | None = None) -> str:
    """Apply the provider's view of the order. Returns ``registered``, ``already_paid``,
    ``refund_due`` (paid after the place was released: the money goes back), ``released`` or
    ``pending``."""
    from .services import _locked_event, _locked_registration, _set_state

    at = at or timezone.now()
    with transaction.atomic():
        event = _locked_event(payment.registration.event_id)
        registration = _locked_registration(payment.registration_id)
        payment = EventPayment.objects.select_for_update().get(pk=payment.pk)
        if txn.state == "paid":
            if payment.state == EventPayment.State.PAID:
                return "already_paid"
            if txn.amount_fen != payment.amount_fen or txn.currency != payment.currency:
                logger.warning("event payment %s: amount %s %s paid", payment.public_id, txn.amount_fen, txn.currency)
            payment.state = EventPayment.State.PAID
            payment.provider_txn_id = txn.transaction_id
            payment.paid_at = txn.paid_at or at
            payment.save(update_fields=["state", "provider_txn_id", "paid_at"])
            audit_record(actor=f"provider:{payment.provider}", action="members.event_payment_paid", obj=payment)
            if registration.state == State.PENDING_PAYMENT:
                _set_state(
                    registration, State.REGISTERED, actor="system:event_payments", reason="paid", confirmed_at=at
                )
                webhooks.emit(
                    "event.registered",
                    {"event": event.public_id, "registration": registration.public_id, "paid_fen": payment.amount_fen},
                )
                outcome = "registered"
            else:  # the place was released (timeout, cancellation) before the money arrived
                refund = _refund_write(payment=payment, reason="paid after the place was released")
                if refund is not None:
                    transaction.on_commit(lambda: refund_send(refund=refund))
                outcome = "refund_due"
        elif txn.state in ("closed", "failed") and payment.state == EventPayment.State.PENDING:
            if txn.state == "failed":
                return "pending"  # a declined attempt leaves the order open; the timeout decides
            payment.state = EventPayment.State.FAILED
            payment.failed_at = at
            payment.save(update_fields=["state", "failed_at"])
            _release_unpaid(event, registration, at=at, reason="payment not completed")
            outcome = "released"
        else:
            return "pending"
    return outcome


def sync(*, payment: EventPayment) -> str:
    """Ask the provider about the order now (the return page, the reconciliation job)."""
    txn = get_provider(payment.provider).query(out_trade_no=str(payment.public_id))
    return settle(payment=payment, txn=txn)


def notified(*, provider_code: str, txn: Transaction, refund: bool = False) -> str | None:
    """A verified provider notification for one of our event orders (None when the order number is
    not an event payment). A refund's notification changes nothing: an event refund is settled from
    the provider's answer to the refund call (and resent by the job until it is taken)."""
    payment = payment_of(public_id=txn.out_trade_no)
    if payment is None or payment.provider != provider_code:
        return None
    if refund:
        return "ignored"
    return settle(payment=payment, txn=txn)


def close_unpaid(*, payment: EventPayment) -> str:
    """Close the order at the provider (outside a transaction), then settle with its final state: a
    payer who paid at the last moment keeps the place (or is refunded if it is gone)."""
    txn = get_provider(payment.provider).close(out_trade_no=str(payment.public_id))
    return settle(payment=payment, txn=txn)


def reconcile(*, now: datetime | None = None) -> dict[str, int]:
    """The job: pending event payments older than a few minutes are asked about; those older than
    :data:`PAYMENT_TIMEOUT` are closed and their places released."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    pending = EventPayment.objects.filter(state=EventPayment.State.PENDING, created_at__lte=now - RECONCILE_AFTER)
    for payment in pending.select_related("registration__event", "registration__user").order_by("pk")[:500]:
        try:
            outcome = sync(payment=payment)
            if outcome == "pending" and payment.created_at <= now - PAYMENT_TIMEOUT:
                outcome = close_unpaid(payment=payment)
        except DomainError as exc:
            outcome = exc.code
        counts[outcome] = counts.get(outcome, 0) + 1
    retried = refunds_retry(now=now)
    if retried:
        counts["refunds_retried"] = retried
    return counts


# --- Refunds -------------------------------------------------------------------------------------------


def _refund_write(*, payment: EventPayment, reason: str) -> EventRefund | None:
    """The refund row of a paid payment (inside the caller's transaction), or None when it already has
    one: a payment is refunded once, whatever races."""
    if payment.state != EventPayment.State.PAID:
        return None
    try:
        with transaction.atomic():
            refund = EventRefund.objects.create(
                payment=payment, amount_fen=payment.amount_fen, currency=payment.currency, reason=reason[:200]
            )
    except IntegrityError:
        return None
    audit_record(
        actor="system:event_payments",
        action="members.event_refund_requested",
        obj=payment,
        reason=reason,
        after={"refund": str(refund.public_id), "amount_fen": refund.amount_fen},
    )
    return refund


def refund_for(*, registration: EventRegistration, reason: str) -> EventRefund | None:
    """Inside the cancellation's transaction: the refund of the registration's paid place (if any),
    sent to the provider after commit."""
    payment = registration.payments.select_for_update().filter(state=EventPayment.State.PAID).first()
    if payment is None:
        return None
    refund = _refund_write(payment=payment, reason=reason)
    if refund is not None:
        transaction.on_commit(lambda: refund_send(refund=refund))
    return refund


def pending_close_for(*, registration: EventRegistration) -> None:
    """Inside a cancellation's transaction: close the registration's unpaid order after commit."""
    payment = registration.payments.filter(state=EventPayment.State.PENDING).first()
    if payment is not None:
        transaction.on_commit(lambda: _close_quietly(payment))


def _close_quietly(payment: EventPayment) -> None:
    try:
        close_unpaid(payment=payment)
    except DomainError:
        logger.exception("closing event payment %s", payment.public_id)


def refund_send(*, refund: EventRefund) -> str:
    """Call the provider for a requested refund (outside any transaction; the same refund number on
    every retry), then record the answer. Returns the refund's state."""
    if refund.state != EventRefund.State.REQUESTED:
        return refund.state
    payment = refund.payment
    try:
        result = get_provider(payment.provider).refund(
            request=RefundRequest(
                out_trade_no=str(payment.public_id),
                out_refund_no=str(refund.public_id),
                amount_fen=refund.amount_fen,
                currency=refund.currency,
            )
        )
    except (DomainError, OSError) as exc:
        EventRefund.objects.filter(pk=refund.pk, state=EventRefund.State.REQUESTED).update(
            attempts=refund.attempts + 1, last_error=str(exc)[:200]
        )
        logger.warning("event refund %s not sent: %s", refund.public_id, exc)
        return EventRefund.State.REQUESTED
    if result.state not in ("succeeded", "failed"):  # accepted, not settled: the job asks again
        EventRefund.objects.filter(pk=refund.pk, state=EventRefund.State.REQUESTED).update(
            attempts=refund.attempts + 1, provider_refund_id=result.provider_refund_id[:64], last_error=""
        )
        return EventRefund.State.REQUESTED
    final = EventRefund.State.SUCCEEDED if result.state == "succeeded" else EventRefund.State.FAILED
    with transaction.atomic():
        updated = EventRefund.objects.filter(pk=refund.pk, state=EventRefund.State.REQUESTED).update(
            state=final,
            provider_refund_id=result.provider_refund_id[:64],
            attempts=refund.attempts + 1,
            settled_at=result.settled_at or timezone.now(),
            last_error="" if final == EventRefund.State.SUCCEEDED else (result.provider_state or "failed")[:200],
        )
        if updated and final == EventRefund.State.SUCCEEDED:
            registration = payment.registration
            notify(
                user=registration.user,
                kind="event_refunded",
                title=_("Refunded: %(title)s"),
                body=_("%(amount)s is on its way back to you (%(reason)s)."),
                url=f"/membership/events/{registration.event.public_id}/",
                context={
                    "title": registration.event.title,
                    "amount": f"¥{refund.amount_fen / 100:.2f}",
                    "reason": refund.reason,
                },
            )
            webhooks.emit(
                "event.refunded",
                {
                    "event": registration.event.public_id,
                    "registration": registration.public_id,
                    "refund": refund.public_id,
                    "amount_fen": refund.amount_fen,
                    "reason": refund.reason,
                },
            )
        elif updated:
            logger.error("event refund %s failed at the provider: %s", refund.public_id, result.provider_state)
    refund.state = final
    return refund.state


def refunds_retry(*, now: datetime | None = None) -> int:
    """Send again the refunds the provider did not take (the same refund numbers)."""
    now = now or timezone.now()
    due = EventRefund.objects.filter(state=EventRefund.State.REQUESTED, created_at__lte=now - timedelta(minutes=1))
    count = 0
    for refund in due.select_related("payment__registration__event", "payment__registration__user")[:200]:
        refund_send(refund=refund)
        count += 1
    return count
