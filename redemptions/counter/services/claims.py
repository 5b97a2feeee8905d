"""Tap or scan at the counter (碰一碰): the member claims the discount on a bill, staff confirm or reject it."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from core.models import User
from core.services import audit_record
from merchants.models import Merchant
from merchants.selectors import local_date as merchant_local_date
from merchants.selectors import today_used

from ...models import Channel, Claim, NfcTag, Redemption
from ..errors import for_staff
from ..feed import feed_changed
from .common import (
    Counter,
    claim_ttl,
    counter_authorize,
    discount_for,
    eligibility,
    member_day_count,
    parse_bill_fen,
    parse_bill_yuan,
    refusal_record,
)
from .redeem import redemption_write

# --- Claims (tap or scan at the counter) -----------------------------------------------------------


def claim_create(
    *,
    member: User,
    merchant: Merchant,
    bill: object,
    bill_in_yuan: bool = True,
    tag: NfcTag | None = None,
    tag_verified: bool = False,
    at: datetime | None = None,
) -> Claim:
    """A signed-in member asks for the discount on a bill at a shop; staff confirm on their console.

    Checks now what can be checked (bill, entitlement, shop state, the member's limit, capacity) so
    the member hears a refusal at once; everything is checked again when staff confirm. A new claim
    replaces the member's pending one at this shop."""
    at = at or timezone.now()
    try:
        bill_fen = parse_bill_yuan(bill) if bill_in_yuan else parse_bill_fen(bill)
        eligibility(member=member, merchant=merchant, at=at)
        offer = merchant.offer
        if offer.min_bill_fen is not None and bill_fen < offer.min_bill_fen:
            raise DomainError("bill_below_minimum", min_bill=f"{offer.min_bill_fen / 100:.2f}")
        day = merchant_local_date(merchant=merchant, at=at)
        if member_day_count(member=member, merchant=merchant, day=day) >= merchant.member_daily_limit:
            raise DomainError("member_limit_reached")
        if today_used(merchant=merchant, at=at) >= merchant.daily_capacity:
            raise DomainError("merchant_at_capacity")
    except DomainError as exc:
        refusal_record(error=exc, step="claim", merchant=merchant, channel=Channel.MEMBER_CLAIM, member=member, at=at)
        raise
    with transaction.atomic():
        Claim.objects.filter(member=member, merchant=merchant, status=Claim.Status.PENDING).update(
            status=Claim.Status.CANCELLED, decided_at=at
        )
        feed_changed(merchant=merchant.public_id)
        return Claim.objects.create(
            member=member,
            merchant=merchant,
            tag=tag,
            tag_verified=tag_verified,
            bill_fen=bill_fen,
            discount_fen=discount_for(bill_fen=bill_fen, rate_bp=offer.rate_bp, cap_fen=offer.cap_fen),
            short_number=f"{secrets.randbelow(10_000):04d}",
            created_at=at,
            expires_at=at + claim_ttl(),
        )


def _claim_lock_pending(*, claim: Claim, at: datetime) -> Claim:
    locked = Claim.objects.select_for_update().select_related("member").get(pk=claim.pk)
    if locked.status != Claim.Status.PENDING:
        raise DomainError("claim_not_pending")
    if locked.expires_at <= at:
        raise DomainError("claim_expired")  # marked expired by the caller, after the rollback
    return locked


def claim_confirm(*, claim: Claim, merchant: Merchant, staff: User, at: datetime | None = None) -> Redemption:
    """Staff confirm a pending claim: the same checks and writes as a scanned code (channel
    ``member_claim``), and the claim records its redemption. Raises ``claim_not_pending``,
    ``claim_expired`` and every refusal of ``redemption_confirm``."""
    at = at or timezone.now()
    counter = Counter(staff=staff)
    try:
        if claim.merchant_id != merchant.pk:
            raise DomainError("not_found")
        counter_authorize(merchant=merchant, counter=counter)
        with transaction.atomic():
            locked = _claim_lock_pending(claim=claim, at=at)
            redemption = redemption_write(
                member=locked.member,
                merchant=merchant,
                counter=counter,
                channel=Channel.MEMBER_CLAIM,
                code_id=locked.code_id,
                bill_fen=locked.bill_fen,
                at=at,
            )
            locked.status, locked.decided_at, locked.decided_by = Claim.Status.CONFIRMED, at, staff
            locked.redemption = redemption
            locked.save(update_fields=["status", "decided_at", "decided_by", "redemption"])
            feed_changed(merchant=merchant.public_id)
    except DomainError as exc:
        if exc.code == "claim_expired":
            Claim.objects.filter(pk=claim.pk, status=Claim.Status.PENDING).update(status=Claim.Status.EXPIRED)
        refusal_record(
            error=exc,
            step="confirm",
            merchant=merchant,
            counter=counter,
            channel=Channel.MEMBER_CLAIM,
            code_text=claim.code_id,
            code_kind="claim",
            member=claim.member,
            at=at,
        )
        raise for_staff(exc) from exc.__cause__
    claim.status, claim.redemption = Claim.Status.CONFIRMED, redemption
    return redemption


def claim_reject(
    *, claim: Claim, merchant: Merchant, staff: User, reason: str = "", at: datetime | None = None
) -> Claim:
    """Staff turn a pending claim down (e.g. the member is not at the counter)."""
    at = at or timezone.now()
    if claim.merchant_id != merchant.pk:
        raise DomainError("not_found")
    counter_authorize(merchant=merchant, counter=Counter(staff=staff))
    with transaction.atomic():
        locked = Claim.objects.select_for_update().get(pk=claim.pk)
        if locked.status != Claim.Status.PENDING:
            raise DomainError("claim_not_pending")
        locked.status, locked.decided_at, locked.decided_by = Claim.Status.REJECTED, at, staff
        locked.reject_reason = (reason or "")[:200]
        locked.save(update_fields=["status", "decided_at", "decided_by", "reject_reason"])
        feed_changed(merchant=merchant.public_id)
        audit_record(actor=staff, action="redemptions.claim_reject", obj=locked, reason=locked.reject_reason)
    claim.status = locked.status
    return claim


def claim_cancel(*, claim: Claim, member: User, at: datetime | None = None) -> Claim:
    """The member withdraws their pending claim."""
    updated = Claim.objects.filter(pk=claim.pk, member=member, status=Claim.Status.PENDING).update(
        status=Claim.Status.CANCELLED, decided_at=at or timezone.now()
    )
    if not updated:
        raise DomainError("claim_not_pending")
    feed_changed(merchant=claim.merchant.public_id)
    claim.status = Claim.Status.CANCELLED
    return claim


def claims_expire(*, now: datetime | None = None) -> int:
    """Mark pending claims past their time as expired (a periodic job; pages also treat them so)."""
    return Claim.objects.filter(status=Claim.Status.PENDING, expires_at__lte=now or timezone.now()).update(
        status=Claim.Status.EXPIRED
    )
