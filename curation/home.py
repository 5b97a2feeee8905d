"""The curation entry on the home page: merchants apply to join."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _


def section(request: HttpRequest) -> dict[str, Any] | None:
    return {
        "title": _("Run a shop?"),
        "text": _("Joining RedCard is free. Apply online; curators answer every application."),
        "links": [{"label": _("Apply to join"), "url": reverse("curation:apply"), "primary": False}],
        "order": 80,
    }
