"""The redemptions app's links on lower apps' pages (:mod:`core.links`): the shop's QR stand and NFC tags from
the merchant console."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from core.links import Link, provide
from merchants.models import Merchant


@provide("merchants.console_shop")
def stand(request: HttpRequest, *, merchant: Merchant) -> Link | None:
    return Link(label=_("Printable QR stand"), url=reverse("redemptions:stand", args=[merchant.public_id]))
