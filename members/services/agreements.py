"""Recurring agreements (Alipay 周期扣款, WeChat Pay 委托代扣): the member signs one on the gateway's page,
renewals are then charged under it (``checkout.renewals_charge`` → ``provider.charge_agreement``; at
WeChat Pay booked the day before by ``renewals_book``), and the gateway's notice that the member ended it
turns auto-renew off (the card then ends with its period unless renewed by hand, where the reminders
lead). A member who switches auto-renew off ends the agreement at the gateway (``auto_renew_switch``);
``agreements_reconcile`` settles agreements stuck in ``pending`` from the gateway's query and retries the
ends the gateway did not confirm.

As for payments, the agreement row (its number fixed) is committed before the member is sent to the
gateway, and no gateway call runs inside a transaction."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.urls import reverse

from core.errors import DomainError
from core.models import User
from core.services import audit_record

from .. import errors  # noqa: F401  (registers the codes)
from ..models import PAID_STATES, PaymentAgreement, ReconciliationIssue, Subscription
from ..payments import get_provider
from ..payments.base import CHANNEL_DESKTOP, AgreementNotice, PaymentProvider
from .checkout import RENEWAL_LEAD
from .common import S, _current_of, _now, programme_get
from .reconciliation import BILL_TZ
from .refunds import issue_record
from .subscriptions import subscription_set_auto_renew

logger = logging.getLogger(__name__)

#: A pending agreement is asked about at the gateway after this long ...
AGREEMENT_RECONCILE_AFTER = timedelta(minutes=10)
#: ... and given up (ended, never signed) when the gateway still has none after this long.
AGREEMENT_SIGN_TIMEOUT = timedelta(days=1)


def charge_day(period_end: datetime) -> date:
    """The day (China Standard Time, the gateways' calendar) a renewal is charged: ``RENEWAL_LEAD`` before
    the period ends."""
    return (period_end - RENEWAL_LEAD).astimezone(BILL_TZ).date()


def agreement_active(*, user: User, provider_code: str) -> PaymentAgreement | None:
    return PaymentAgreement.objects.filter(
        user=user, provider=provider_code, state=PaymentAgreement.State.ACTIVE
    ).first()


def agreement_offered(*, user: User) -> bool:
    """Whether the membership page offers the member to sign an agreement (the gateway has them and the
    member has none active)."""
    try:
        provider = get_provider()
    except DomainError:
        return False
    return provider.signs_agreements and agreement_active(user=user, provider_code=provider.code) is None


def agreement_sign_start(*, user: User, channel: str = CHANNEL_DESKTOP, openid: str = "") -> str:
    """Where the member signs the auto-renewal agreement of their paid card at the gateway: the
    agreement is recorded (``pending``, our number fixed) and committed, then the gateway's page is
    built. Raises ``payment_agreement_missing`` (the gateway has no agreements, or one is already
    active) and ``subscription_not_paid``."""
    provider = get_provider()
    if not provider.signs_agreements:
        raise DomainError("payment_agreement_missing")
    with transaction.atomic():
        subscription = _current_of(user)
        if subscription is None or subscription.state not in PAID_STATES or subscription.period_end is None:
            raise DomainError("subscription_not_paid")
        if agreement_active(user=user, provider_code=provider.code) is not None:
            raise DomainError("payment_agreement_missing")
        agreement = PaymentAgreement.objects.create(user=user, provider=provider.code)
        audit_record(
            actor=user,
            action="members.agreement_sign_start",
            obj=subscription,
            after={"agreement": agreement.public_id},
        )
        plan = subscription.plan
        first_charge_on = charge_day(subscription.period_end)
    checkout = provider.agreement_sign(
        external_agreement_no=str(agreement.public_id),
        amount_fen=plan.price_fen,
        period_days=plan.duration_days,
        first_charge_on=first_charge_on,
        description=f"RedCard 小红卡 · {plan.name_zh}",
        return_url=reverse("members:membership"),
        channel=channel,
        openid=openid,
    )
    return checkout.url


def agreement_notification_receive(*, provider_code: str, headers: Any, body: bytes) -> str:
    """Verify and apply the gateway's notice about an agreement, once: ``signed`` (the agreement is
    active), ``ended`` (ended; the member's auto-renew is switched off) or ``unchanged``. A notice for an
    agreement we never started, or naming another application, is recorded for an operator and refused
    (``payment_unknown``, ``payment_merchant_mismatch``)."""
    provider = get_provider(provider_code)
    notice = provider.parse_agreement_notification(headers=headers, body=body)
    with transaction.atomic():
        agreement = _agreement_of(provider.code, notice)
        refusal = _refusal(provider, notice, agreement)
        outcome = refusal or (_apply(agreement, notice) if agreement is not None else "unchanged")
    code = {"unknown_agreement": "payment_unknown", "merchant_mismatch": "payment_merchant_mismatch"}.get(outcome)
    if code:
        raise DomainError(code)
    return outcome


def _agreement_of(provider_code: str, notice: AgreementNotice) -> PaymentAgreement | None:
    try:
        public_id = uuid.UUID(notice.external_agreement_no)
    except ValueError:
        return None
    return (
        PaymentAgreement.objects.select_for_update()
        .filter(public_id=public_id, provider=provider_code)
        .select_related("user")
        .first()
    )


def _apply(agreement: PaymentAgreement, notice: AgreementNotice) -> str:
    """Inside a transaction, on the locked row: what the gateway says of the agreement, once."""
    if notice.state == "active":
        return _signed(agreement, notice)
    if notice.state == "fulfilled":
        return _ended(agreement, notice, fulfilled=True)
    return _ended(agreement, notice)


def _differs(expected: str, received: str) -> bool:
    return bool(expected and received and received != expected)


def _refusal(provider: PaymentProvider, notice: AgreementNotice, agreement: PaymentAgreement | None) -> str:
    reason = ""
    if agreement is None:
        reason = "unknown_agreement"
    elif _differs(provider.app_id, notice.app_id) or _differs(provider.merchant_id, notice.merchant_id):
        reason = "merchant_mismatch"
    if reason:
        issue_record(
            kind=ReconciliationIssue.Kind.NOTIFICATION_REFUSED,
            provider=provider.code,
            out_trade_no=f"agreement:{notice.external_agreement_no}"[:64],
            detail={
                "reason": reason,
                "agreement_no": notice.agreement_no,
                "app_id": notice.app_id,
                "merchant_id": notice.merchant_id,
            },
        )
    return reason


def _signed(agreement: PaymentAgreement, notice: AgreementNotice) -> str:
    if agreement.state != PaymentAgreement.State.PENDING:
        return "unchanged"
    PaymentAgreement.objects.filter(
        user=agreement.user, provider=agreement.provider, state=PaymentAgreement.State.ACTIVE
    ).update(state=PaymentAgreement.State.ENDED, ended_at=_now())  # a new signature replaces the old
    agreement.state = PaymentAgreement.State.ACTIVE
    agreement.agreement_no = notice.agreement_no[:64]
    agreement.signed_at = notice.at or _now()
    agreement.save(update_fields=["state", "agreement_no", "signed_at"])
    audit_record(
        actor=f"provider:{agreement.provider}",
        action="members.agreement_signed",
        obj=agreement,
        after={"agreement_no": agreement.agreement_no},
    )
    return "signed"


def _ended(agreement: PaymentAgreement, notice: AgreementNotice, *, fulfilled: bool = False) -> str:
    """The agreement ended at the gateway. Ended by the member (or the gateway's staff): auto-renew is
    switched off. Fulfilled (its one debit was paid, WeChat Pay 预约扣费): auto-renew stays as it is and
    the membership page offers the next year's agreement."""
    if agreement.state == PaymentAgreement.State.ENDED:
        return "unchanged"
    agreement.state = PaymentAgreement.State.ENDED
    agreement.agreement_no = agreement.agreement_no or notice.agreement_no[:64]
    agreement.ended_at = notice.at or _now()
    agreement.save(update_fields=["state", "agreement_no", "ended_at"])
    actor = f"provider:{agreement.provider}"
    audit_record(
        actor=actor,
        action="members.agreement_fulfilled" if fulfilled else "members.agreement_ended",
        obj=agreement,
        after={"agreement_no": notice.agreement_no},
    )
    if fulfilled:
        return "fulfilled"
    with contextlib.suppress(DomainError):  # no paid card in force: nothing renews anyway
        subscription_set_auto_renew(user=agreement.user, auto_renew=False, actor=actor)
    return "ended"


# --- the member switches auto-renew --------------------------------------------------------------


def auto_renew_switch(*, user: User, auto_renew: bool, actor: Any = None) -> Subscription:
    """Switch auto-renew on or off (``subscription_set_auto_renew``). Off also ends the member's active
    agreements at the gateway: the request is recorded (``end_requested_at``) and committed, then the
    gateway is asked, outside any transaction; one it does not confirm is asked again by
    ``agreements_reconcile``. Raises ``membership_inactive`` or ``subscription_not_paid``."""
    with transaction.atomic():
        subscription = subscription_set_auto_renew(user=user, auto_renew=auto_renew, actor=actor)
        active = PaymentAgreement.objects.select_for_update().filter(user=user, state=PaymentAgreement.State.ACTIVE)
        if auto_renew:  # changed their mind before the gateway confirmed the end: keep it
            active.filter(end_requested_at__isnull=False).update(end_requested_at=None)
            return subscription
        ids = list(active.values_list("pk", flat=True))
        active.filter(end_requested_at__isnull=True).update(end_requested_at=_now())
    for agreement_id in ids:
        with contextlib.suppress(DomainError):  # logged; agreements_reconcile asks again
            agreement_end(agreement_id=agreement_id, actor=actor or user)
    return subscription


def agreement_end(*, agreement_id: int, actor: Any) -> str:
    """Outside any transaction: end one agreement whose end was requested at the gateway, then record
    it (``ended``, or ``unchanged`` if it already ended). Raises the gateway's errors."""
    agreement = PaymentAgreement.objects.get(pk=agreement_id)
    if agreement.state != PaymentAgreement.State.ACTIVE or agreement.end_requested_at is None:
        return "unchanged"
    try:
        get_provider(agreement.provider).agreement_unsign(
            external_agreement_no=str(agreement.public_id), agreement_no=agreement.agreement_no
        )
    except DomainError as exc:
        logger.warning("agreement %s not ended at the gateway: %s", agreement.public_id, exc.code)
        raise
    with transaction.atomic():
        locked = PaymentAgreement.objects.select_for_update().get(pk=agreement_id)
        if locked.state != PaymentAgreement.State.ACTIVE:
            return "unchanged"
        locked.state = PaymentAgreement.State.ENDED
        locked.ended_at = _now()
        locked.save(update_fields=["state", "ended_at"])
        audit_record(
            actor=actor,
            action="members.agreement_ended",
            obj=locked,
            after={"agreement_no": locked.agreement_no},
            reason="auto-renew switched off",
        )
    return "ended"


# --- booking the debit (WeChat Pay 预约扣费) ---------------------------------------------------------


def renewals_book(*, now: datetime | None = None) -> dict[str, int]:
    """The day before a renewal's charge day (China Standard Time), book its debit with a gateway that
    requires it (WeChat Pay 预约扣费, which tells the member and accepts bookings only within Beijing
    [08:00, 19:30)): each agreement once per charge day (``charge_booked_for``). Runs hourly."""
    now = now or _now()
    counts: dict[str, int] = defaultdict(int)
    if not programme_get().sales_open:
        return {}
    try:
        provider = get_provider()
    except DomainError:
        return {}
    if not provider.schedules_agreement_charges:
        return {}
    tomorrow = now.astimezone(BILL_TZ).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time.min, tzinfo=BILL_TZ) + RENEWAL_LEAD
    due = Subscription.objects.filter(
        state=S.ACTIVE, auto_renew=True, period_end__gte=start, period_end__lt=start + timedelta(days=1)
    ).select_related("plan", "user")
    for subscription in due.iterator(chunk_size=200):
        agreement = agreement_active(user=subscription.user, provider_code=provider.code)
        if agreement is None or agreement.charge_booked_for == tomorrow or agreement.end_requested_at is not None:
            continue
        try:
            day = provider.agreement_schedule(
                agreement_no=agreement.agreement_no,
                amount_fen=subscription.plan.price_fen,
                currency=subscription.plan.currency,
                now=now,
            )
        except DomainError as exc:
            logger.warning("renewal debit of agreement %s not booked: %s", agreement.public_id, exc.code)
            counts[exc.code] += 1
            continue
        with transaction.atomic():
            PaymentAgreement.objects.filter(pk=agreement.pk).update(charge_booked_for=day)
            audit_record(
                actor="system:renewals", action="members.agreement_debit_booked", obj=agreement, after={"day": day}
            )
        counts["booked"] += 1
    return dict(counts)


# --- reconciliation --------------------------------------------------------------------------------


def agreements_reconcile(*, now: datetime | None = None) -> dict[str, int]:
    """Agreements stuck in ``pending`` (the signature notice never arrived) are asked about at the
    gateway: signed ones become active, ended ones ended; one the gateway still lacks after
    ``AGREEMENT_SIGN_TIMEOUT`` was never signed and is ended. Ends the member asked for that the gateway
    did not confirm are asked again."""
    now = now or _now()
    counts: dict[str, int] = defaultdict(int)
    pending = PaymentAgreement.objects.filter(
        state=PaymentAgreement.State.PENDING, created_at__lt=now - AGREEMENT_RECONCILE_AFTER
    ).order_by("pk")
    for agreement in pending.iterator(chunk_size=200):
        try:
            notice = get_provider(agreement.provider).agreement_query(
                external_agreement_no=str(agreement.public_id), agreement_no=agreement.agreement_no
            )
        except DomainError as exc:
            counts[exc.code] += 1
            continue
        with transaction.atomic():
            locked = PaymentAgreement.objects.select_for_update().select_related("user").get(pk=agreement.pk)
            if locked.state != PaymentAgreement.State.PENDING:
                outcome = "unchanged"
            elif notice is not None:
                outcome = _apply(locked, notice)
            elif locked.created_at < now - AGREEMENT_SIGN_TIMEOUT:
                locked.state = PaymentAgreement.State.ENDED
                locked.ended_at = now
                locked.save(update_fields=["state", "ended_at"])
                audit_record(actor="system:reconcile", action="members.agreement_abandoned", obj=locked)
                outcome = "abandoned"
            else:
                outcome = "pending"
        counts[outcome] += 1
    ending = PaymentAgreement.objects.filter(state=PaymentAgreement.State.ACTIVE, end_requested_at__isnull=False)
    for agreement_id in list(ending.values_list("pk", flat=True)):
        try:
            counts[agreement_end(agreement_id=agreement_id, actor="system:reconcile")] += 1
        except DomainError as exc:
            counts[exc.code] += 1
    return dict(counts)
