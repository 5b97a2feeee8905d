"""Prepare, confirm and void: the redemption path.

``redemption_confirm`` is the heart of the product and reads top to bottom like
pretix's check-in service: who is asking, which code, which member, then one
transaction that re-reads the shop's state and the member's entitlement under
row locks (may they, may this shop), writes the redemption (its unique
``code_id`` makes a second use of the code fail), takes one unit of the
member's daily limit and of the shop's capacity (guarded upserts), feeds the
member's savings meter, records the audit entry and writes one outbox row
(attribution credit, the webhook and the member's notice follow the commit,
exactly once: :mod:`redemptions.counter.outbox`). Every refusal is a ``DomainError`` with a stable code, writes no
redemption, and is recorded as a ``RefusedScan``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.db import violated_constraint
from core.errors import DomainError, field_error
from core.models import User
from core.services import Actor, actor_label, audit_record, audit_write
from core.sql import Write, insert_write, inserted, writes_run
from members.selectors import entitled_member, entitlement
from members.services import subscription_savings_add, subscription_savings_write
from merchants.models import Merchant
from merchants.selectors import local_date as merchant_local_date
from merchants.selectors import redeem_refusal, redeem_terms_lock, staff_membership, today_used
from merchants.services import capacity_release, capacity_take_write

from ...metrics import CONFIRMS
from ...models import CODE_USED_ONCE, Channel, MemberDay, Redemption, RedemptionOutbox
from .. import codes
from ..errors import for_staff
from ..outbox import outbox_dispatch_on_commit, outbox_row_write, outbox_write
from .common import (
    CheckedCode,
    Counter,
    ScannedCode,
    code_check,
    code_read,
    counter_authorize,
    discount_for,
    eligibility,
    member_day_count,
    parse_bill_fen,
    parse_bill_yuan,
    prepare_hold,
    refusal_record,
    void_window,
)

# --- Prepare ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    token: str
    member: User
    member_masked: str
    code_kind: str
    rate_bp: int
    cap_fen: int | None
    min_bill_fen: int | None
    capacity: int
    capacity_remaining: int
    member_limit: int
    member_limit_remaining: int
    expires_at: datetime


def redemption_prepare(*, code: str, merchant: Merchant, counter: Counter, at: datetime | None = None) -> Prepared:
    """Step one: check a code and show who, the offer, today's capacity and the member's limit.

    Holds nothing in the database; returns a signed token that ``redemption_confirm`` accepts for
    ``REDCARD_PREPARE_HOLD_SECONDS`` (so a code that rotates away while the bill is typed still
    confirms). Raises the refusal codes of ``errors``; records every refusal."""
    at = at or timezone.now()
    scanned: ScannedCode | None = None
    try:
        counter_authorize(merchant=merchant, counter=counter)
        scanned = code_read(text=code, merchant=merchant, at=at)
        if Redemption.objects.filter(code_id=scanned.code_id).exists():
            raise DomainError("code_already_used")
        eligibility(member=scanned.member, merchant=merchant, at=at)
        day = merchant_local_date(merchant=merchant, at=at)
        used_by_member = member_day_count(member=scanned.member, merchant=merchant, day=day)
        if used_by_member >= merchant.member_daily_limit:
            raise DomainError("member_limit_reached")
        used = today_used(merchant=merchant, at=at)
        if used >= merchant.daily_capacity:
            raise DomainError("merchant_at_capacity")
    except DomainError as exc:
        refusal_record(
            error=exc,
            step="prepare",
            merchant=merchant,
            counter=counter,
            code_text=code,
            code_kind="numeric" if codes.looks_numeric(code or "") else "qr",
            member=scanned.member if scanned else None,
            at=at,
        )
        raise for_staff(exc) from exc.__cause__
    offer = merchant.offer
    token = signing.dumps(
        {"c": code, "m": merchant.pk, "k": counter.key, "t": at.timestamp()}, salt="redemptions.prepare", compress=True
    )
    return Prepared(
        token=token,
        member=scanned.member,
        member_masked=scanned.member.masked_name,
        code_kind=scanned.verified.kind,
        rate_bp=offer.rate_bp,
        cap_fen=offer.cap_fen,
        min_bill_fen=offer.min_bill_fen,
        capacity=merchant.daily_capacity,
        capacity_remaining=max(0, merchant.daily_capacity - used),
        member_limit=merchant.member_daily_limit,
        member_limit_remaining=merchant.member_daily_limit - used_by_member,
        expires_at=at + prepare_hold(),
    )


def _token_code(*, token: str, merchant: Merchant, counter: Counter) -> tuple[str, datetime]:
    """The code and the time it was prepared, from a prepare token of this shop and counter."""
    try:
        data = signing.loads(token, salt="redemptions.prepare", max_age=prepare_hold())
    except signing.BadSignature as exc:  # includes SignatureExpired
        raise DomainError("prepare_expired") from exc
    if data.get("m") != merchant.pk or data.get("k") != counter.key:
        raise DomainError("prepare_expired")
    return str(data["c"]), datetime.fromtimestamp(float(data["t"]), tz=UTC)


# --- Confirm ---------------------------------------------------------------------------------------


_LIMIT_SQL = f"""
INSERT INTO {MemberDay._meta.db_table} (member_id, merchant_id, local_date, count)
SELECT %s, %s, %s, 1 WHERE %s > 0
ON CONFLICT (member_id, merchant_id, local_date) DO UPDATE
SET count = {MemberDay._meta.db_table}.count + 1
WHERE {MemberDay._meta.db_table}.count < %s
RETURNING count
"""


def _member_limit_write(*, member_id: int, merchant_id: int, day: date, limit: int) -> Write:
    """One guarded upsert: concurrent redemptions never exceed the member's daily limit (no row returned
    when it is reached)."""
    return Write(_LIMIT_SQL, [member_id, merchant_id, day, limit, limit], "count")


def _member_limit_release(*, member_id: int, merchant_id: int, day: date) -> None:
    MemberDay.objects.filter(member_id=member_id, merchant_id=merchant_id, local_date=day, count__gt=0).update(
        count=F("count") - 1
    )


def confirm_writes(*, redemption: Redemption, merchant: Merchant, counter: Counter) -> dict[str, Write]:
    """The writes of a confirmation, run as one statement by ``redemption_write`` (and by the bench's pgbench
    script): 1. the redemption (the unique code_id makes every other writer of this code fail: they wait for
    us, then see the row; a reused code is reported as such, not as a limit), 2. the member's limit at this
    shop today (``lim``: no row when reached), 3. the shop's capacity today (``cap``: likewise), 4. the
    member's savings meter, 5. the audit trail, 6. one outbox row (``out``): attribution credit, the webhook
    and the member's notice follow the commit, exactly once (outbox.py)."""
    r = redemption
    return {
        "r": insert_write(r),
        "lim": _member_limit_write(
            member_id=r.member_id, merchant_id=r.merchant_id, day=r.local_date, limit=merchant.member_daily_limit
        ),
        "cap": capacity_take_write(
            merchant_id=r.merchant_id,
            local_date=r.local_date,
            capacity=merchant.daily_capacity,
            bill_fen=r.bill_fen,
            discount_fen=r.discount_fen,
        ),
        "sav": subscription_savings_write(subscription_id=r.subscription_id, amount_fen=r.discount_fen),
        "aud": audit_write(
            actor=counter.actor,
            action="redemptions.redemption_confirm",
            obj=r,
            object_id="{r}",
            after={
                "bill_fen": r.bill_fen,
                "discount_fen": r.discount_fen,
                "channel": r.channel,
                "merchant": r.merchant_id,
            },
        ),
        "out": outbox_row_write(event=RedemptionOutbox.Event.CONFIRMED),
    }


def redemption_write(
    *,
    merchant: Merchant,
    counter: Counter,
    channel: str,
    bill_fen: int,
    at: datetime,
    member: User | None = None,
    code_id: str = "",
    code: CheckedCode | None = None,
    entitled_at: datetime | None = None,
    discount_reported: int | None = None,
    partner_order_id: str = "",
) -> Redemption:
    """The transaction every confirmation goes through (codes, claims, partner POS, partner platforms).

    ``discount_reported`` (a partner platform's order): the discount the partner gave; refused
    (``partner_discount_short``) when more than a fen below the offer's, and recorded when below it.
    ``partner_order_id``: the partner's own order id, kept as reported (the console searches it).

    The member is ``member`` (with the ``code_id`` used up), or the member of the checked ``code``, found
    inside the transaction together with their entitlement. The card must be entitled at ``entitled_at``
    (default ``at``; the demo's back-dated visits ask about now, when its members' cards run).

    Everything that guards money is read inside it, under row locks: the shop's state and offer terms
    under a shared lock (many confirmations at one shop proceed together; a pause, suspension or offer
    change waits for them, or they wait for it and see it), the member's entitled subscription under
    ``FOR NO KEY UPDATE`` (a refund or suspension waits, or is seen; the savings meter on that row is
    written below). Then every write in one statement (``core.sql.writes_run``). Refusals raise inside
    the transaction, so nothing of the attempt stays. On PostgreSQL a confirmation outside any other
    transaction is five statements: BEGIN, the shop, the member, the writes, COMMIT."""
    try:
        with transaction.atomic():
            redeem_terms_lock(merchant=merchant)
            if code is not None:
                member, ent = entitled_member(at=entitled_at or at, lock=True, **code.member_key)
                if member is None:
                    raise DomainError("code_invalid")
                code.member, code_id = member, code.code_id(member)
            else:
                assert member is not None, "a member or a code"
                ent = entitlement(user=member, at=entitled_at or at, lock=True)
            if not ent.entitled or ent.subscription_id is None:
                raise DomainError(ent.code or "membership_inactive")
            refusal = redeem_refusal(merchant=merchant, at=at)
            if refusal:
                raise DomainError(refusal)
            offer = merchant.offer
            if offer.min_bill_fen is not None and bill_fen < offer.min_bill_fen:
                raise DomainError("bill_below_minimum", min_bill=f"{offer.min_bill_fen / 100:.2f}")
            discount = discount_for(bill_fen=bill_fen, rate_bp=offer.rate_bp, cap_fen=offer.cap_fen)
            if discount_reported is not None:
                if discount_reported < discount - 1:
                    raise DomainError("partner_discount_short", discount=f"{discount / 100:.2f}")
                discount = min(discount, discount_reported)
            day = merchant_local_date(merchant=merchant, at=at)
            redemption = Redemption(
                member=member,
                subscription_id=ent.subscription_id,
                merchant=merchant,
                staff=counter.staff,
                partner=counter.partner,
                channel=channel,
                code_id=code_id,
                partner_order_id=partner_order_id,
                bill_fen=bill_fen,
                discount_fen=discount,
                charge_fen=bill_fen - discount,
                currency=merchant.currency,
                rate_bp=offer.rate_bp,
                cap_fen=offer.cap_fen,
                funded_by=offer.funded_by,
                local_date=day,
                member_birth_year=member.birth_year,  # the shop's audience figures (issue 6)
                confirmed_at=at,
            )
            # One statement: 1. the code (the unique code_id makes every other writer of this code fail:
            # they wait for us, then see the row; a reused code is reported as such, not as a limit),
            # 2. the member's limit at this shop today, 3. the shop's capacity today, 4. the member's
            # savings meter, 5. the audit trail, 6. one outbox row: attribution credit, the webhook and the
            # member's notice follow the commit, exactly once (outbox.py).
            written = writes_run(confirm_writes(redemption=redemption, merchant=merchant, counter=counter))
            if written["lim"] is None:
                raise DomainError("member_limit_reached")
            if written["cap"] is None:
                raise DomainError("merchant_at_capacity")
            inserted(redemption, written["r"])
            outbox_dispatch_on_commit(entry_id=written["out"])
            transaction.on_commit(CONFIRMS.labels(channel=channel).inc)
    except IntegrityError as exc:
        if _code_used(exc, code_id=code_id):
            raise DomainError("code_already_used") from exc
        raise
    return redemption


def _code_used(exc: IntegrityError, *, code_id: str) -> bool:
    """Whether ``exc`` is the second use of ``code_id``: PostgreSQL names the violated constraint
    (psycopg's ``diag.constraint_name``); SQLite names none, so there the row is looked up."""
    named = violated_constraint(exc)
    if named is not None:
        return named == CODE_USED_ONCE
    return Redemption.objects.filter(code_id=code_id).exists()


def redemption_confirm(
    *,
    merchant: Merchant,
    counter: Counter,
    bill: object,
    code: str | None = None,
    token: str | None = None,
    bill_in_yuan: bool = False,
    at: datetime | None = None,
) -> Redemption:
    """Step two: redeem a code (or a prepare token) on a bill; the code is used up.

    Raises ``bill_invalid``, ``staff_not_authorized``/``partner_not_granted``, ``prepare_expired``,
    ``code_invalid``, ``code_expired``, ``code_attempts_exceeded``, ``code_already_used``,
    ``membership_inactive``, ``merchant_not_active``, ``merchant_paused``, ``bill_below_minimum``,
    ``member_limit_reached``, ``merchant_at_capacity``. A refusal writes nothing but its
    ``RefusedScan``."""
    at = at or timezone.now()
    code_text = code or ""
    checked: CheckedCode | None = None
    try:
        bill_fen = parse_bill_yuan(bill) if bill_in_yuan else parse_bill_fen(bill)
        counter_authorize(merchant=merchant, counter=counter)
        checked_at = at
        if token:
            code_text, checked_at = _token_code(token=token, merchant=merchant, counter=counter)
        checked = code_check(text=code_text, merchant=merchant, at=checked_at, typed_guard=not token)
        channel = Channel.PARTNER_POS if counter.partner is not None else checked.channel
        return redemption_write(
            merchant=merchant, counter=counter, channel=channel, bill_fen=bill_fen, at=at, code=checked
        )
    except DomainError as exc:
        refusal_record(
            error=exc,
            step="confirm",
            merchant=merchant,
            counter=counter,
            code_text=code_text,
            code_kind="numeric" if codes.looks_numeric(code_text) else ("qr" if code_text else ""),
            member=checked.member if checked else None,
            at=at,
        )
        raise for_staff(exc) from exc.__cause__


# --- Void ----------------------------------------------------------------------------------------


def redemption_may_void(*, redemption: Redemption, user: User) -> bool:
    """Staff of the shop, operators and superusers may void."""
    if user.is_superuser or user.in_group("operator"):
        return True
    return staff_membership(user=user, merchant=redemption.merchant) is not None


def redemption_void(
    *, redemption: Redemption, actor: Actor, reason: str, at: datetime | None = None, enforce_window: bool = True
) -> Redemption:
    """Undo a redemption within the void window (default 1 hour): the member's limit, the shop's
    capacity and the member's savings are given back; the code stays used. Raises
    ``already_voided``, ``void_window_passed`` (operators in admin may pass ``enforce_window=False``),
    ``validation_failed`` without a reason."""
    at = at or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise field_error("reason", "reason_required", _("Please give a reason."))
    with transaction.atomic():
        locked = Redemption.objects.select_for_update(of=("self",)).select_related("merchant").get(pk=redemption.pk)
        if locked.status == Redemption.Status.VOIDED:
            raise DomainError("already_voided")
        if enforce_window and at - locked.confirmed_at > void_window():
            raise DomainError("void_window_passed")
        locked.status = Redemption.Status.VOIDED
        locked.voided_at = at
        locked.voided_by_label = actor_label(actor)[:120]
        locked.void_reason = reason
        locked.save(update_fields=["status", "voided_at", "voided_by_label", "void_reason"])
        # The savings meter first: a confirmation locks the subscription before the day counters, and
        # taking the rows in the same order means the two never deadlock.
        subscription_savings_add(subscription_id=locked.subscription_id, amount_fen=-locked.discount_fen)
        _member_limit_release(member_id=locked.member_id, merchant_id=locked.merchant_id, day=locked.local_date)
        capacity_release(
            merchant_id=locked.merchant_id,
            local_date=locked.local_date,
            bill_fen=locked.bill_fen,
            discount_fen=locked.discount_fen,
        )
        outbox_write(redemption=locked, event=RedemptionOutbox.Event.VOIDED)  # credit reversal, webhook
        audit_record(
            actor=actor,
            action="redemptions.redemption_void",
            obj=locked,
            reason=reason,
            before={"status": Redemption.Status.CONFIRMED},
            after={"status": Redemption.Status.VOIDED},
        )
    redemption.status, redemption.voided_at = locked.status, locked.voided_at
    redemption.voided_by_label, redemption.void_reason = locked.voided_by_label, locked.void_reason
    return redemption
