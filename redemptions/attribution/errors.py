"""Stable codes of notes, touches, attribution and the merchant dashboard (issue 6), with zh-Hans/en messages.

Row codes (``touch_*``) are reported per row of a touch batch, with the row's index; the others refuse a
whole request.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from core.errors import register

CODES: dict[str, tuple[int, Promise]] = {
    "note_merchant_unknown": (422, _("The note tags a merchant that does not exist.")),
    "note_author_unknown": (422, _("The note's author is not a RedCard member.")),
    "note_not_found": (404, _("There is no such note.")),
    "visit_token_invalid": (422, _("This invitation to write a note is not valid for this member.")),
    "note_invite_unavailable": (409, _("This redemption was voided, so it cannot be linked to a note.")),
    "touch_batch_too_large": (413, _("A batch holds at most %(limit)s touches.")),
    "touch_batch_empty": (422, _("The batch holds no touches.")),
    "touch_row_invalid": (422, _("This touch is incomplete or malformed.")),
    "touch_note_unknown": (422, _("This touch refers to a note that does not exist.")),
    "touch_member_unknown": (422, _("This touch refers to a member that does not exist.")),
    "touch_in_future": (422, _("This touch is dated in the future.")),
    "touch_too_old": (422, _("This touch is older than the retention period.")),
    "touch_duplicate_in_batch": (422, _("This external id appears more than once in the batch.")),
    "insights_not_granted": (403, _("This shop has not granted your application access to its insights.")),
    "dashboard_not_owner": (403, _("Only the shop's owner can see its dashboard.")),
    "period_invalid": (422, _("Choose a period of at most 366 days, with the start before the end.")),
}

register(CODES)

#: The codes a touch batch reports per row.
TOUCH_ROW_CODES: tuple[str, ...] = tuple(code for code in CODES if code.startswith("touch_") and "batch" not in code)
