"""The merchants entry on the home page: find shops; run your shop."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _


def section(request: HttpRequest) -> dict[str, Any] | None:
    links = [{"label": _("Find shops that take RedCard"), "url": reverse("merchants:catalogue"), "primary": True}]
    user = request.user
    if user.is_authenticated and user.merchant_roles.exists():
        links.append({"label": _("Merchant console"), "url": reverse("merchants:console"), "primary": False})
    return {
        "title": _("Shops"),
        "text": _("Curated shops near you, each with a member offer."),
        "links": links,
        "order": 20,
    }
