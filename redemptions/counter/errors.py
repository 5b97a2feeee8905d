"""Stable refusal codes of the redemption path (issue 5), with zh-Hans/en messages.

Codes that belong to a lower app's rules (``membership_inactive`` from members,
``merchant_not_active``/``merchant_paused``/``merchant_at_capacity`` from
merchants) are registered by that app when it does; we import those modules
first and register here only what is still missing, so the catalogue is
complete whichever app defines a code, and a code has one meaning.
"""

from __future__ import annotations

import contextlib
from importlib import import_module

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from core.errors import CODES, register

for _lower in ("members.errors", "merchants.errors"):
    with contextlib.suppress(ModuleNotFoundError):
        import_module(_lower)

SHARED: dict[str, tuple[int, Promise]] = {
    "membership_inactive": (403, _("This member's card is not active.")),
    "merchant_not_active": (409, _("This shop cannot accept RedCard right now.")),
    "merchant_paused": (409, _("This shop has paused RedCard for today.")),
    "merchant_at_capacity": (409, _("This shop has reached today's RedCard limit. Please come back tomorrow.")),
    "staff_not_authorized": (403, _("You are not staff of this shop.")),
}

OWN: dict[str, tuple[int, Promise]] = {
    "code_invalid": (422, _("This is not a valid RedCard code.")),
    "code_expired": (422, _("This code has expired. Ask the member to refresh the card.")),
    "code_already_used": (409, _("This code has already been used.")),
    "member_limit_reached": (409, _("This member has already used RedCard at this shop today.")),
    "bill_below_minimum": (422, _("The bill is below this shop's minimum for the RedCard discount.")),
    "bill_invalid": (422, _("Enter the bill amount in yuan, for example 86.50.")),
    "void_window_passed": (409, _("This redemption can no longer be voided.")),
    "already_voided": (409, _("This redemption has already been voided.")),
    "code_attempts_exceeded": (429, _("Too many wrong codes. Wait a few minutes, or scan the QR code instead.")),
    "prepare_expired": (422, _("This check has timed out. Scan the code again.")),
    "claim_expired": (409, _("This claim has expired. Ask the member to start again.")),
    "claim_not_pending": (409, _("This claim has already been handled.")),
    "tag_invalid": (422, _("This tag could not be verified.")),
    "tag_replayed": (409, _("This tap was already used. Tap the tag again.")),
    "partner_not_granted": (403, _("This shop has not granted your application access to redemptions.")),
}

register({code: spec for code, spec in SHARED.items() if code not in CODES})
register(OWN)

#: Every refusal the redemption API can answer with (documented in the OpenAPI examples).
REFUSAL_CODES: tuple[str, ...] = (*SHARED, *OWN)
