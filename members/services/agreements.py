"""Recurring agreements (Alipay 周期扣款): the member signs one on the gateway's page, renewals are then
charged under it (``checkout.renewals_charge`` → ``provider.charge_agreement``), and the gateway's
notice that the member ended it turns auto-renew off (the card then ends with its period unless
renewed by hand, where the reminders lead).

As for payments, the agreement row (its number fixed) is committed before the member is sent to the
gateway, and no gateway call runs inside a transaction."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from django.db import transaction
from django.urls import reverse

from core.errors import DomainError
from core.models import User
from core.services import audit_record

from .. import errors  # noqa: F401  (registers the codes)
from ..models import PAID_STATES, PaymentAgreement, ReconciliationIssue
from ..payments import get_provider
from ..payments.base import CHANNEL_DESKTOP, AgreementNotice
from .checkout import RENEWAL_LEAD
from .common import _current_of, _now
from .refunds import issue_record
from .subscriptions import subscription_set_auto_renew


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


def agreement_sign_start(*, user: User, channel: str = CHANNEL_DESKTOP) -> str:
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
        first_charge_on = (subscription.period_end - RENEWAL_LEAD).date()
    checkout = provider.agreement_sign(
        external_agreement_no=str(agreement.public_id),
        amount_fen=plan.price_fen,
        period_days=plan.duration_days,
        first_charge_on=first_charge_on,
        description=f"RedCard 小红卡 · {plan.name_zh}",
        return_url=reverse("members:membership"),
        channel=channel,
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
        refusal = _refusal(provider.code, provider.app_id, notice, agreement)
        if refusal:
            outcome = refusal
        elif notice.state == "active":
            outcome = _signed(agreement, notice) if agreement is not None else "unchanged"
        else:
            outcome = _ended(agreement, notice) if agreement is not None else "unchanged"
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


def _refusal(provider_code: str, app_id: str, notice: AgreementNotice, agreement: PaymentAgreement | None) -> str:
    reason = ""
    if agreement is None:
        reason = "unknown_agreement"
    elif app_id and notice.app_id and notice.app_id != app_id:
        reason = "merchant_mismatch"
    if reason:
        issue_record(
            kind=ReconciliationIssue.Kind.NOTIFICATION_REFUSED,
            provider=provider_code,
            out_trade_no=f"agreement:{notice.external_agreement_no}"[:64],
            detail={"reason": reason, "agreement_no": notice.agreement_no, "app_id": notice.app_id},
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


def _ended(agreement: PaymentAgreement, notice: AgreementNotice) -> str:
    if agreement.state == PaymentAgreement.State.ENDED:
        return "unchanged"
    agreement.state = PaymentAgreement.State.ENDED
    agreement.agreement_no = agreement.agreement_no or notice.agreement_no[:64]
    agreement.ended_at = notice.at or _now()
    agreement.save(update_fields=["state", "agreement_no", "ended_at"])
    actor = f"provider:{agreement.provider}"
    audit_record(
        actor=actor, action="members.agreement_ended", obj=agreement, after={"agreement_no": notice.agreement_no}
    )
    with contextlib.suppress(DomainError):  # no paid card in force: nothing renews anyway
        subscription_set_auto_renew(user=agreement.user, auto_renew=False, actor=actor)
    return "ended"
