"""The home page entry: the member's card, one tap away; the scanner for shop staff."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _


def section(request: HttpRequest) -> dict[str, Any] | None:
    from members.selectors import entitlement
    from merchants.selectors import merchants_of_staff

    user = request.user
    if not user.is_authenticated:
        return None
    links = []
    if entitlement(user=user).entitled:
        links.append({"label": _("Show my card"), "url": reverse("redemptions:card"), "primary": True})
        links.append({"label": _("My redemptions"), "url": reverse("redemptions:mine"), "primary": False})
    if merchants_of_staff(user=user).exists():
        links.append(
            {"label": _("Scan a member's card"), "url": reverse("redemptions:scanner_pick"), "primary": not links}
        )
    if not links:
        return None
    return {"order": 1, "title": _("At the counter"), "text": "", "links": links}
