"""Every write of the members app.

State machine of a subscription (``TRANSITIONS``)::

    pending_payment -> active | payment_failed
    trialing        -> expired
    active          -> cancel_at_period_end | expired | refunded
    cancel_at_period_end -> active (undo) | expired | refunded

Guarantees and what holds them:

* one current subscription per member, one trial per person: partial unique constraints;
* activation exactly once: the payment row is locked (``select_for_update``) and moves
  ``pending -> paid`` once; the provider transaction id is unique; each notification is
  recorded once per notify id (unique);
* refunds never exceed what was paid: ``CHECK refunded_fen <= amount_fen`` on the payment,
  updated under the row lock, plus a unique (payment, request key) on the ledger row;
  a second concurrent refund waits for the subscription lock and then finds it refunded;
* the programme suspension processes each subscription once: a ``SuspensionRefund`` row
  (unique per subscription) is written in the same transaction as its refunds.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Least
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import webhooks
from core.errors import DomainError, InvalidTransition
from core.models import AuditEntry, Notification, User
from core.services import Actor, actor_label, audit_record, notify, transition_check

from . import errors  # noqa: F401  (registers the codes)
from .models import (
    CURRENT_STATES,
    ENTITLED_STATES,
    PAID_STATES,
    Payment,
    PaymentNotification,
    Plan,
    Programme,
    Refund,
    Subscription,
    SubscriptionPeriod,
    SubscriptionState,
    SuspensionRefund,
)
from .payments import get_provider
from .payments.base import RefundRequest, Transaction

logger = logging.getLogger(__name__)

S = SubscriptionState
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING_PAYMENT: frozenset({S.ACTIVE, S.PAYMENT_FAILED}),
    S.TRIALING: frozenset({S.EXPIRED}),
    S.ACTIVE: frozenset({S.CANCEL_AT_PERIOD_END, S.EXPIRED, S.REFUNDED}),
    S.CANCEL_AT_PERIOD_END: frozenset({S.ACTIVE, S.EXPIRED, S.REFUNDED}),
}

#: A pending payment is queried at the provider after this long ...
RECONCILE_AFTER = timedelta(minutes=5)
#: ... and abandoned (closed, ``payment_failed``) after this long.
PAYMENT_TIMEOUT = timedelta(minutes=30)
#: Auto-renewal is charged this long before the period ends.
RENEWAL_LEAD = timedelta(days=1)
MEMBERSHIP_URL = "/membership/"
DAY = timedelta(days=1)


def _now() -> datetime:
    return timezone.now()


def _programme_tz() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.REDCARD_DEFAULT_TIMEZONE)


def yuan(fen: int) -> str:
    return f"¥{fen / 100:.2f}"


# --- state machine ------------------------------------------------------------------------


def _transition(subscription: Subscription, target: str, *, actor: Actor, reason: str, **changes: Any) -> Subscription:
    """Move a locked subscription to ``target`` (raises ``invalid_transition``), save and audit."""
    transition_check(model="subscription", current=subscription.state, target=target, allowed=TRANSITIONS)
    before = {"state": subscription.state, **{name: getattr(subscription, name) for name in changes}}
    subscription.state = target
    for name, value in changes.items():
        setattr(subscription, name, value)
    subscription.save(update_fields=["state", *changes])
    audit_record(
        actor=actor,
        action=f"members.subscription_{target}",
        obj=subscription,
        reason=reason,
        before=before,
        after={"state": target, **changes},
    )
    webhooks.emit(
        f"subscription.{target}",
        {
            "subscription": subscription.public_id,
            "member": subscription.user.public_id,
            "state": target,
            "period_end": subscription.period_end,
        },
    )
    return subscription


def _locked_subscription(subscription_id: int) -> Subscription:
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "user")
        .filter(pk=subscription_id)
        .first()
    )
    if subscription is None:
        raise DomainError("subscription_not_found")
    return subscription


def _current_of(user: User) -> Subscription | None:
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan")
        .filter(user=user, state__in=CURRENT_STATES)
        .first()
    )


def programme_get() -> Programme:
    programme, _created = Programme.objects.get_or_create(pk=1)
    return programme


def _require_sales_open() -> None:
    if not programme_get().sales_open:
        raise DomainError("sales_closed")


# --- joining ------------------------------------------------------------------------------


def checkout_start(*, user: User, plan_code: str) -> Payment:
    """Open a pending subscription and its payment order, and return the payment (its
    ``checkout_url`` is the provider's hosted page). A member with a pending checkout for the
    same plan gets that checkout back; a pending one for another plan is closed first.

    Raises ``sales_closed``, ``plan_unavailable``, ``subscription_already_current``.
    """
    _require_sales_open()
    plan = Plan.objects.filter(code=plan_code, is_active=True, is_trial=False).first()
    if plan is None:
        raise DomainError("plan_unavailable")
    provider = get_provider()
    with transaction.atomic():
        existing = _current_of(user)
        if existing is not None and existing.state == S.PENDING_PAYMENT:
            pending = existing.payments.filter(state=Payment.State.PENDING, flagged_at__isnull=True).last()
            if pending is not None and existing.plan_id == plan.pk:
                return pending
            if pending is not None:
                _payment_close(pending.pk, actor=user, reason="member chose another plan")
            existing.refresh_from_db()
        if existing is not None and existing.state in CURRENT_STATES:
            raise DomainError("subscription_already_current")
        try:
            with transaction.atomic():
                subscription = Subscription.objects.create(
                    user=user, plan=plan, state=S.PENDING_PAYMENT, auto_renew=True, is_trial=False
                )
        except IntegrityError:
            raise DomainError("subscription_already_current") from None
        payment = Payment.objects.create(
            subscription=subscription,
            kind=Payment.Kind.INITIAL,
            provider=provider.code,
            amount_fen=plan.price_fen,
            currency=plan.currency,
        )
        checkout = provider.create_checkout(
            out_trade_no=str(payment.public_id),
            amount_fen=plan.price_fen,
            currency=plan.currency,
            description=f"RedCard 小红卡 · {plan.name_zh}",
            return_url=reverse("members:join_return", args=[payment.public_id]),
            payer_id=user.pk,
        )
        payment.checkout_url = checkout.url
        payment.save(update_fields=["checkout_url"])
        audit_record(
            actor=user,
            action="members.checkout_start",
            obj=subscription,
            after={"plan": plan.code, "payment": str(payment.public_id), "amount_fen": plan.price_fen},
        )
    return payment


def trial_start(*, user: User, plan_code: str = "trial", actor: Actor = None) -> Subscription:
    """Start the free trial now. Raises ``sales_closed``, ``plan_unavailable``,
    ``trial_already_used`` (database constraint) or ``subscription_already_current``."""
    _require_sales_open()
    plan = Plan.objects.filter(code=plan_code, is_active=True, is_trial=True).first()
    if plan is None:
        raise DomainError("plan_unavailable")
    now = _now()
    with transaction.atomic():
        if _current_of(user) is not None:
            raise DomainError("subscription_already_current")
        try:
            with transaction.atomic():
                subscription = Subscription.objects.create(
                    user=user,
                    plan=plan,
                    state=S.TRIALING,
                    is_trial=True,
                    auto_renew=False,
                    period_start=now,
                    period_end=now + timedelta(days=plan.duration_days),
                )
        except IntegrityError:
            if Subscription.objects.filter(user=user, is_trial=True).exists():
                raise DomainError("trial_already_used") from None
            raise DomainError("subscription_already_current") from None
        assert subscription.period_start and subscription.period_end
        SubscriptionPeriod.objects.create(
            subscription=subscription,
            kind=SubscriptionPeriod.Kind.TRIAL,
            start=subscription.period_start,
            end=subscription.period_end,
        )
        audit_record(
            actor=actor or user, action="members.subscription_trialing", obj=subscription, after={"plan": plan.code}
        )
        notify(
            user=user,
            kind="members.trial_started",
            title=_("Your free RedCard trial has started"),
            body=_("Your trial card works until %(end)s."),
            url=MEMBERSHIP_URL,
            context={"end": _local_date(subscription.period_end)},
        )
    return subscription


def _local_date(moment: datetime) -> str:
    return moment.astimezone(_programme_tz()).date().isoformat()


# --- payments -----------------------------------------------------------------------------


def payment_notification_receive(*, provider_code: str, headers: Any, body: bytes) -> str:
    """Verify and apply one provider notification. Returns the outcome (``activated``,
    ``renewed``, ``already_paid``, ``duplicate``, ``ignored``). Refusals are recorded first,
    then raised: ``notification_signature_invalid``, ``notification_stale``,
    ``notification_malformed``, ``payment_unknown``, ``payment_amount_mismatch``,
    ``payment_state_conflict``."""
    provider = get_provider(provider_code)
    note = provider.parse_notification(headers=headers, body=body)
    with transaction.atomic():
        try:
            with transaction.atomic():
                receipt = PaymentNotification.objects.create(
                    provider=provider.code,
                    notify_id=note.notify_id[:64],
                    event_type=note.event_type[:40],
                    out_trade_no=note.transaction.out_trade_no[:64],
                    outcome="received",
                    payload=dict(note.payload),
                )
        except IntegrityError:
            return "duplicate"
        payment = _payment_by_trade_no(provider.code, note.transaction.out_trade_no)
        if payment is None:
            outcome = "unknown_payment"
        elif note.transaction.state == "paid":
            outcome = _payment_settle(payment.pk, note.transaction, actor=f"provider:{provider.code}")
        else:
            outcome = "ignored"  # a declined attempt leaves the order open; reconciliation decides
        receipt.payment = payment
        receipt.outcome = outcome
        receipt.save(update_fields=["payment", "outcome"])
    refusal = {
        "unknown_payment": "payment_unknown",
        "amount_mismatch": "payment_amount_mismatch",
        "paid_after_close": "payment_state_conflict",
    }.get(outcome)
    if refusal:
        raise DomainError(refusal)
    return outcome


def _payment_by_trade_no(provider_code: str, out_trade_no: str) -> Payment | None:
    try:
        public_id = uuid.UUID(out_trade_no)
    except ValueError:
        return None
    return Payment.objects.filter(public_id=public_id, provider=provider_code).first()


def _flag(payment: Payment, reason: str, detail: dict[str, Any]) -> None:
    if payment.flagged_at is None:
        payment.flag_reason = reason
        payment.flag_detail = detail
        payment.flagged_at = _now()
        payment.save(update_fields=["flag_reason", "flag_detail", "flagged_at"])
        audit_record(
            actor="system:payments", action="members.payment_flagged", obj=payment, reason=reason, after=detail
        )
        logger.warning("payment %s flagged: %s %s", payment.public_id, reason, detail)


def _payment_settle(payment_id: int, txn: Transaction, *, actor: Actor) -> str:
    """Apply "the provider says this order is paid". Call inside a transaction.

    Exactly once: the payment row is locked and only a ``pending`` payment moves on. An amount
    or currency that differs from the order is flagged and never activates."""
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if payment.state == Payment.State.PAID:
        return "already_paid"
    if txn.amount_fen != payment.amount_fen or txn.currency != payment.currency:
        _flag(
            payment,
            "amount_mismatch",
            {"expected": [payment.amount_fen, payment.currency], "received": [txn.amount_fen, txn.currency]},
        )
        return "amount_mismatch"
    was_failed = payment.state == Payment.State.FAILED
    payment.state = Payment.State.PAID
    payment.provider_txn_id = txn.transaction_id
    payment.paid_at = txn.paid_at or _now()
    payment.save(update_fields=["state", "provider_txn_id", "paid_at"])
    audit_record(actor=actor, action="members.payment_paid", obj=payment, after={"txn": txn.transaction_id})
    subscription = _locked_subscription(payment.subscription_id)
    plan = subscription.plan
    now = _now()
    if payment.kind == Payment.Kind.INITIAL:
        if was_failed or subscription.state != S.PENDING_PAYMENT or not programme_get().sales_open:
            _flag(payment, "paid_after_close", {"subscription_state": subscription.state})
            return "paid_after_close"
        end = now + timedelta(days=plan.duration_days)
        _transition(subscription, S.ACTIVE, actor=actor, reason="payment settled", period_start=now, period_end=end)
        SubscriptionPeriod.objects.create(
            subscription=subscription, kind=SubscriptionPeriod.Kind.PAID, start=now, end=end, payment=payment
        )
        _notify_paid(subscription, payment, end, renewed=False)
        return "activated"
    # renewal: the next period starts exactly where the current one ends
    if (
        was_failed
        or subscription.state not in PAID_STATES
        or payment.period_start is None
        or subscription.period_end != payment.period_start
    ):
        _flag(payment, "paid_after_close", {"subscription_state": subscription.state})
        return "paid_after_close"
    end = _append_period(
        subscription,
        kind=SubscriptionPeriod.Kind.RENEWAL,
        days=plan.duration_days,
        payment=payment,
        actor=actor,
        action="members.subscription_renewed",
    )
    _notify_paid(subscription, payment, end, renewed=True)
    return "renewed"


def _append_period(
    subscription: Subscription,
    *,
    kind: str,
    days: int,
    actor: Actor,
    action: str,
    payment: Payment | None = None,
    reason: str = "",
) -> datetime:
    """Append a period starting exactly at the current end (no gap) and extend the card to it."""
    assert subscription.period_end is not None
    start = subscription.period_end
    end = start + timedelta(days=days)
    SubscriptionPeriod.objects.create(subscription=subscription, kind=kind, start=start, end=end, payment=payment)
    subscription.period_end = end
    subscription.save(update_fields=["period_end"])
    audit_record(
        actor=actor,
        action=action,
        obj=subscription,
        reason=reason,
        before={"period_end": start},
        after={"period_end": end, "days": days},
    )
    return end


def _notify_paid(subscription: Subscription, payment: Payment, end: datetime, *, renewed: bool) -> None:
    notify(
        user=subscription.user,
        kind="members.renewed" if renewed else "members.activated",
        title=_("Your RedCard was renewed") if renewed else _("Your RedCard is active"),
        body=(
            _("Paid %(amount)s. Your card now works until %(end)s.")
            if renewed
            else _("Paid %(amount)s. Your card works until %(end)s.")
        ),
        url=MEMBERSHIP_URL,
        context={"amount": yuan(payment.amount_fen), "end": _local_date(end)},
    )


def _payment_fail(payment_id: int, *, actor: Actor, reason: str) -> bool:
    """Inside a transaction: a pending payment fails; a first payment fails its subscription."""
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if payment.state != Payment.State.PENDING:
        return False
    payment.state = Payment.State.FAILED
    payment.failed_at = _now()
    payment.save(update_fields=["state", "failed_at"])
    audit_record(actor=actor, action="members.payment_failed", obj=payment, reason=reason)
    subscription = _locked_subscription(payment.subscription_id)
    if payment.kind == Payment.Kind.INITIAL and subscription.state == S.PENDING_PAYMENT:
        _transition(subscription, S.PAYMENT_FAILED, actor=actor, reason=reason, ended_at=_now())
    elif payment.kind == Payment.Kind.RENEWAL:
        notify(
            user=subscription.user,
            kind="members.renewal_failed",
            title=_("Your RedCard could not be renewed"),
            body=_("The renewal payment did not go through. Your card ends on %(end)s unless you join again."),
            url=MEMBERSHIP_URL,
            context={"end": _local_date(subscription.period_end) if subscription.period_end else ""},
        )
    return True


def _payment_close(payment_id: int, *, actor: Actor, reason: str) -> str:
    """Close the order at the provider; settle it if the payer got there first, else fail it."""
    payment = Payment.objects.get(pk=payment_id)
    txn = get_provider(payment.provider).close(out_trade_no=str(payment.public_id))
    with transaction.atomic():
        if txn.state == "paid":
            return _payment_settle(payment.pk, txn, actor=actor)
        return "failed" if _payment_fail(payment.pk, actor=actor, reason=reason) else "unchanged"


def payment_sync(*, payment: Payment, actor: Actor = "system:return_page") -> str:
    """Ask the provider about one pending payment now (the return page and reconciliation)."""
    if payment.state != Payment.State.PENDING or payment.flagged_at is not None:
        return "unchanged"
    txn = get_provider(payment.provider).query(out_trade_no=str(payment.public_id))
    if txn.state != "paid":
        return "pending"
    with transaction.atomic():
        return _payment_settle(payment.pk, txn, actor=actor)


def payments_reconcile(*, now: datetime | None = None) -> dict[str, int]:
    """The reconciliation job: settle pending payments the provider reports paid, and close
    and fail those pending longer than ``PAYMENT_TIMEOUT``."""
    now = now or _now()
    counts: dict[str, int] = defaultdict(int)
    stuck = Payment.objects.filter(
        state=Payment.State.PENDING, flagged_at__isnull=True, created_at__lt=now - RECONCILE_AFTER
    ).order_by("id")
    for payment in stuck.iterator(chunk_size=200):
        try:
            outcome = payment_sync(payment=payment, actor="system:reconcile")
            if outcome == "pending" and payment.created_at < now - PAYMENT_TIMEOUT:
                outcome = _payment_close(payment.pk, actor="system:reconcile", reason="payment timed out")
        except DomainError as exc:
            outcome = exc.code
            logger.warning("reconciling payment %s: %s", payment.public_id, exc)
        counts[outcome] += 1
    return dict(counts)


# --- cancel, renew, expire ----------------------------------------------------------------


def subscription_cancel(*, user: User, actor: Actor = None, reason: str = "") -> Subscription:
    """Cancel at period end (the card works until then). Raises ``membership_inactive`` or
    ``invalid_transition``."""
    with transaction.atomic():
        subscription = _current_of(user)
        if subscription is None:
            raise DomainError("membership_inactive")
        return _transition(
            subscription, S.CANCEL_AT_PERIOD_END, actor=actor or user, reason=reason or "cancelled by member"
        )


def subscription_cancel_undo(*, user: User, actor: Actor = None) -> Subscription:
    """Undo a cancellation before the period ends. Raises ``membership_inactive``,
    ``programme_suspended`` or ``invalid_transition``."""
    with transaction.atomic():
        subscription = _current_of(user)
        if subscription is None or subscription.period_end is None or subscription.period_end <= _now():
            raise DomainError("membership_inactive")
        if subscription.state == S.CANCEL_AT_PERIOD_END and not programme_get().sales_open:
            raise DomainError("programme_suspended")
        return _transition(subscription, S.ACTIVE, actor=actor or user, reason="cancellation undone by member")


def subscription_set_auto_renew(*, user: User, auto_renew: bool, actor: Actor = None) -> Subscription:
    """Switch auto-renew on or off for a paid card. Raises ``membership_inactive`` or ``subscription_not_paid``."""
    with transaction.atomic():
        subscription = _current_of(user)
        if subscription is None:
            raise DomainError("membership_inactive")
        if subscription.state not in PAID_STATES:
            raise DomainError("subscription_not_paid")
        if subscription.auto_renew != auto_renew:
            before = {"auto_renew": subscription.auto_renew}
            subscription.auto_renew = auto_renew
            subscription.save(update_fields=["auto_renew"])
            audit_record(
                actor=actor or user,
                action="members.auto_renew_set",
                obj=subscription,
                before=before,
                after={"auto_renew": auto_renew},
            )
        return subscription


def renewals_charge(*, now: datetime | None = None) -> int:
    """Charge the auto-renewal of active cards ending within ``RENEWAL_LEAD``. A renewal
    payment per period is unique (constraint), so the job may run any number of times."""
    now = now or _now()
    if not programme_get().sales_open:
        return 0
    provider = get_provider()
    due = Subscription.objects.filter(
        state=S.ACTIVE, auto_renew=True, is_trial=False, period_end__gt=now, period_end__lte=now + RENEWAL_LEAD
    ).select_related("plan")
    charged = 0
    for subscription in due.iterator(chunk_size=200):
        plan = subscription.plan
        try:
            with transaction.atomic():
                locked = _locked_subscription(subscription.pk)
                if locked.state != S.ACTIVE or not locked.auto_renew:
                    continue
                payment = Payment.objects.create(
                    subscription=locked,
                    kind=Payment.Kind.RENEWAL,
                    provider=provider.code,
                    amount_fen=plan.price_fen,
                    currency=plan.currency,
                    period_start=locked.period_end,
                )
        except IntegrityError:
            continue  # this period's renewal is already charged
        provider.charge_agreement(
            out_trade_no=str(payment.public_id),
            amount_fen=payment.amount_fen,
            currency=payment.currency,
            description=f"RedCard 小红卡 · {plan.name_zh}",
            payer_id=subscription.user_id,
        )
        charged += 1
    return charged


def subscriptions_advance(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic job: expire cards whose period has ended, and roll the savings meter over
    when a renewed period begins."""
    now = now or _now()
    counts = {"expired": 0, "refunded": 0, "rolled_over": 0}
    ended = Subscription.objects.filter(state__in=ENTITLED_STATES, period_end__lte=now).values_list("pk", flat=True)
    for pk in list(ended.order_by("pk")[:5000]):
        with transaction.atomic():
            subscription = _locked_subscription(pk)
            if (
                subscription.state not in ENTITLED_STATES
                or not subscription.period_end
                or subscription.period_end > now
            ):
                continue
            suspended = SuspensionRefund.objects.filter(subscription=subscription, refunded_fen__gt=0).exists()
            target = S.REFUNDED if suspended and subscription.state != S.TRIALING else S.EXPIRED
            _transition(subscription, target, actor="system:expire_job", reason="period ended", ended_at=now)
            counts["refunded" if target == S.REFUNDED else "expired"] += 1
    rolling = SubscriptionPeriod.objects.filter(
        subscription__state__in=ENTITLED_STATES, start__lte=now, start__gt=F("subscription__period_start")
    ).values_list("subscription_id", "start")
    for subscription_id, start in list(rolling[:5000]):
        with transaction.atomic():
            subscription = _locked_subscription(subscription_id)
            if subscription.period_start is None or subscription.period_start >= start:
                continue
            SubscriptionPeriod.objects.filter(subscription=subscription, start=subscription.period_start).update(
                savings_fen=subscription.savings_fen
            )
            before = {"period_start": subscription.period_start, "savings_fen": subscription.savings_fen}
            subscription.period_start = start
            subscription.savings_fen = 0
            subscription.save(update_fields=["period_start", "savings_fen"])
            audit_record(actor="system:expire_job", action="members.period_rollover", obj=subscription, before=before)
            counts["rolled_over"] += 1
    return counts


def reminders_send(*, now: datetime | None = None) -> int:
    """Expiry reminders 7 days and 1 day before the end (e-mail + in-app), each once: the
    reminder column is set by a guarded UPDATE."""
    from .selectors import member_savings

    now = now or _now()
    sent = 0
    for column, window in (("reminded_7d_at", timedelta(days=7)), ("reminded_1d_at", DAY)):
        due = Subscription.objects.filter(
            state__in=ENTITLED_STATES, period_end__gt=now, period_end__lte=now + window, **{f"{column}__isnull": True}
        ).select_related("user", "plan")
        for subscription in due.iterator(chunk_size=200):
            with transaction.atomic():
                claimed = Subscription.objects.filter(pk=subscription.pk, **{f"{column}__isnull": True}).update(
                    **{column: now}
                )
                if not claimed:
                    continue
                savings = member_savings(user=subscription.user)
                renews = subscription.state == S.ACTIVE and subscription.auto_renew
                assert subscription.period_end is not None
                notify(
                    user=subscription.user,
                    kind="members.expiry_reminder",
                    title=_("Your RedCard ends on %(end)s"),
                    body=(
                        _("It renews automatically for %(fee)s. This year you saved %(saved)s.")
                        if renews
                        else _("Renew to keep your discounts: this year you saved %(saved)s for a fee of %(fee)s.")
                    ),
                    url=MEMBERSHIP_URL,
                    context={
                        "end": _local_date(subscription.period_end),
                        "fee": yuan(subscription.plan.price_fen),
                        "saved": yuan(savings.saved_fen),
                    },
                )
                sent += 1
    return sent


def subscription_extend(*, subscription_id: int, days: int, reason: str, actor: Actor) -> Subscription:
    """Give a card ``days`` more (an operator's goodwill gesture), appended back to back."""
    if not 1 <= days <= 366:
        raise DomainError("extension_days_invalid")
    if not reason.strip():
        raise DomainError("refund_reason_required")
    with transaction.atomic():
        subscription = _locked_subscription(subscription_id)
        if subscription.state not in ENTITLED_STATES or subscription.period_end is None:
            raise InvalidTransition(model="subscription", current=subscription.state, target="extended")
        _append_period(
            subscription,
            kind=SubscriptionPeriod.Kind.EXTENSION,
            days=days,
            actor=actor,
            action="members.subscription_extended",
            reason=reason,
        )
    return subscription


def subscription_savings_add(*, subscription_id: int, amount_fen: int) -> None:
    """Add a redemption's saving to the meter (negative to reverse a void). One atomic UPDATE."""
    Subscription.objects.filter(pk=subscription_id).update(savings_fen=F("savings_fen") + amount_fen)


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


# --- programme suspension -----------------------------------------------------------------


def programme_suspend(*, effective_date: date, refund_mode: str, reason: str, actor: Actor) -> Programme:
    """Stop new sales at once and record when cards end and how they are refunded. Running
    it again with the same settings is a no-op (so an interrupted run can be resumed);
    other settings are refused with ``programme_already_suspended``."""
    if refund_mode not in Programme.RefundMode.values:
        raise DomainError("validation_failed")
    with transaction.atomic():
        programme_get()
        programme = Programme.objects.select_for_update().get(pk=1)
        if programme.suspended_at is not None:
            if programme.effective_date != effective_date or programme.refund_mode != refund_mode:
                raise DomainError(
                    "programme_already_suspended",
                    effective_date=str(programme.effective_date),
                    mode=programme.refund_mode,
                )
            return programme
        programme.sales_open = False
        programme.suspended_at = _now()
        programme.effective_date = effective_date
        programme.effective_at = datetime.combine(effective_date, time.min, tzinfo=_programme_tz())
        programme.refund_mode = refund_mode
        programme.reason = reason
        programme.save()
        webhooks.emit(
            "programme.suspended",
            {"effective_date": effective_date, "effective_at": programme.effective_at, "refund_mode": refund_mode},
        )
        audit_record(
            actor=actor,
            action="members.programme_suspended",
            obj=programme,
            reason=reason,
            after={"effective_date": effective_date, "refund_mode": refund_mode},
        )
    return programme


def programme_preview(*, effective_date: date, refund_mode: str, reason: str) -> Programme:
    """An unsaved programme with these settings (for a dry run)."""
    return Programme(
        effective_date=effective_date,
        effective_at=datetime.combine(effective_date, time.min, tzinfo=_programme_tz()),
        refund_mode=refund_mode,
        reason=reason,
        suspended_at=_now(),
    )


@dataclass
class SuspensionReport:
    processed: int = 0
    refunded_count: int = 0
    refunded_fen: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    last_id: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "processed": self.processed,
            "refunded_count": self.refunded_count,
            "refunded_fen": self.refunded_fen,
            "failures": [{"subscription": s, "code": c} for s, c in self.failures],
        }


def suspension_remaining() -> Any:
    """Subscriptions the suspension still has to process (a queryset of ids, by id)."""
    return (
        Subscription.objects.filter(state__in=ENTITLED_STATES, suspension__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def suspension_close_pending(*, actor: Actor) -> int:
    """Close every order still awaiting payment (sales are closed)."""
    closed = 0
    pending = Payment.objects.filter(state=Payment.State.PENDING, flagged_at__isnull=True).values_list("pk", flat=True)
    for pk in list(pending.order_by("pk")):
        _payment_close(pk, actor=actor, reason="programme suspended")
        closed += 1
    return closed


def _insert_rows(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert many rows: PostgreSQL's COPY (no model instances, no SQL text to build), or
    ``bulk_create`` on the embedded SQLite default."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        attnames = [model._meta.get_field(c).attname for c in columns]  # type: ignore[union-attr]
        model._default_manager.bulk_create([model(**dict(zip(attnames, row, strict=True))) for row in rows], 500)
        return
    meta = model._meta
    names = ", ".join(connection.ops.quote_name(str(meta.get_field(c).column)) for c in columns)  # type: ignore[union-attr]
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {meta.db_table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def suspension_batch(
    *, programme: Programme, ids: Sequence[int], actor: Actor, dry_run: bool = False
) -> SuspensionReport:
    """Suspend and refund one batch of subscriptions in one transaction, with set-based writes.

    Each subscription gets its ``SuspensionRefund`` row (unique) in the same transaction as its
    refund rows, payment counters, new state, audit entry and notice, so a batch is done entirely
    or not at all, and never twice. Rows are read as tuples and written with COPY / one UPDATE
    per distinct value: the per-row cost is what makes 100,000 subscriptions fit in a minute."""
    assert programme.effective_at is not None and programme.effective_date is not None
    effective_at = programme.effective_at
    report = SuspensionReport(last_id=max(ids, default=0))
    now = _now()
    at = max(effective_at, now)
    ends_now = effective_at <= now
    label = actor_label(actor)[:120]
    actor_id = actor.pk if isinstance(actor, User) else None
    request_key = f"suspension:{programme.suspended_at:%Y%m%dT%H%M%S}" if programme.suspended_at else "suspension"
    reason = programme.reason or "programme suspended"
    mode = programme.refund_mode
    with transaction.atomic():
        subscriptions = list(
            Subscription.objects.select_for_update(of=("self",))
            .filter(pk__any=list(ids), suspension__isnull=True, state__in=ENTITLED_STATES)
            .order_by("pk")
            .values_list("pk", "public_id", "state", "period_start", "period_end", "user_id", "user__language")
        )
        if not subscriptions:
            return report
        subscription_ids = [row[0] for row in subscriptions]
        payments_of: dict[int, list[tuple[int, uuid.UUID, int, int, str]]] = defaultdict(list)
        # Only the subscription index in the WHERE clause (state is checked here): the plan
        # must not depend on fresh statistics of the payment states during a mass update.
        payments = (
            Payment.objects.select_for_update()
            .filter(subscription__pk__any=subscription_ids)
            .order_by("pk")
            .values_list("pk", "public_id", "subscription_id", "amount_fen", "refunded_fen", "currency", "state")
        )
        for pk, public_id, subscription_id, amount, refunded, currency, payment_state in payments:
            if payment_state == Payment.State.PAID and refunded < amount:
                payments_of[subscription_id].append((pk, public_id, amount, refunded, currency))
        periods = dict(
            (payment_id, (start, end))
            for payment_id, start, end in SubscriptionPeriod.objects.filter(
                subscription__pk__any=subscription_ids, payment__isnull=False
            ).values_list("payment_id", "start", "end")
        )
        subscription_type = ContentType.objects.get_for_model(Subscription).pk
        texts: dict[str, tuple[str, str, str]] = {}
        refunds, requests, markers, audits, notices = [], [], [], [], []
        increments: dict[int, list[int]] = defaultdict(list)
        by_state: dict[str, list[int]] = defaultdict(list)
        for pk, public_id, state, start, end, user_id, language in subscriptions:
            assert start is not None and end is not None  # entitled states always have a period
            total = 0
            for payment_pk, payment_public_id, amount, refunded, currency in payments_of[pk]:
                period_start, period_end = periods.get(payment_pk, (None, None))
                due = amount_due(
                    amount_fen=amount, refunded_fen=refunded, start=period_start, end=period_end, mode=mode, at=at
                )
                if due <= 0:
                    continue
                refund_public_id = uuid.uuid5(REFUND_NAMESPACE, f"{request_key}:{payment_public_id}")
                refunds.append([refund_public_id, payment_pk, pk, mode, due, currency, reason, request_key, label])
                requests.append(RefundRequest(str(payment_public_id), str(refund_public_id), due, currency))
                increments[due].append(payment_pk)
                total += due
            if state == S.TRIALING:
                target = S.EXPIRED if ends_now else S.TRIALING
            else:
                target = S.REFUNDED if ends_now else S.CANCEL_AT_PERIOD_END
            if target != state:
                transition_check(model="subscription", current=state, target=target, allowed=TRANSITIONS)
            by_state[target].append(pk)
            new_end = min(end, effective_at) if effective_at > start else end
            markers.append((pk, total, now))
            audits.append(
                (
                    now,
                    actor_id,
                    label,
                    f"members.subscription_{target}",
                    subscription_type,
                    str(pk),
                    f"subscription {public_id}",
                    reason,
                    json.dumps({"state": state, "period_end": end.isoformat()}),
                    json.dumps({"state": target, "period_end": new_end.isoformat(), "refunded_fen": total}),
                )
            )
            notices.append(_suspension_notice(user_id, language, total, programme, texts, now))
            report.processed += 1
            if total:
                report.refunded_count += 1
                report.refunded_fen += total
        if dry_run:
            transaction.set_rollback(True)
            return report
        provider_ids = get_provider().refund_many(requests=requests) if requests else []
        for row, provider_id in zip(refunds, provider_ids, strict=True):
            row.extend([provider_id, now])
        refund_columns = ["public_id", "payment", "subscription", "kind", "amount_fen", "currency", "reason"]
        refund_columns += ["request_key", "actor_label", "provider_refund_id", "created_at"]
        _insert_rows(Refund, refund_columns, refunds)
        # Counters go up with F() (the CHECK guards each row), one UPDATE per distinct amount;
        # subscriptions change with one UPDATE per target state.
        for amount, payment_ids in increments.items():
            Payment.objects.filter(pk__any=payment_ids).update(refunded_fen=F("refunded_fen") + amount)
        for new_state, state_ids in by_state.items():
            Subscription.objects.filter(pk__any=state_ids).update(
                state=new_state,
                auto_renew=False,
                ended_at=now if ends_now else None,
                period_end=Case(
                    When(period_start__lt=effective_at, then=Least(F("period_end"), Value(effective_at))),
                    default=F("period_end"),
                ),
            )
        _insert_rows(SuspensionRefund, ["subscription", "refunded_fen", "created_at"], markers)
        # One audit row per subscription with the fields audit_record() writes (it inserts one
        # row per call: too slow for 100,000 subscriptions).
        audit_columns = ["at", "actor", "actor_label", "action", "object_type", "object_id", "object_repr"]
        _insert_rows(AuditEntry, [*audit_columns, "reason", "before", "after"], audits)
        _insert_rows(Notification, ["public_id", "user", "kind", "title", "body", "url", "created_at"], notices)
        notice_ids = [str(row[0]) for row in notices]
        from .tasks import send_notice_emails

        transaction.on_commit(lambda: send_notice_emails.delay(notice_ids))
    return report


def _suspension_notice(
    user_id: int,
    language: str,
    total: int,
    programme: Programme,
    texts: dict[str, tuple[str, str, str]],
    now: datetime,
) -> tuple[uuid.UUID, int, str, str, str, str, datetime]:
    """The member's notice as a row, with the texts translated once per language and batch."""
    from django.utils import translation

    if language not in texts:
        with translation.override(language):
            texts[language] = (
                str(_("RedCard is pausing: your card ends on %(date)s")) % {"date": programme.effective_date},
                str(_("We are refunding %(amount)s to you; it is on its way back by the way you paid.")),
                str(_("Thank you for trying RedCard.")),
            )
    title, refunded, thanks = texts[language]
    body = refunded % {"amount": yuan(total)} if total else thanks
    return (uuid.uuid4(), user_id, "members.programme_suspended", title, body, MEMBERSHIP_URL, now)


def suspension_run(
    *,
    programme: Programme,
    actor: Actor,
    batch_size: int = 1000,
    dry_run: bool = False,
    progress: Any = None,
    fail_after_batches: int | None = None,
) -> SuspensionReport:
    """Stream every subscription still to process by keyset pagination, ``batch_size`` at a
    time. A failing batch is retried one subscription at a time so that one bad row does not
    hold back the others; failures are reported and retried by running again."""
    report = SuspensionReport()
    after = 0
    batches = 0
    while True:
        # Keyset over the primary key alone (the batch itself filters the states), so the scan
        # stays an index range scan however the state statistics drift during the run.
        ids = list(Subscription.objects.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        after = ids[-1]
        if fail_after_batches is not None and batches >= fail_after_batches:
            raise RuntimeError(f"simulated crash after {batches} batches")
        try:
            part = suspension_batch(programme=programme, ids=ids, actor=actor, dry_run=dry_run)
        except (DomainError, IntegrityError) as exc:
            logger.warning("suspension batch after %s failed (%s); retrying one by one", ids[0], exc)
            part = SuspensionReport()
            for pk in ids:
                try:
                    one = suspension_batch(programme=programme, ids=[pk], actor=actor, dry_run=dry_run)
                except (DomainError, IntegrityError) as one_exc:
                    public_id = Subscription.objects.filter(pk=pk).values_list("public_id", flat=True).first()
                    part.failures.append((str(public_id), getattr(one_exc, "code", one_exc.__class__.__name__)))
                    continue
                part.processed += one.processed
                part.refunded_count += one.refunded_count
                part.refunded_fen += one.refunded_fen
        report.processed += part.processed
        report.refunded_count += part.refunded_count
        report.refunded_fen += part.refunded_fen
        report.failures.extend(part.failures)
        batches += 1
        if progress is not None:
            progress(len(ids), report)
    if not dry_run:
        Programme.objects.filter(pk=1).update(last_report={**report.as_dict(), "finished_at": _now().isoformat()})
    return report


def programme_suspend_and_refund(
    *,
    effective_date: date,
    refund_mode: str,
    reason: str,
    actor: Actor,
    batch_size: int = 1000,
    progress: Any = None,
) -> SuspensionReport:
    """The whole suspension (the admin action's task and the command without a progress bar)."""
    programme = programme_suspend(effective_date=effective_date, refund_mode=refund_mode, reason=reason, actor=actor)
    suspension_close_pending(actor=actor)
    return suspension_run(programme=programme, actor=actor, batch_size=batch_size, progress=progress)


def seed_default_plans() -> list[Plan]:
    """The default plans (annual ¥168 / 365 days, 90-day trial) as the data migration writes
    them; idempotent, admin edits are kept. Returns ``[annual, trial]``."""
    from importlib import import_module

    from django.apps import apps

    import_module("members.migrations.0002_default_plans").seed(apps, None)
    return [Plan.objects.get(code="annual"), Plan.objects.get(code="trial")]


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
