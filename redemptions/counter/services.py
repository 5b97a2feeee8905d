"""Every write of the redemption path: prepare, confirm and void, claims, NFC taps, surges.

``redemption_confirm`` is the heart of the product and reads top to bottom like
pretix's check-in service: who is asking, which code, which member, may they,
may this shop, then one transaction that writes the redemption (its unique
``code_id`` makes a second use of the code fail), takes one unit of the
member's daily limit and of the shop's capacity (guarded upserts), feeds the
member's savings meter, records the audit entry and schedules side effects on
commit. Every refusal is a ``DomainError`` with a stable code, writes no
redemption, and is recorded as a ``RefusedScan``.

Discount rounding: ``discount = ceil(bill × rate)`` to the fen, then the cap. Rounding up
means the member never gets less than the advertised rate (a fraction of a fen always goes
to the member), which is also "half up, never in the member's disfavour".
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, field_error
from core.models import PartnerApplication, User
from core.roles import CURATOR
from core.selectors import people_in_role
from core.services import Actor, actor_label, audit_record, notify
from core.webhooks import emit
from members.selectors import entitlement
from members.services import subscription_savings_add
from merchants.models import Merchant
from merchants.selectors import local_date as merchant_local_date
from merchants.selectors import merchant_by_pk, partner_granted, redeem_refusal, staff_membership, today_used
from merchants.services import capacity_release, capacity_take, merchant_set_promotion_hold

from ..attribution.services import credit_redemption, reverse_credit
from ..models import Channel, Claim, MemberDay, NfcTag, Redemption, RefusedScan, SurgeFlag
from . import codes, sun
from .errors import for_staff

PARTNER_SCOPE = "redemptions:write"
#: The biggest bill we accept (¥100,000): anything larger is a typo.
MAX_BILL_FEN = 10_000_000
_YUAN = re.compile(r"^(?P<yuan>[0-9]{1,6})(?:\.(?P<fen>[0-9]{1,2}))?$")
_FEN = re.compile(r"^[0-9]{1,9}$")


def void_window() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "REDCARD_VOID_WINDOW_SECONDS", 3600)))


def prepare_hold() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "REDCARD_PREPARE_HOLD_SECONDS", 120)))


def claim_ttl() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "REDCARD_CLAIM_SECONDS", 180)))


#: Wrong typed codes allowed per shop in ``TYPED_ATTEMPT_WINDOW`` before typing is locked for a while.
TYPED_ATTEMPT_LIMIT = 10
TYPED_ATTEMPT_WINDOW = timedelta(minutes=10)


# --- Money -------------------------------------------------------------------------------------


def parse_bill_fen(value: object) -> int:
    """A bill in fen from an API client: a JSON integer, or a string of ASCII digits.

    Refuses (``bill_invalid``) zero, negatives, decimals, booleans, full-width digits and anything
    above ``MAX_BILL_FEN``."""
    if isinstance(value, bool):
        raise DomainError("bill_invalid")
    if isinstance(value, int):
        fen = value
    elif isinstance(value, str) and _FEN.match(value.strip()):
        fen = int(value.strip())
    else:
        raise DomainError("bill_invalid")
    if not 0 < fen <= MAX_BILL_FEN:
        raise DomainError("bill_invalid")
    return fen


def parse_bill_yuan(text: object) -> int:
    """A bill typed in yuan on a keypad ("86", "86.5", "86.50") -> fen. ASCII digits only."""
    if not isinstance(text, str):
        raise DomainError("bill_invalid")
    match = _YUAN.match(text.strip())
    if match is None:
        raise DomainError("bill_invalid")
    fen = int(match["yuan"]) * 100 + int((match["fen"] or "0").ljust(2, "0"))
    if not 0 < fen <= MAX_BILL_FEN:
        raise DomainError("bill_invalid")
    return fen


def discount_for(*, bill_fen: int, rate_bp: int, cap_fen: int | None) -> int:
    """``ceil(bill × rate_bp / 10000)``, then at most ``cap_fen``: never in the member's disfavour."""
    discount = -(-bill_fen * rate_bp // 10_000)
    if cap_fen is not None:
        discount = min(discount, cap_fen)
    return min(discount, bill_fen)


# --- Who is asking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counter:
    """Who operates the counter: a staff member (session) or a partner POS application."""

    staff: User | None = None
    partner: PartnerApplication | None = None

    @property
    def key(self) -> str:
        return f"u{self.staff.pk}" if self.staff is not None else f"p{self.partner.pk if self.partner else 0}"

    @property
    def actor(self) -> Actor:
        if self.staff is not None:
            return self.staff
        return f"partner:{self.partner.client_id if self.partner else '?'}"


def counter_authorize(*, merchant: Merchant, counter: Counter) -> None:
    """Raises ``staff_not_authorized`` or ``partner_not_granted`` unless the counter may act for the shop."""
    if counter.partner is not None:
        if not partner_granted(application=counter.partner, merchant=merchant, scope=PARTNER_SCOPE):
            raise DomainError("partner_not_granted")
        return
    if counter.staff is None or staff_membership(user=counter.staff, merchant=merchant) is None:
        raise DomainError("staff_not_authorized")


def refusal_record(
    *,
    error: DomainError,
    step: str,
    merchant: Merchant | None,
    counter: Counter | None = None,
    code_text: str = "",
    code_kind: str = "",
    channel: str = "",
    member: User | None = None,
    at: datetime | None = None,
) -> RefusedScan:
    """Keep a refused scan for support and fraud review (outside the refused transaction)."""
    return RefusedScan.objects.create(
        at=at or timezone.now(),
        reason=error.code,
        step=step,
        code_kind=code_kind,
        code_text=(code_text or "")[:200],
        channel=channel,
        merchant=merchant,
        staff=counter.staff if counter else None,
        partner=counter.partner if counter else None,
        member=member,
    )


# --- Codes -> member -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScannedCode:
    text: str
    verified: codes.VerifiedCode
    member: User
    code_id: str

    @property
    def channel(self) -> str:
        return Channel.STAFF_TYPED if self.verified.kind == "numeric" else Channel.STAFF_SCAN


def _typed_attempts_check(*, merchant: Merchant, at: datetime) -> None:
    recent = RefusedScan.objects.filter(
        merchant=merchant, code_kind="numeric", reason="code_invalid", at__gte=at - TYPED_ATTEMPT_WINDOW
    )
    if recent.count() >= TYPED_ATTEMPT_LIMIT:
        raise DomainError("code_attempts_exceeded")


def code_read(*, text: str, merchant: Merchant, at: datetime) -> ScannedCode:
    """Verify a scanned or typed code and find its member. Raises ``code_invalid``, ``code_expired``,
    ``code_attempts_exceeded``. Single use is checked by the caller."""
    if codes.looks_numeric(text):
        _typed_attempts_check(merchant=merchant, at=at)
    verified = codes.verify(text, at=at)
    lookup: dict[str, Any] = (
        {"public_id": verified.member_public_id} if verified.member_public_id else {"pk": verified.member_number}
    )
    try:
        member = User.objects.get(is_active=True, **lookup)
    except User.DoesNotExist as exc:
        raise DomainError("code_invalid") from exc
    return ScannedCode(
        text=text,
        verified=verified,
        member=member,
        code_id=codes.code_id(member_public_id=member.public_id, window=verified.window),
    )


def member_code(*, member: User, at: datetime | None = None, ahead: int = 0) -> codes.MemberCode:
    """The member's code for now (or ``ahead`` windows later). Derived, never stored: nothing can fail
    between a payment and the first code but the entitlement itself, checked at the counter."""
    return codes.issue(member_public_id=member.public_id, member_number=member.pk, at=at, ahead=ahead)


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


def _member_day_count(*, member: User, merchant: Merchant, day: date) -> int:
    row = MemberDay.objects.filter(member=member, merchant=merchant, local_date=day).values_list("count", flat=True)
    return next(iter(row), 0)


def _eligibility(*, member: User, merchant: Merchant, at: datetime) -> Any:
    """Entitlement and shop state, in the order staff should hear about them."""
    ent = entitlement(user=member, at=at)
    if not ent.entitled or ent.subscription_id is None:
        raise DomainError(ent.code or "membership_inactive")
    refusal = redeem_refusal(merchant=merchant, at=at)
    if refusal:
        raise DomainError(refusal)
    return ent


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
        _eligibility(member=scanned.member, merchant=merchant, at=at)
        day = merchant_local_date(merchant=merchant, at=at)
        used_by_member = _member_day_count(member=scanned.member, merchant=merchant, day=day)
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
VALUES (%s, %s, %s, 1)
ON CONFLICT (member_id, merchant_id, local_date) DO UPDATE
SET count = {MemberDay._meta.db_table}.count + 1
WHERE {MemberDay._meta.db_table}.count < %s
RETURNING count
"""  # noqa: S608 (table name from the model, values bound)


def _member_limit_take(*, member_id: int, merchant_id: int, day: date, limit: int) -> None:
    """One guarded upsert: concurrent redemptions never exceed the member's daily limit."""
    with connection.cursor() as cursor:
        cursor.execute(_LIMIT_SQL, [member_id, merchant_id, day, limit])
        if cursor.fetchone() is None:
            raise DomainError("member_limit_reached")


def _member_limit_release(*, member_id: int, merchant_id: int, day: date) -> None:
    MemberDay.objects.filter(member_id=member_id, merchant_id=merchant_id, local_date=day, count__gt=0).update(
        count=F("count") - 1
    )


def redemption_write(
    *,
    member: User,
    merchant: Merchant,
    counter: Counter,
    channel: str,
    code_id: str,
    bill_fen: int,
    at: datetime,
    subscription_id: int,
) -> Redemption:
    """The transaction every confirmation goes through (codes, claims, partner POS, the demo's past visits).

    The caller has checked the counter, the code, the member's entitlement and the shop's state before it, outside
    any transaction; this checks the bill minimum (on the offer as loaded), then in one transaction writes the
    redemption (the unique code id), takes the member's daily limit and the shop's capacity (guarded upserts),
    and records the savings, the attribution credit, the audit entry, the webhook and the member's notice."""
    offer = merchant.offer
    if offer.min_bill_fen is not None and bill_fen < offer.min_bill_fen:
        raise DomainError("bill_below_minimum", min_bill=f"{offer.min_bill_fen / 100:.2f}")
    discount = discount_for(bill_fen=bill_fen, rate_bp=offer.rate_bp, cap_fen=offer.cap_fen)
    day = merchant_local_date(merchant=merchant, at=at)
    try:
        with transaction.atomic():
            # 1. The code: the unique code_id makes every other writer of this code fail here
            #    (they wait for us, then see the row). Written first so that a reused code is
            #    reported as such, not as a limit.
            redemption = Redemption.objects.create(
                member=member,
                subscription_id=subscription_id,
                merchant=merchant,
                staff=counter.staff,
                partner=counter.partner,
                channel=channel,
                code_id=code_id,
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
            # 2. The member's limit at this shop today, 3. the shop's capacity today.
            _member_limit_take(member_id=member.pk, merchant_id=merchant.pk, day=day, limit=merchant.member_daily_limit)
            capacity_take(
                merchant_id=merchant.pk,
                local_date=day,
                capacity=merchant.daily_capacity,
                bill_fen=bill_fen,
                discount_fen=discount,
            )
            # 4. The member's savings meter, 5. the audit trail, 6. the webhook and the member's notice.
            subscription_savings_add(subscription_id=subscription_id, amount_fen=discount)
            credit_redemption(redemption=redemption)  # notes that led here (issue 6)
            audit_record(
                actor=counter.actor,
                action="redemptions.redemption_confirm",
                obj=redemption,
                after={"bill_fen": bill_fen, "discount_fen": discount, "channel": channel, "merchant": merchant.pk},
            )
            _emit_redemption("redemption.confirmed", redemption, merchant)
            # The member's notice is written with the redemption: it cannot be lost between the commit
            # and a queue, and one INSERT costs less than publishing a task.
            member_notice_redeemed(redemption=redemption)
    except IntegrityError as exc:
        if "code_id" in str(exc):
            raise DomainError("code_already_used") from exc
        raise
    return redemption


def _emit_redemption(event: str, redemption: Redemption, merchant: Merchant) -> None:
    """The webhook to partner apps the shop granted access to (its POS, its booking platform); sent on
    commit by ``core.webhooks``. One read (endpoints) when nobody listens."""
    emit(
        event,
        {
            "redemption": str(redemption.public_id),
            "merchant": str(merchant.public_id),
            "channel": redemption.channel,
            "status": redemption.status,
            "bill_fen": redemption.bill_fen,
            "discount_fen": redemption.discount_fen,
            "charge_fen": redemption.charge_fen,
            "currency": redemption.currency,
            "local_date": redemption.local_date,
            "confirmed_at": redemption.confirmed_at,
            "voided_at": redemption.voided_at,
        },
        applications=PartnerApplication.objects.filter(merchant_grants__merchant=merchant),
    )


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
    scanned: ScannedCode | None = None
    try:
        bill_fen = parse_bill_yuan(bill) if bill_in_yuan else parse_bill_fen(bill)
        counter_authorize(merchant=merchant, counter=counter)
        checked_at = at
        if token:
            code_text, checked_at = _token_code(token=token, merchant=merchant, counter=counter)
        scanned = code_read(text=code_text, merchant=merchant, at=checked_at)
        ent = _eligibility(member=scanned.member, merchant=merchant, at=at)
        channel = Channel.PARTNER_POS if counter.partner is not None else scanned.channel
        return redemption_write(
            member=scanned.member,
            merchant=merchant,
            counter=counter,
            channel=channel,
            code_id=scanned.code_id,
            bill_fen=bill_fen,
            at=at,
            subscription_id=ent.subscription_id,
        )
    except DomainError as exc:
        refusal_record(
            error=exc,
            step="confirm",
            merchant=merchant,
            counter=counter,
            code_text=code_text,
            code_kind="numeric" if codes.looks_numeric(code_text) else ("qr" if code_text else ""),
            member=scanned.member if scanned else None,
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
        _member_limit_release(member_id=locked.member_id, merchant_id=locked.merchant_id, day=locked.local_date)
        capacity_release(
            merchant_id=locked.merchant_id,
            local_date=locked.local_date,
            bill_fen=locked.bill_fen,
            discount_fen=locked.discount_fen,
        )
        subscription_savings_add(subscription_id=locked.subscription_id, amount_fen=-locked.discount_fen)
        reverse_credit(redemption=locked)  # issue 6
        _emit_redemption("redemption.voided", locked, locked.merchant)
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


# --- NFC tags ---------------------------------------------------------------------------------------


def tag_register(
    *,
    merchant: Merchant,
    actor: User,
    label: str,
    kind: str = NfcTag.Kind.PLAIN,
    meta_read_key: str = "",
    file_read_key: str = "",
) -> NfcTag:
    """A shop's owner or staff registers a tag or QR stand (SUN tags with their two AES keys, hex)."""
    if staff_membership(user=actor, merchant=merchant) is None:
        raise DomainError("staff_not_authorized")
    label = (label or "").strip()[:60]
    if not label:
        raise field_error("label", "label_required", _("Give the tag a name, e.g. 'till 1'."))
    if kind == NfcTag.Kind.SUN:
        for name, value in (("meta_read_key", meta_read_key), ("file_read_key", file_read_key)):
            if not re.fullmatch(r"[0-9a-fA-F]{32}", value or ""):
                raise field_error(name, "key_invalid", _("An AES-128 key is 32 hexadecimal characters."))
    elif kind != NfcTag.Kind.PLAIN:
        raise field_error("kind", "kind_invalid", _("Choose a plain tag or an NTAG 424 DNA tag."))
    with transaction.atomic():
        tag = NfcTag.objects.create(
            merchant=merchant,
            label=label,
            kind=kind,
            meta_read_key=(meta_read_key or "").upper(),
            file_read_key=(file_read_key or "").upper(),
        )
        audit_record(actor=actor, action="redemptions.tag_register", obj=tag, after={"label": label, "kind": kind})
    return tag


def tag_tap_verify(*, tag: NfcTag, picc_data: str, cmac: str, at: datetime | None = None) -> sun.SunReading:
    """Verify an NTAG 424 DNA tap and remember its counter (row lock: a counter is accepted once).

    Raises ``tag_invalid`` (bad data, wrong MAC, another tag's UID) or ``tag_replayed``."""
    with transaction.atomic():
        locked = NfcTag.objects.select_for_update().get(pk=tag.pk)
        reading = sun.verify(
            picc_data_hex=picc_data,
            cmac_hex=cmac,
            meta_read_key=bytes.fromhex(locked.meta_read_key),
            file_read_key=bytes.fromhex(locked.file_read_key),
            last_counter=locked.last_counter,
        )
        if locked.uid and locked.uid != reading.uid_hex:
            raise DomainError("tag_invalid", reason="uid_mismatch")
        locked.uid = reading.uid_hex
        locked.last_counter = reading.counter
        locked.last_tap_at = at or timezone.now()
        locked.save(update_fields=["uid", "last_counter", "last_tap_at"])
    tag.uid, tag.last_counter, tag.last_tap_at = locked.uid, locked.last_counter, locked.last_tap_at
    return reading


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
        _eligibility(member=member, merchant=merchant, at=at)
        offer = merchant.offer
        if offer.min_bill_fen is not None and bill_fen < offer.min_bill_fen:
            raise DomainError("bill_below_minimum", min_bill=f"{offer.min_bill_fen / 100:.2f}")
        day = merchant_local_date(merchant=merchant, at=at)
        if _member_day_count(member=member, merchant=merchant, day=day) >= merchant.member_daily_limit:
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
            ent = _eligibility(member=locked.member, merchant=merchant, at=at)
            redemption = redemption_write(
                member=locked.member,
                merchant=merchant,
                counter=counter,
                channel=Channel.MEMBER_CLAIM,
                code_id=locked.code_id,
                bill_fen=locked.bill_fen,
                at=at,
                subscription_id=ent.subscription_id,
            )
            locked.status, locked.decided_at, locked.decided_by = Claim.Status.CONFIRMED, at, staff
            locked.redemption = redemption
            locked.save(update_fields=["status", "decided_at", "decided_by", "redemption"])
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
    claim.status = Claim.Status.CANCELLED
    return claim


def claims_expire(*, now: datetime | None = None) -> int:
    """Mark pending claims past their time as expired (a periodic job; pages also treat them so)."""
    return Claim.objects.filter(status=Claim.Status.PENDING, expires_at__lte=now or timezone.now()).update(
        status=Claim.Status.EXPIRED
    )


# --- Surge detector ---------------------------------------------------------------------------------

#: A merchant surges when its last hour exceeds this multiple of its trailing average for that hour...
SURGE_FACTOR = 3.0
#: ...and counts at least this many redemptions (a quiet shop going from 1 to 4 is not a surge).
SURGE_MINIMUM = 20
SURGE_WEEKS = 4


@dataclass(frozen=True)
class SurgeReading:
    merchant_id: int
    hour_count: int
    baseline: float

    @property
    def surging(self) -> bool:
        return self.hour_count >= SURGE_MINIMUM and self.hour_count > SURGE_FACTOR * self.baseline


def surge_readings(*, now: datetime) -> list[SurgeReading]:
    """For each merchant busy in the last hour: that count and its trailing 4-week average for the
    same hour (the same weekday and clock hour in each of the previous four weeks, so that a shop's
    usual Saturday lunch is its own baseline)."""
    start = now - timedelta(hours=1)
    busy = (
        Redemption.objects.filter(status=Redemption.Status.CONFIRMED, confirmed_at__gte=start, confirmed_at__lt=now)
        .values("merchant_id")
        .annotate(n=Count("id"))
        .filter(n__gte=SURGE_MINIMUM)
    )
    readings = []
    for row in busy:
        windows = Q()
        for week in range(1, SURGE_WEEKS + 1):
            shift = timedelta(weeks=week)
            windows |= Q(confirmed_at__gte=start - shift, confirmed_at__lt=now - shift)
        past = Redemption.objects.filter(windows, merchant_id=row["merchant_id"], status=Redemption.Status.CONFIRMED)
        readings.append(SurgeReading(row["merchant_id"], row["n"], past.count() / SURGE_WEEKS))
    return readings


def surge_detect(*, now: datetime | None = None) -> list[SurgeFlag]:
    """The hourly job: flag surging merchants, hold their promotion in the catalogue and tell curators."""
    now = now or timezone.now()
    flags = []
    for reading in surge_readings(now=now):
        if not reading.surging:
            continue
        merchant = merchant_by_pk(pk=reading.merchant_id)
        with transaction.atomic():
            if SurgeFlag.objects.filter(merchant=merchant, cleared_at__isnull=True).exists():
                continue
            try:
                with transaction.atomic():
                    flag = SurgeFlag.objects.create(
                        merchant=merchant, detected_at=now, hour_count=reading.hour_count, baseline=reading.baseline
                    )
            except IntegrityError:  # another run flagged it meanwhile
                continue
            reason = f"surge: {reading.hour_count} redemptions in the last hour, baseline {reading.baseline:.1f}"
            merchant_set_promotion_hold(merchant=merchant, hold=True, actor="system:surge_detector", reason=reason)
            audit_record(actor="system:surge_detector", action="redemptions.surge_flag", obj=flag, reason=reason)
            for curator in people_in_role(role=CURATOR):
                notify(
                    user=curator,
                    kind="redemptions.surge",
                    title=_("Surge at %(shop)s: promotion paused"),
                    body=_(
                        "%(count)s redemptions in the last hour against a usual %(baseline)s for that hour. "
                        "The shop is no longer promoted in the catalogue until you clear the flag."
                    ),
                    url=f"/admin/redemptions/surgeflag/{flag.pk}/change/",
                    context={
                        "shop": merchant.name_zh,
                        "count": reading.hour_count,
                        "baseline": f"{reading.baseline:.1f}",
                    },
                )
            flags.append(flag)
    return flags


def surge_clear(*, flag: SurgeFlag, actor: User, note: str = "") -> SurgeFlag:
    """A curator clears a surge flag: the shop is promoted again."""
    with transaction.atomic():
        locked = SurgeFlag.objects.select_for_update().select_related("merchant").get(pk=flag.pk)
        if locked.cleared_at is not None:
            return locked
        locked.cleared_at, locked.cleared_by, locked.note = timezone.now(), actor, note
        locked.save(update_fields=["cleared_at", "cleared_by", "note"])
        merchant_set_promotion_hold(
            merchant=locked.merchant, hold=False, actor=actor, reason=note or "surge flag cleared"
        )
        audit_record(actor=actor, action="redemptions.surge_clear", obj=locked, reason=note)
    return locked


def member_notice_redeemed(*, redemption: Redemption) -> None:
    """Tell the member what they saved (in-app notice; no e-mail at every coffee)."""
    notify(
        user=redemption.member,
        kind="redemptions.confirmed",
        title=_("You saved ¥%(saved)s at %(shop)s"),
        body=_("Bill ¥%(bill)s, paid ¥%(charge)s."),
        url="/r/mine/",
        email=False,
        at=redemption.confirmed_at,
        context={
            "saved": f"{redemption.discount_fen / 100:.2f}",
            "shop": redemption.merchant.name_zh,
            "bill": f"{redemption.bill_fen / 100:.2f}",
            "charge": f"{redemption.charge_fen / 100:.2f}",
        },
    )
