"""Redemptions a scanner accepted while the shop's network was down, synced when it returns.

The scanner accepts a code offline only when it verified the signature itself, the code's window was live and
the card's signed end was still ahead (``static/js/redemptions-scanner.js``). Here each record it kept (code,
bill, staff, scan time, its own id) is judged by the scan's time, never by the time it arrives:

- **refused** (nothing to honour, a ``RefusedScan`` is kept): not a genuine QR code, a code not live at the scan
  time within ``offline_clock_skew``, a scan older than ``offline_max_age`` (24 h) or in the future;
- **conflict** (no redemption; the owner and curation see it): the code was already used (online, or by another
  device's record), or the card was not entitled at the scan time;
- **accepted**, or **flagged** when the member's daily limit or the shop's capacity was already reached, the shop
  was paused or not active, or the owner had switched offline acceptance off: the shop gave the discount, so the
  redemption counts (limits and capacity count it, past their maximum) and the flag says why.

The transaction is the online confirmation's (:func:`.redeem.redemption_write`) in what guards money and "never
twice": the shop's terms under a shared lock, the card (entitled *then*) under ``FOR NO KEY UPDATE``, the unique
code, the member's day and the shop's day (counted, not guarded), the savings meter, the audit entry and one
outbox row. It lives here, not in the online path, so the online confirmation keeps its statement budget.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.errors import DomainError
from core.models import User
from core.services import audit_record
from members.selectors import entitlement_then
from members.services import subscription_savings_add
from merchants.models import Merchant
from merchants.selectors import local_date, redeem_refusal, redeem_terms_lock, staff_membership
from merchants.services import capacity_take

from ...models import CODE_USED_ONCE, Channel, MemberDay, OfflineRedemption, Redemption, RedemptionOutbox
from .. import codes
from ..outbox import outbox_write
from ..selectors import offline_clock_skew, offline_max_age
from .common import Counter, counter_authorize, discount_for, parse_bill_fen, refusal_record

#: Counted past any real limit: an offline redemption is never refused for a limit, only flagged.
_UNBOUNDED = 2**31 - 1

_COUNT_SQL = f"""
INSERT INTO {MemberDay._meta.db_table} (member_id, merchant_id, local_date, count)
VALUES (%s, %s, %s, 1)
ON CONFLICT (member_id, merchant_id, local_date) DO UPDATE SET count = {MemberDay._meta.db_table}.count + 1
RETURNING count
"""  # noqa: S608 (table name from the model, values bound)


@dataclass(frozen=True)
class OfflineRecord:
    """One redemption as the scanner kept it."""

    client_id: uuid.UUID
    code: str
    bill_fen: object
    scanned_at: datetime
    staff_id: int | None = None


class _Conflict(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _scan_checked(*, record: OfflineRecord, merchant: Merchant, now: datetime) -> tuple[int, User, str]:
    """(bill in fen, member, code id) of a record whose code was genuine and live at its scan time.
    Raises the refusal (``DomainError``) otherwise."""
    bill_fen = parse_bill_fen(record.bill_fen)
    skew = offline_clock_skew()
    if record.scanned_at > now + timedelta(seconds=skew):
        raise DomainError("offline_scan_in_future")
    if record.scanned_at < now - offline_max_age():
        raise DomainError("offline_too_late")
    if codes.looks_numeric(record.code):  # a typed code cannot be checked on the scanner: never offline
        raise DomainError("code_invalid")
    verified = codes.verify(record.code, at=record.scanned_at, skew=skew)
    member = (
        User.objects.filter(is_active=True, public_id=verified.member_public_id).first()
        if verified.member_public_id
        else None
    )
    if member is None:
        raise DomainError("code_invalid")
    return bill_fen, member, codes.code_id(member_public_id=member.public_id, window=verified.window)


def _staff(*, record: OfflineRecord, merchant: Merchant, counter: Counter) -> User | None:
    """The staff member who scanned (the record's, when they are staff of the shop), else the one syncing."""
    if record.staff_id and counter.staff is not None and record.staff_id != counter.staff.pk:
        other = User.objects.filter(pk=record.staff_id).first()
        if other is not None and staff_membership(user=other, merchant=merchant) is not None:
            return other
    return counter.staff


def _write(
    *, record: OfflineRecord, merchant: Merchant, staff: User | None, member: User, bill_fen: int, code_id: str
) -> OfflineRedemption:
    """The money transaction of one offline redemption (see the module's docstring)."""
    at = record.scanned_at
    with transaction.atomic():
        redeem_terms_lock(merchant=merchant)
        ent = entitlement_then(user=member, at=at, lock=True)
        if not ent.entitled or ent.subscription_id is None:
            raise _Conflict("membership_inactive")
        flags = [code for code in [redeem_refusal(merchant=merchant, at=at)] if code]
        if not merchant.offline_accept:
            flags.append("offline_switched_off")
        offer = merchant.offer
        if offer.min_bill_fen is not None and bill_fen < offer.min_bill_fen:
            flags.append("bill_below_minimum")
        discount = discount_for(bill_fen=bill_fen, rate_bp=offer.rate_bp, cap_fen=offer.cap_fen)
        day = local_date(merchant=merchant, at=at)
        redemption = Redemption.objects.create(
            member=member,
            subscription_id=ent.subscription_id,
            merchant=merchant,
            staff=staff,
            channel=Channel.STAFF_OFFLINE,
            code_id=code_id,
            bill_fen=bill_fen,
            discount_fen=discount,
            charge_fen=bill_fen - discount,
            currency=merchant.currency,
            rate_bp=offer.rate_bp,
            cap_fen=offer.cap_fen,
            funded_by=offer.funded_by,
            local_date=day,
            member_birth_year=member.birth_year,
            confirmed_at=at,
        )
        with connection.cursor() as cursor:
            cursor.execute(_COUNT_SQL, [member.pk, merchant.pk, day])
            if cursor.fetchone()[0] > merchant.member_daily_limit:
                flags.append("member_limit_reached")
        used = capacity_take(
            merchant_id=merchant.pk, local_date=day, capacity=_UNBOUNDED, bill_fen=bill_fen, discount_fen=discount
        )
        if used > merchant.daily_capacity:
            flags.append("merchant_at_capacity")
        subscription_savings_add(subscription_id=ent.subscription_id, amount_fen=discount)
        audit_record(
            actor=staff or "system:offline_sync",
            action="redemptions.redemption_offline",
            obj=redemption,
            after={"bill_fen": bill_fen, "discount_fen": discount, "scanned_at": at.isoformat(), "flags": flags},
        )
        outbox_write(redemption=redemption, event=RedemptionOutbox.Event.CONFIRMED)
        return OfflineRedemption.objects.create(
            client_id=record.client_id,
            merchant=merchant,
            staff=staff,
            member=member,
            code_text=record.code[:240],
            code_id=code_id,
            bill_fen=bill_fen,
            scanned_at=at,
            outcome=OfflineRedemption.Outcome.FLAGGED if flags else OfflineRedemption.Outcome.ACCEPTED,
            reasons=flags,
            redemption=redemption,
        )


def _used_by_this_scan(*, code_id: str, merchant: Merchant, bill_fen: int) -> Redemption | None:
    """The redemption of this very scan when the scanner's online confirmation did reach the server but its
    answer was lost (same code, shop and bill): the record is that redemption, not a conflict."""
    return (
        Redemption.objects.filter(code_id=code_id, merchant=merchant, bill_fen=bill_fen)
        .exclude(channel=Channel.STAFF_OFFLINE)
        .first()
    )


def offline_redemption_sync(
    *, record: OfflineRecord, merchant: Merchant, counter: Counter, now: datetime | None = None
) -> OfflineRedemption:
    """Judge one record a scanner accepted offline (the caller has authorised ``counter`` at ``merchant``).

    Returns its row (the one already kept when the record was sent before)."""
    now = now or timezone.now()
    kept = OfflineRedemption.objects.filter(client_id=record.client_id, merchant=merchant).first()
    if kept is not None:
        return kept
    staff = _staff(record=record, merchant=merchant, counter=counter)
    fields: dict[str, Any] = {
        "client_id": record.client_id,
        "merchant": merchant,
        "staff": staff,
        "code_text": (record.code or "")[:240],
        "bill_fen": record.bill_fen if isinstance(record.bill_fen, int) and record.bill_fen > 0 else 0,
        "scanned_at": record.scanned_at,
    }
    try:
        bill_fen, member, code_id = _scan_checked(record=record, merchant=merchant, now=now)
    except DomainError as exc:
        refusal_record(
            error=exc,
            step="offline",
            merchant=merchant,
            counter=counter,
            code_text=record.code,
            code_kind="numeric" if codes.looks_numeric(record.code or "") else "qr",
            channel=Channel.STAFF_OFFLINE,
        )
        return _keep(**fields, outcome=OfflineRedemption.Outcome.REFUSED, reasons=[exc.code])
    fields.update(member=member, code_id=code_id, bill_fen=bill_fen)
    try:
        return _write(record=record, merchant=merchant, staff=staff, member=member, bill_fen=bill_fen, code_id=code_id)
    except _Conflict as conflict:
        return _keep(**fields, outcome=OfflineRedemption.Outcome.CONFLICT, reasons=[conflict.reason])
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
        if constraint not in {CODE_USED_ONCE, None}:  # the same record sent twice at once: the first one's row
            return OfflineRedemption.objects.get(client_id=record.client_id)
        same = _used_by_this_scan(code_id=code_id, merchant=merchant, bill_fen=bill_fen)
        if same is not None:
            return _keep(**fields, outcome=OfflineRedemption.Outcome.ACCEPTED, reasons=[], redemption=same)
        return _keep(**fields, outcome=OfflineRedemption.Outcome.CONFLICT, reasons=["code_already_used"])


def _keep(**fields: Any) -> OfflineRedemption:
    """Keep a record that became no redemption of its own (a concurrent send of the same record wins)."""
    try:
        with transaction.atomic():
            return OfflineRedemption.objects.create(**fields)
    except IntegrityError:
        return OfflineRedemption.objects.get(client_id=fields["client_id"])


def offline_sync(
    *, records: list[OfflineRecord], merchant: Merchant, counter: Counter, now: datetime | None = None
) -> list[OfflineRedemption]:
    """Judge a scanner's queue, oldest scan first (so limits and capacity count in the order the shop served).
    Raises ``staff_not_authorized``/``partner_not_granted`` before anything is read."""
    counter_authorize(merchant=merchant, counter=counter)
    now = now or timezone.now()
    ordered = sorted(records, key=lambda r: r.scanned_at)
    return [offline_redemption_sync(record=r, merchant=merchant, counter=counter, now=now) for r in ordered]
