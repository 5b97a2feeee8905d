"""What the counter's services share: money (bills, discounts), who is asking (staff or a partner's till), the
code read back to its member, the member's and the shop's eligibility, and the record of a refusal.

Discount rounding: ``discount = ceil(bill × rate)`` to the fen, then the cap. Rounding up
means the member never gets less than the advertised rate (a fraction of a fen always goes
to the member), which is also "half up, never in the member's disfavour".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from core.errors import DomainError
from core.models import PartnerApplication, User
from core.services import Actor
from members.selectors import entitlement
from merchants.models import Merchant
from merchants.selectors import merchant_with_access, partner_granted, redeem_refusal, staff_membership

from ...metrics import REFUSALS
from ...models import Channel, MemberDay, RefusedScan
from .. import codes

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


def counter_merchant(*, public_id: Any, counter: Counter) -> Merchant | None:
    """The merchant with this public id (any state, with its city and offer), read together with what
    ``counter`` may do there, so that ``counter_authorize`` asks the database nothing more."""
    merchant = merchant_with_access(public_id=public_id, staff=counter.staff, application=counter.partner)
    if merchant is not None:
        merchant.access_key = counter.key  # type: ignore[attr-defined]
    return merchant


def counter_authorize(*, merchant: Merchant, counter: Counter) -> None:
    """Raises ``staff_not_authorized`` or ``partner_not_granted`` unless the counter may act for the shop.
    Asks nothing of the database when ``merchant`` came from ``selectors.merchant_for_counter`` for this
    counter."""
    if getattr(merchant, "access_key", None) == counter.key:
        access = merchant.access  # type: ignore[attr-defined]
        if counter.partner is not None:
            if access is None or PARTNER_SCOPE not in access.split():
                raise DomainError("partner_not_granted")
        elif counter.staff is None or access is None:
            raise DomainError("staff_not_authorized")
        return
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
    REFUSALS.labels(code=error.code, step=step).inc()
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


@dataclass
class CheckedCode:
    """A genuine, live code whose member is not looked up yet: the confirmation finds the member and their
    entitlement in one statement inside its transaction, and sets ``member`` (for the refusal record)."""

    text: str
    verified: codes.VerifiedCode
    member: User | None = None

    @property
    def channel(self) -> str:
        return Channel.STAFF_TYPED if self.verified.kind == "numeric" else Channel.STAFF_SCAN

    @property
    def member_key(self) -> dict[str, Any]:
        """How to find the member: ``public_id`` (QR) or ``number`` (typed)."""
        if self.verified.member_public_id:
            return {"public_id": self.verified.member_public_id}
        return {"number": self.verified.member_number}

    def code_id(self, member: User) -> str:
        return codes.code_id(member_public_id=member.public_id, window=self.verified.window)


def code_check(*, text: str, merchant: Merchant, at: datetime, typed_guard: bool = True) -> CheckedCode:
    """Verify a scanned or typed code without looking its member up. Raises ``code_invalid``,
    ``code_expired``, ``code_attempts_exceeded`` (a typed code, unless ``typed_guard`` is off: a code from a
    prepare token, which passed the guard when it was prepared)."""
    if typed_guard and codes.looks_numeric(text):
        _typed_attempts_check(merchant=merchant, at=at)
    return CheckedCode(text=text, verified=codes.verify(text, at=at))


def code_read(*, text: str, merchant: Merchant, at: datetime) -> ScannedCode:
    """Verify a scanned or typed code and find its member. Raises ``code_invalid``, ``code_expired``,
    ``code_attempts_exceeded``. Single use is checked by the caller."""
    checked = code_check(text=text, merchant=merchant, at=at)
    key = checked.member_key
    lookup: dict[str, Any] = {"public_id": key["public_id"]} if "public_id" in key else {"pk": key["number"]}
    try:
        member = User.objects.get(is_active=True, **lookup)
    except User.DoesNotExist as exc:
        raise DomainError("code_invalid") from exc
    return ScannedCode(text=text, verified=checked.verified, member=member, code_id=checked.code_id(member))


def member_code(
    *, member: User, at: datetime | None = None, ahead: int = 0, entitled_until: datetime | None = None
) -> codes.MemberCode:
    """The member's code for now (or ``ahead`` windows later), signed with the masked name and the end of
    the entitlement (``entitled_until``; read when not given) so that a scanner previews it and may accept
    it offline. Derived, never stored: nothing can fail between a payment and the first code but the
    entitlement itself, checked at the counter."""
    if entitled_until is None:
        entitled_until = entitlement(user=member, at=at).period_end
    return codes.issue(
        member_public_id=member.public_id,
        member_number=member.pk,
        at=at,
        ahead=ahead,
        masked_name=member.masked_name,
        entitled_until=entitled_until,
    )


def member_day_count(*, member: User, merchant: Merchant, day: date) -> int:
    row = MemberDay.objects.filter(member=member, merchant=merchant, local_date=day).values_list("count", flat=True)
    return next(iter(row), 0)


def eligibility(*, member: User, merchant: Merchant, at: datetime) -> Any:
    """Entitlement and shop state, in the order staff should hear about them."""
    ent = entitlement(user=member, at=at)
    if not ent.entitled or ent.subscription_id is None:
        raise DomainError(ent.code or "membership_inactive")
    refusal = redeem_refusal(merchant=merchant, at=at)
    if refusal:
        raise DomainError(refusal)
    return ent
