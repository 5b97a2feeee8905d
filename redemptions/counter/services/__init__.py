"""Every write at the counter, by concern: :mod:`.redeem` (prepare, confirm, void: the redemption path),
:mod:`.claims` (tap or scan at the counter), :mod:`.tags` (NFC tags), :mod:`.surge` (the surge detector);
:mod:`.common` holds what they share (money, who is asking, the code's member, eligibility, refusals).

Every refusal is a ``DomainError`` with a stable code of :mod:`redemptions.counter.errors` (or of the lower app
that owns it, worded for staff by ``for_staff``), writes no redemption, and is recorded as a ``RefusedScan``.
The names below are the package's public surface (``services.redemption_confirm``).
"""

from ..outbox import member_notice_redeemed
from .claims import claim_cancel, claim_confirm, claim_create, claim_reject, claims_expire
from .common import (
    MAX_BILL_FEN,
    PARTNER_SCOPE,
    TYPED_ATTEMPT_LIMIT,
    TYPED_ATTEMPT_WINDOW,
    Counter,
    ScannedCode,
    claim_ttl,
    code_read,
    counter_authorize,
    counter_merchant,
    discount_for,
    eligibility,
    member_code,
    member_day_count,
    parse_bill_fen,
    parse_bill_yuan,
    prepare_hold,
    refusal_record,
    void_window,
)
from .offline import OfflineRecord, offline_redemption_sync, offline_sync
from .redeem import (
    Prepared,
    redemption_confirm,
    redemption_may_void,
    redemption_prepare,
    redemption_void,
    redemption_write,
)
from .surge import SURGE_FACTOR, SURGE_MINIMUM, SURGE_WEEKS, SurgeReading, surge_clear, surge_detect, surge_readings
from .tags import tag_register, tag_tap_verify

__all__ = [
    "MAX_BILL_FEN",
    "PARTNER_SCOPE",
    "SURGE_FACTOR",
    "SURGE_MINIMUM",
    "SURGE_WEEKS",
    "TYPED_ATTEMPT_LIMIT",
    "TYPED_ATTEMPT_WINDOW",
    "Counter",
    "OfflineRecord",
    "Prepared",
    "ScannedCode",
    "SurgeReading",
    "claim_cancel",
    "claim_confirm",
    "claim_create",
    "claim_reject",
    "claim_ttl",
    "claims_expire",
    "code_read",
    "counter_authorize",
    "counter_merchant",
    "discount_for",
    "eligibility",
    "member_code",
    "member_day_count",
    "member_notice_redeemed",
    "offline_redemption_sync",
    "offline_sync",
    "parse_bill_fen",
    "parse_bill_yuan",
    "prepare_hold",
    "redemption_confirm",
    "redemption_may_void",
    "redemption_prepare",
    "redemption_void",
    "redemption_write",
    "refusal_record",
    "surge_clear",
    "surge_detect",
    "surge_readings",
    "tag_register",
    "tag_tap_verify",
    "void_window",
]
