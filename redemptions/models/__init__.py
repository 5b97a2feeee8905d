"""The tables of the redemptions app, one module per domain (app label ``redemptions``, tables unchanged).

- :mod:`.counter`: what happens at the counter: redemptions, member days, refused scans, NFC tags, claims, surge flags;
- :mod:`.attribution`: notes, touches and the credits a redemption gives the notes that led to it.
"""

from .attribution import (
    SHARE_ONE,
    AttributionCredit,
    AttributionCursor,
    AttributionModel,
    AttributionWindow,
    MemberHomeDistrict,
    Note,
    NoteMerchant,
    Touch,
)
from .counter import (
    CODE_USED_ONCE,
    Channel,
    Claim,
    MemberDay,
    NfcTag,
    OfflineRedemption,
    Redemption,
    RedemptionOutbox,
    RefusedScan,
    SurgeFlag,
)
from .partners import PartnerLink, PartnerLinkCode

__all__ = [
    "CODE_USED_ONCE",
    "SHARE_ONE",
    "AttributionCredit",
    "AttributionCursor",
    "AttributionModel",
    "AttributionWindow",
    "Channel",
    "Claim",
    "MemberDay",
    "MemberHomeDistrict",
    "NfcTag",
    "Note",
    "NoteMerchant",
    "OfflineRedemption",
    "PartnerLink",
    "PartnerLinkCode",
    "Redemption",
    "RedemptionOutbox",
    "RefusedScan",
    "SurgeFlag",
    "Touch",
]
