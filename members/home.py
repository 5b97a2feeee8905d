"""The members' entry on the home page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _


def section(request: HttpRequest) -> list[dict[str, Any] | None]:
    """The card entry and the upcoming member events."""
    from .events.pages import home_section

    return [card_section(request), home_section(request)]


def card_section(request: HttpRequest) -> dict[str, Any] | None:
    from .selectors import default_plan, entitlement
    from .templatetags.members_tags import yuan

    user = request.user
    if not user.is_authenticated:
        plan = default_plan()
        return {
            "order": 10,
            "title": _("RedCard membership"),
            "text": _("%(price)s a year for member discounts at curated shops.") % {"price": yuan(plan.price_fen)}
            if plan
            else "",
            "links": [{"label": _("Join RedCard"), "url": reverse("members:join"), "primary": True}],
        }
    status = entitlement(user=user)
    if status.entitled:
        return {
            "order": 10,
            "title": _("Your RedCard"),
            "text": _("Your card is active."),
            "links": [{"label": _("My membership"), "url": reverse("members:membership"), "primary": False}],
        }
    return {
        "order": 10,
        "title": _("RedCard membership"),
        "text": _("You do not have an active card."),
        "links": [
            {"label": _("Join RedCard"), "url": reverse("members:join"), "primary": True},
            {"label": _("My membership"), "url": reverse("members:membership"), "primary": False},
        ],
    }
