"""The curation entry on the home page: members ask for shops, merchants apply to join."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _


def section(request: HttpRequest) -> dict[str, Any] | None:
    return {
        "title": _("Missing a shop?"),
        "text": _(
            "Ask for a place you love: the curators invite the shops members want most. "
            "Run a shop? Joining is free; curators answer every application."
        ),
        "links": [
            {"label": _("Apply to join"), "url": reverse("curation:apply"), "primary": False},
            {"label": _("Ask for a shop you love"), "url": reverse("curation:wanted"), "primary": False},
        ],
        "order": 80,
    }
