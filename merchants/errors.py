"""Stable refusal codes of the merchants app."""

from django.utils.translation import gettext_lazy as _

from core.errors import register

register(
    {
        # Redemption guards: answered by merchants.selectors.redeem_refusal and merchants.services.capacity_take.
        "merchant_not_active": (409, _("This shop is not taking RedCard at the moment.")),
        "merchant_paused": (409, _("This shop has paused RedCard for today.")),
        "merchant_at_capacity": (409, _("This shop has reached today's RedCard capacity. Please come back tomorrow.")),
        # Admission and listing.
        "city_full": (409, _("No seats are left in %(city)s.")),
        "licence_duplicate": (409, _("Another shop already holds this food business licence.")),
        "offer_change_pending": (409, _("An offer change is already waiting for review.")),
        "staff_last_owner": (409, _("A shop must keep at least one owner.")),
        "staff_already_member": (409, _("This person is already on the shop's staff.")),
        "staff_not_owner": (403, _("Only the shop's owner can do this.")),
        "merchant_reason_required": (400, _("Please give a reason for this change.")),
        # Shop photos.
        "shop_photo_not_image": (400, _("The photo must be a JPEG, PNG or WebP image.")),
        "shop_photo_too_large": (400, _("The photo may be at most %(max_mb)s MB.")),
        "shop_photo_limit": (409, _("A shop may show at most %(limit)s photos; remove one first.")),
    }
)
