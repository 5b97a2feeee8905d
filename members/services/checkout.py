"""Payments: checkout, provider notifications, settlement, closing, reconciliation and renewal charges."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from core.models import User
from core.services import Actor, audit_record, notify

from .. import errors  # noqa: F401  (registers the codes)
from ..models import (
    CURRENT_STATES,
    PAID_STATES,
    Payment,
    PaymentNotification,
    Plan,
    ReconciliationIssue,
    Refund,
    Subscription,
    SubscriptionPeriod,
)
from ..payments import agreements_supported, get_provider
from ..payments.base import CHANNEL_DESKTOP, Notification, Payer, PaymentProvider, Transaction
from .common import (
    MEMBERSHIP_URL,
    S,
    _append_period,
    _current_of,
    _local_date,
    _locked_subscription,
    _now,
    _require_sales_open,
    _transition,
    programme_get,
    yuan,
)
from .refunds import issue_record, refund_record

#: A pending payment is queried at the provider after this long ...
RECONCILE_AFTER = timedelta(minutes=5)
#: ... and abandoned (closed, ``payment_failed``) after this long.
PAYMENT_TIMEOUT = timedelta(minutes=30)
#: Auto-renewal is charged this long before the period ends.
RENEWAL_LEAD = timedelta(days=1)

logger = logging.getLogger(__name__)


def checkout_start(
    *, user: User, plan_code: str, channel: str = CHANNEL_DESKTOP, client_ip: str = "", openid: str = ""
) -> Payment:
    """Record a payment order for ``plan_code``, then open it at the provider, and return the
    payment (its ``checkout_url`` is the provider's hosted page).

    * A member without a current card gets a pending subscription and its first payment.
    * A trial member buys the card in one tap: the payment hangs on the trial subscription and,
      once paid, the paid year is appended where the trial ends (no day lost, none twice).
    * A member with a pending checkout for the same plan gets that checkout back; a pending one
      for another plan is closed first.

    The order is recorded and committed before the provider is called, and the provider is
    called outside any transaction: if the call fails, the payment stays pending without a
    checkout page, a retry opens the same order number again, and reconciliation settles or
    closes it. ``channel``: where the payer is (``members.payments.base.channel_of``), for the
    gateway's checkout product (``client_ip``, ``openid``: what WeChat Pay H5 and JSAPI need).
    Raises ``sales_closed``, ``plan_unavailable``, ``subscription_already_current`` and the
    provider's errors (``payment_gateway_unavailable``, ``wechatpay_openid_required``).
    """
    _require_sales_open()
    plan = Plan.objects.filter(code=plan_code, is_active=True, is_trial=False).first()
    if plan is None:
        raise DomainError("plan_unavailable")
    provider = get_provider()
    stale = (
        Payment.objects.filter(
            subscription__user=user,
            subscription__state__in=CURRENT_STATES,
            state=Payment.State.PENDING,
            flagged_at__isnull=True,
        )
        .exclude(plan=plan)
        .last()
    )
    if stale is not None:
        _payment_close(stale.pk, actor=user, reason="member chose another plan")
    with transaction.atomic():
        payment = _checkout_record(user=user, plan=plan, provider_code=provider.code)
    payer = Payer(channel=channel, client_ip=client_ip, openid=openid)
    return _checkout_open(payment, plan=plan, provider=provider, user=user, payer=payer)


def _checkout_open(payment: Payment, *, plan: Plan, provider: PaymentProvider, user: User, payer: Payer) -> Payment:
    """Outside any transaction: open the committed order at the provider (same order number on a
    retry) and keep its hosted page."""
    if payment.checkout_url:
        return payment
    checkout = provider.create_checkout(
        out_trade_no=str(payment.public_id),
        amount_fen=payment.amount_fen,
        currency=payment.currency,
        description=f"RedCard 小红卡 · {plan.name_zh}",
        return_url=reverse("members:join_return", args=[payment.public_id]),
        payer_id=user.pk,
        channel=payer.channel,
        client_ip=payer.client_ip,
        openid=payer.openid,
    )
    Payment.objects.filter(pk=payment.pk).update(checkout_url=checkout.url)
    payment.checkout_url = checkout.url
    return payment


def _renewal_payment(subscription: Subscription, *, provider_code: str) -> Payment:
    """The order for the period after the current one (the database allows one per period:
    ``IntegrityError`` if it exists)."""
    plan = subscription.plan
    return Payment.objects.create(
        subscription=subscription,
        kind=Payment.Kind.RENEWAL,
        plan=plan,
        provider=provider_code,
        amount_fen=plan.price_fen,
        currency=plan.currency,
        period_start=subscription.period_end,
    )


#: A member may renew by hand this long before the card ends.
RENEWAL_WINDOW = timedelta(days=30)


def renewal_checkout_start(
    *, user: User, channel: str = CHANNEL_DESKTOP, client_ip: str = "", openid: str = ""
) -> Payment:
    """One-tap renewal (where no recurring agreement renews the card): an order for the next period,
    which starts exactly where the current one ends; the reminders link here. The same pending order
    is returned on a repeated tap. Raises ``sales_closed``, ``membership_inactive``,
    ``renewal_too_early`` and the provider's errors."""
    _require_sales_open()
    provider = get_provider()
    with transaction.atomic():
        subscription = _current_of(user)
        if subscription is None or subscription.state not in PAID_STATES or subscription.period_end is None:
            raise DomainError("membership_inactive")
        if subscription.period_end - _now() > RENEWAL_WINDOW:
            raise DomainError("renewal_too_early", date=_local_date(subscription.period_end - RENEWAL_WINDOW))
        plan = subscription.plan
        payment = (
            subscription.payments.filter(
                kind=Payment.Kind.RENEWAL, period_start=subscription.period_end, state=Payment.State.PENDING
            )
            .select_for_update()
            .first()
        )
        if payment is None:
            try:
                with transaction.atomic():
                    payment = _renewal_payment(subscription, provider_code=provider.code)
            except IntegrityError:
                raise DomainError("renewal_already_paid") from None
            audit_record(
                actor=user,
                action="members.renewal_checkout_start",
                obj=subscription,
                after={"payment": str(payment.public_id), "period_start": subscription.period_end},
            )
    payer = Payer(channel=channel, client_ip=client_ip, openid=openid)
    return _checkout_open(payment, plan=plan, provider=provider, user=user, payer=payer)


def _checkout_record(*, user: User, plan: Plan, provider_code: str) -> Payment:
    """Inside a transaction: the member's pending order for ``plan``, or a new one."""
    existing = _current_of(user)
    if existing is not None and existing.state in (S.PENDING_PAYMENT, S.TRIALING):
        pending = existing.payments.filter(state=Payment.State.PENDING, flagged_at__isnull=True).last()
        if pending is not None and pending.plan_id == plan.pk:
            return pending
        if pending is not None:  # a concurrent checkout for another plan got here first
            raise DomainError("subscription_already_current")
    if existing is not None and existing.state == S.TRIALING:
        subscription = existing
    elif existing is not None:
        raise DomainError("subscription_already_current")
    else:
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
        plan=plan,
        provider=provider_code,
        amount_fen=plan.price_fen,
        currency=plan.currency,
    )
    audit_record(
        actor=user,
        action="members.checkout_start",
        obj=subscription,
        after={
            "plan": plan.code,
            "payment": str(payment.public_id),
            "amount_fen": plan.price_fen,
            "upgrade": subscription.state == S.TRIALING,
        },
    )
    return payment


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
        if payment is None:  # an order of a paid event place, or one we do not know
            from ..events.payments import notified as event_payment_notified

            outcome = (
                event_payment_notified(provider_code=provider.code, txn=note.transaction, refund=note.refund)
                or "unknown_payment"
            )
        elif note.refund is not None:
            outcome = _refund_notification(payment, note, provider)
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
        "merchant_mismatch": "payment_merchant_mismatch",
    }.get(outcome)
    if refusal:
        raise DomainError(refusal)
    return outcome


def notification_ack(*, provider_code: str) -> str:
    """The plain-text answer the gateway expects once a notice is taken ("" for the JSON answer)."""
    return get_provider(provider_code).ack


def _refund_notification(payment: Payment, note: Notification, provider: PaymentProvider) -> str:
    """A refund notice: settle our ledger entry of that refund number (any order of arrival; a
    notice for a refund we never asked for, or for another amount, is flagged)."""
    assert note.refund is not None
    if _merchant_mismatch(payment, note.transaction, provider):
        return "merchant_mismatch"
    try:
        refund_public_id = uuid.UUID(note.refund.out_refund_no)
    except ValueError:
        refund_public_id = None
    refund = Refund.objects.filter(public_id=refund_public_id, payment=payment).first() if refund_public_id else None
    if refund is None:
        issue_record(
            kind=ReconciliationIssue.Kind.NOTIFICATION_REFUSED,
            provider=provider.code,
            out_trade_no=note.transaction.out_trade_no,
            out_refund_no=note.refund.out_refund_no,
            detail={"reason": "refund_unknown", "notify_id": note.notify_id},
        )
        return "unknown_refund"
    if note.refund.amount_fen is not None and note.refund.amount_fen != refund.amount_fen:
        # the gateway says another amount went back than we asked for: refused and flagged, the entry
        # stays open (reconciliation asks again; the daily bill check compares the amounts)
        issue_record(
            kind=ReconciliationIssue.Kind.NOTIFICATION_REFUSED,
            provider=provider.code,
            out_trade_no=note.transaction.out_trade_no,
            out_refund_no=note.refund.out_refund_no,
            detail={"reason": "amount_mismatch", "expected": refund.amount_fen, "received": note.refund.amount_fen},
        )
        return "amount_mismatch"
    return "refund_" + refund_record(refund_id=refund.pk, result=note.refund, actor=f"provider:{provider.code}")


def _merchant_mismatch(payment: Payment, txn: Transaction, provider: PaymentProvider) -> bool:
    """The gateway says the money went to another application or merchant account than ours: flag
    it (never activate) and record it for an operator."""
    received = {"app_id": txn.app_id, "merchant_id": txn.merchant_id}
    expected = {"app_id": provider.app_id, "merchant_id": provider.merchant_id}
    if all(not expected[k] or received[k] == expected[k] for k in expected):
        return False
    _flag(payment, "merchant_mismatch", {"expected": expected, "received": received})
    issue_record(
        kind=ReconciliationIssue.Kind.NOTIFICATION_REFUSED,
        provider=provider.code,
        out_trade_no=txn.out_trade_no,
        detail={"reason": "merchant_mismatch", "expected": expected, "received": received},
    )
    return True


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
    if _merchant_mismatch(payment, txn, get_provider(payment.provider)):
        return "merchant_mismatch"
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
    if payment.kind == Payment.Kind.INITIAL and subscription.state == S.TRIALING:
        return _trial_upgrade(subscription, payment, was_failed=was_failed, actor=actor)
    if payment.kind == Payment.Kind.INITIAL:
        if was_failed or subscription.state != S.PENDING_PAYMENT or not programme_get().sales_open:
            _flag(payment, "paid_after_close", {"subscription_state": subscription.state})
            return "paid_after_close"
        end = now + timedelta(days=plan.duration_days)
        _transition(subscription, S.ACTIVE, actor=actor, reason="payment settled", period_start=now, period_end=end)
        SubscriptionPeriod.objects.create(
            subscription=subscription,
            kind=SubscriptionPeriod.Kind.PAID,
            start=now,
            end=end,
            payment=payment,
            guaranteed=(payment.plan or plan).savings_guarantee,
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
    if subscription.state == S.CANCEL_AT_PERIOD_END:  # the member renewed by hand: the card goes on
        _transition(subscription, S.ACTIVE, actor=actor, reason="renewed by the member")
    _notify_paid(subscription, payment, end, renewed=True)
    return "renewed"


def _trial_upgrade(subscription: Subscription, payment: Payment, *, was_failed: bool, actor: Actor) -> str:
    """A trial member's payment settled: the paid year is appended exactly where the trial ends
    (the trial's days are kept, none is counted twice) and the card becomes a paid, auto-renewing
    one on the plan bought."""
    plan = payment.plan or subscription.plan
    if was_failed or not programme_get().sales_open or plan.is_trial:
        _flag(payment, "paid_after_close", {"subscription_state": subscription.state})
        return "paid_after_close"
    end = _append_period(
        subscription,
        kind=SubscriptionPeriod.Kind.PAID,
        days=plan.duration_days,
        payment=payment,
        actor=actor,
        action="members.trial_upgraded",
    )
    _transition(subscription, S.ACTIVE, actor=actor, reason="trial upgraded", plan_id=plan.pk, auto_renew=True)
    _notify_paid(subscription, payment, end, renewed=False)
    return "activated"


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
    try:
        txn = get_provider(payment.provider).close(out_trade_no=str(payment.public_id))
    except DomainError as exc:
        if exc.code != "payment_unknown":
            raise
        # The order never reached the gateway (its creation failed before it got there): nothing
        # can be paid on it, so it fails here.
        with transaction.atomic():
            return "failed" if _payment_fail(payment.pk, actor=actor, reason=reason) else "unchanged"
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
    and fail those pending longer than ``PAYMENT_TIMEOUT``. A renewal debit the gateway never received
    (its answer was a 5xx) is sent again under the same order number while it is pending."""
    now = now or _now()
    counts: dict[str, int] = defaultdict(int)
    stuck = Payment.objects.filter(
        state=Payment.State.PENDING, flagged_at__isnull=True, created_at__lt=now - RECONCILE_AFTER
    ).order_by("id")
    for payment in stuck.iterator(chunk_size=200):
        try:
            try:
                outcome = payment_sync(payment=payment, actor="system:reconcile")
            except DomainError as exc:
                if exc.code != "payment_unknown":
                    raise
                outcome = "pending"  # the gateway never saw the order: it is closed at the timeout
                if payment.kind == Payment.Kind.RENEWAL and payment.created_at >= now - PAYMENT_TIMEOUT:
                    outcome = _agreement_debit(payment, get_provider(payment.provider))
            if outcome == "pending" and payment.created_at < now - PAYMENT_TIMEOUT:
                outcome = _payment_close(payment.pk, actor="system:reconcile", reason="payment timed out")
        except DomainError as exc:
            outcome = exc.code
            logger.warning("reconciling payment %s: %s", payment.public_id, exc)
        counts[outcome] += 1
    return dict(counts)


def _agreement_debit(payment: Payment, provider: PaymentProvider) -> str:
    """Outside any transaction: debit the member under their agreement for the committed renewal order
    (``pending``: the gateway took it, the outcome arrives as a notification; ``no_agreement``: the
    gateway no longer honours it, the order failed and auto-renew is off). Other refusals are raised."""
    plan = payment.plan or payment.subscription.plan
    user_id = payment.subscription.user_id
    if not provider.supports_agreements:
        return "pending"
    try:
        provider.charge_agreement(
            out_trade_no=str(payment.public_id),
            amount_fen=payment.amount_fen,
            currency=payment.currency,
            description=f"RedCard 小红卡 · {plan.name_zh}",
            payer_id=user_id,
        )
    except DomainError as exc:
        if exc.code != "payment_agreement_missing":
            raise
        with transaction.atomic():  # the gateway no longer honours it: renewed by hand
            _payment_fail(payment.pk, actor="system:renewals", reason="no recurring agreement")
            locked = _locked_subscription(payment.subscription_id)
            if locked.auto_renew:
                locked.auto_renew = False
                locked.save(update_fields=["auto_renew"])
                audit_record(
                    actor="system:renewals",
                    action="members.auto_renew_set",
                    obj=locked,
                    before={"auto_renew": True},
                    after={"auto_renew": False},
                    reason="no recurring agreement at the gateway",
                )
        return "no_agreement"
    return "pending"


def renewals_charge(*, now: datetime | None = None) -> int:
    """Charge the auto-renewal of active cards ending within ``RENEWAL_LEAD``. A renewal
    payment per period is unique (constraint), so the job may run any number of times. A member who
    never signed the gateway's agreement (Alipay, WeChat Pay) is not charged, nor one whose debit the
    gateway requires booked the day before (WeChat Pay 预约扣费) and which was not; one whose agreement
    the gateway no longer honours gets a failed renewal (and its notice) and auto-renew off: the card is
    renewed by hand from the membership page, where the reminders lead."""
    from .agreements import agreement_active, charge_day

    now = now or _now()
    if not programme_get().sales_open:
        return 0
    provider = get_provider()
    if not provider.supports_agreements:
        return 0  # no recurring agreement: the reminders lead to a one-tap renewal checkout
    due = Subscription.objects.filter(
        state=S.ACTIVE, auto_renew=True, period_end__gt=now, period_end__lte=now + RENEWAL_LEAD
    ).select_related("plan", "user")
    charged = 0
    for subscription in due.iterator(chunk_size=200):
        if provider.signs_agreements and not agreements_supported(user=subscription.user):
            continue  # never signed one: the reminders lead to a one-tap renewal
        if provider.schedules_agreement_charges:
            agreement = agreement_active(user=subscription.user, provider_code=provider.code)
            assert subscription.period_end is not None
            if agreement is None or agreement.charge_booked_for != charge_day(subscription.period_end):
                logger.warning("renewal of subscription %s not booked at the gateway", subscription.pk)
                continue
        try:
            with transaction.atomic():
                locked = _locked_subscription(subscription.pk)
                if locked.state != S.ACTIVE or not locked.auto_renew:
                    continue
                payment = _renewal_payment(locked, provider_code=provider.code)
        except IntegrityError:
            continue  # this period's renewal is already charged
        try:
            outcome = _agreement_debit(payment, provider)
        except DomainError as exc:
            logger.warning("renewal %s not charged: %s", payment.public_id, exc.code)
            continue  # pending: reconciliation asks the gateway (and sends it again), then closes it
        if outcome == "pending":
            charged += 1
    return charged
