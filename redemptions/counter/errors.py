"""Stable refusal codes of the counter, with zh-Hans/en messages, and the staff wording of lower apps' codes.

A code is registered once, by the app that owns it: ``membership_inactive`` by members,
``merchant_not_active``/``merchant_paused``/``merchant_at_capacity`` by merchants. Their registered
message speaks to the member; at the counter, staff read :data:`STAFF_WORDING` instead, given as the
refusal's ``detail`` by :func:`for_staff` (same code, same status).
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

import members.errors  # noqa: F401  (registers membership_inactive)
import merchants.errors  # noqa: F401  (registers the merchant_* codes)
from core.errors import DomainError, register

#: Lower apps' codes the counter answers with.
LOWER_CODES = ("membership_inactive", "merchant_not_active", "merchant_paused", "merchant_at_capacity")

#: How staff at the counter read those whose registered message speaks to the member
#: (``merchant_paused`` reads the same for both).
STAFF_WORDING: dict[str, Promise] = {
    "membership_inactive": _("This member's card is not active."),
    "merchant_not_active": _("This shop cannot accept RedCard right now."),
    "merchant_at_capacity": _("This shop has used up today's RedCard capacity."),
}

OWN: dict[str, tuple[int, Promise]] = {
    "staff_not_authorized": (403, _("You are not staff of this shop.")),
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

#: Reasons an offline record is refused (answered per record by the offline sync, never as a request's error).
OFFLINE_OWN: dict[str, tuple[int, Promise]] = {
    "offline_too_late": (422, _("This offline redemption reached us more than 24 hours after the scan.")),
    "offline_scan_in_future": (
        422,
        _("This offline redemption's scan time is in the future: check the device's clock."),
    ),
}

#: Refusals of orders reported by partner platforms (services.partner_orders).
PARTNER_OWN: dict[str, tuple[int, Promise]] = {
    "partner_member_unknown": (
        422,
        _("This member token is unknown or no longer linked: ask the member to link their account again."),
    ),
    "partner_order_id_invalid": (422, _("Give the order id: up to 64 printable characters.")),
    "partner_order_conflict": (
        409,
        _("This order id was already reported with another amount. The report is kept for review."),
    ),
    "partner_link_code_invalid": (
        400,
        _(
            "This link code is unknown, expired, already used or was issued for another redirect URI: ask the "
            "member to link again."
        ),
    ),
    "partner_order_unknown": (404, _("No order with this id was reported by your application.")),
    "partner_paid_at_future": (422, _("The payment time is in the future: check the clock of your system.")),
    "partner_paid_at_too_old": (422, _("Orders paid more than 7 days ago cannot be reported.")),
    "partner_discount_invalid": (422, _("The discount must be a whole number of fen between 0 and the bill.")),
    "partner_discount_short": (
        422,
        _("The discount given is below the shop's RedCard offer on this bill (¥%(discount)s)."),
    ),
}

register(OWN)
register(OFFLINE_OWN)
register(PARTNER_OWN)

#: Why an offline redemption was flagged, in conflict or refused, as the owner reads it.
OFFLINE_REASONS: dict[str, Promise] = {
    "member_limit_reached": _("The member had already used RedCard here that day."),
    "merchant_at_capacity": _("Today's RedCard capacity was already used up."),
    "merchant_paused": _("RedCard was paused that day."),
    "merchant_not_active": _("The shop could not accept RedCard then."),
    "offline_switched_off": _("Offline acceptance was switched off."),
    "bill_below_minimum": _("The bill was below the shop's minimum."),
    "code_already_used": _("The code had already been used (online or on another device)."),
    "membership_inactive": _("The member's card was not active at the time of the scan."),
    "code_invalid": _("Not a genuine RedCard code."),
    "code_expired": _("The code had expired at the time of the scan."),
    "offline_too_late": _("Synced more than 24 hours after the scan."),
    "offline_scan_in_future": _("The scan time was in the future (the device's clock)."),
}

#: Every refusal the redemption API can answer with (documented in the OpenAPI examples).
REFUSAL_CODES: tuple[str, ...] = (*LOWER_CODES, *OWN, *PARTNER_OWN)


def for_staff(error: DomainError) -> DomainError:
    """The refusal as staff at the counter (or a partner's till) read it: a lower app's code keeps its code and
    status and gets the staff wording as its detail; the counter's own codes are already worded for staff."""
    wording = STAFF_WORDING.get(error.code)
    return error if wording is None else error.worded(wording)
