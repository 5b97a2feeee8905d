"""Paid places of member events, through the same payment provider interface as the card
(``members.payments``): a checkout per registration, settlement from the provider's notification, the
return page or the reconciliation job, the place released when the payment fails or never comes, and
refunds through the same refund ledger code as the card's (the guest's place given back, the rest
cancelled before the cut-off, or the event cancelled: each part once).

Order of work, as for the card: the payment (or refund) row is written and committed first, the
provider is called outside any transaction, and its answer is applied in a new transaction under the
event's row lock. A refund entry is unique per payment and request key, so each part is refunded
exactly once however many cancellations race.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import webhooks
from core.db import violates
from core.errors import DomainError
from core.services import audit_record, notify

from ..models import Event, EventPayment, EventRefund, EventRegistration, RegistrationState
from ..payments import get_provider
from ..payments.base import Payer, RefundResult, Transaction
from ..services.refunds import refund_id, refund_record, refunds_submit

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


def checkout_create(*, payment: EventPayment, payer: Payer | None = None) -> EventPayment:
    """Open the order at the provider (outside any transaction) and keep its hosted page. ``payer``: where
    the payer is and what the gateway needs of their device, as for the card's checkout (WeChat Pay: JSAPI
    with the openid inside WeChat, H5 on a phone, Native on a desktop); default a desktop browser."""
    registration = payment.registration
    payer = payer or Payer()
    checkout = get_provider(payment.provider).create_checkout(
        out_trade_no=str(payment.public_id),
        amount_fen=payment.amount_fen,
        currency=payment.currency,
        description=f"RedCard 小红卡 · {registration.event.title}"[:120],
        return_url=reverse("members:event_paid", args=[registration.event.public_id, payment.public_id]),
        payer_id=registration.user_id,
        channel=payer.channel,
        client_ip=payer.client_ip,
        openid=payer.openid,
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
                refund_write(payment=payment, reason="paid after the place was released", request_key="released")
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


def notified(*, provider_code: str, txn: Transaction, refund: RefundResult | None = None) -> str | None:
    """A verified provider notification for one of our event orders (None when the order number is
    not an event payment). A refund's notification settles our ledger entry of that refund number,
    as the card's does (``unknown_refund`` for a number we never wrote)."""
    payment = payment_of(public_id=txn.out_trade_no)
    if payment is None or payment.provider != provider_code:
        return None
    if refund is not None:
        try:
            entry = EventRefund.objects.filter(payment=payment, public_id=uuid.UUID(refund.out_refund_no)).first()
        except ValueError:
            entry = None
        if entry is None:
            return "unknown_refund"
        return "refund_" + refund_record(
            refund_id=entry.pk, result=refund, actor=f"provider:{provider_code}", model=EventRefund
        )
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
    return counts


# --- Refunds ---------------------------------------------------------------------------------------------
# Entries of the events' refund ledger (:class:`EventRefund`), driven by the card's ledger code
# (``members.services.refunds``): written with a fixed number inside the caller's transaction, sent to the
# provider after commit (never inside a transaction), settled from its answer, a query or a notification,
# retried by the reconciliation job, and flagged for an operator when the provider refuses.


def refund_write(
    *, payment: EventPayment, reason: str, request_key: str, amount_fen: int | None = None
) -> EventRefund | None:
    """Inside the caller's transaction, with ``payment`` locked: the refund entry of ``amount_fen``
    (all that remains when None) named ``request_key``, or None when the payment is not paid, nothing
    remains, or this key was refunded already (each part of a payment is refunded once, whatever
    races: the database holds one entry per payment and key, and the refunded total within the
    amount). The person is told, partners get ``event.refunded``, and the provider is called after
    commit."""
    if payment.state != EventPayment.State.PAID:
        return None
    remaining = payment.amount_fen - payment.refunded_fen
    amount = remaining if amount_fen is None else min(amount_fen, remaining)
    if amount <= 0 or EventRefund.objects.filter(payment=payment, request_key=request_key).exists():
        return None
    try:
        with transaction.atomic():
            refund = EventRefund.objects.create(
                public_id=refund_id(request_key, payment),
                payment=payment,
                amount_fen=amount,
                currency=payment.currency,
                reason=reason[:200],
                request_key=request_key,
            )
            EventPayment.objects.filter(pk=payment.pk).update(refunded_fen=F("refunded_fen") + amount)
    except IntegrityError as exc:
        if violates(exc, "members_eventrefund_payment_request_key"):
            return None
        raise
    payment.refunded_fen += amount
    registration = payment.registration
    event = registration.event
    audit_record(
        actor="system:event_payments",
        action="members.event_refund_requested",
        obj=payment,
        reason=reason,
        after={"refund": str(refund.public_id), "amount_fen": amount, "request_key": request_key},
    )
    notify(
        user=registration.user,
        kind="event_refunded",
        title=_("Refunded: %(title)s"),
        body=_("%(amount)s is on its way back to you (%(reason)s)."),
        url=f"/membership/events/{event.public_id}/",
        context={"title": event.title, "amount": f"¥{amount / 100:.2f}", "reason": reason},
    )
    webhooks.emit(
        "event.refunded",
        {
            "event": event.public_id,
            "registration": registration.public_id,
            "refund": refund.public_id,
            "amount_fen": amount,
            "reason": reason,
        },
    )
    transaction.on_commit(lambda: refunds_submit(refunds=[refund]))
    return refund


def _paid_payment(registration: EventRegistration) -> EventPayment | None:
    return (
        registration.payments.select_for_update()
        .select_related("registration__event", "registration__user")
        .filter(state=EventPayment.State.PAID)
        .first()
    )


def refund_for(*, registration: EventRegistration, reason: str, request_key: str) -> EventRefund | None:
    """Inside a cancellation's transaction: the refund of what remains of the registration's paid
    places (if any) under ``request_key``."""
    payment = _paid_payment(registration)
    if payment is None:
        return None
    return refund_write(payment=payment, reason=reason, request_key=request_key)


def refund_places(*, registration: EventRegistration, places: int, reason: str) -> EventRefund | None:
    """Inside the transaction that gives back ``places`` of a registration's places (the guest's):
    their share of the payment, once per resulting number of places."""
    payment = _paid_payment(registration)
    if payment is None:
        return None
    share = payment.amount_fen * places // registration.places
    key = f"places:{registration.public_id}:{registration.places - places}"
    return refund_write(payment=payment, reason=reason, request_key=key, amount_fen=share)


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
