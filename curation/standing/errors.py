"""Stable refusal codes of merchant standing (complaints, findings, appeals)."""

from django.utils.translation import gettext_lazy as _

from core.errors import register

register(
    {
        "complaint_redemption_not_yours": (
            403,
            _("You can only complain about your own redemptions."),
        ),
        "complaint_merchant_not_visited": (
            403,
            _("You can only complain about a shop where you have used your card."),
        ),
        "complaint_target_required": (400, _("Say which redemption or which shop the complaint is about.")),
        "complaint_duplicate": (
            409,
            _("You filed the same complaint less than a minute ago; we already have it."),
        ),
        "complaint_text_required": (400, _("Please describe what happened.")),
        "complaint_text_too_long": (400, _("The description may be at most %(max)s characters.")),
        "complaint_category_invalid": (400, _("Choose one of the complaint categories.")),
        "complaint_photo_not_image": (400, _("The photo must be a JPEG, PNG or WebP image.")),
        "complaint_photo_too_large": (400, _("The photo may be at most %(max_mb)s MB.")),
        "complaint_member_unknown": (404, _("No RedCard member has this id.")),
        "complaint_closed": (409, _("This complaint is resolved; it cannot be changed any more.")),
        "complaint_outcome_invalid": (400, _("Choose one of the outcomes.")),
        "complaint_message_required": (400, _("Please write a message.")),
        "complaint_not_your_shop": (403, _("This complaint is not about a shop you run.")),
        "finding_merchant_removed": (409, _("This merchant was already removed; no new finding is recorded.")),
        "finding_reason_required": (400, _("Please write the reason for this decision.")),
        "finding_closed": (409, _("This finding is already decided.")),
        "appeal_already_filed": (409, _("This finding was already appealed; each finding can be appealed once.")),
        "appeal_text_required": (400, _("Please explain why the finding is wrong.")),
        "appeal_closed": (409, _("This appeal is already decided.")),
        "curator_required": (403, _("Only curators may do this.")),
        "owner_required": (403, _("Only the shop's owner may do this.")),
    }
)
