"""The redemptions app's entries on lower apps' pages (:mod:`core.links`): the notes about a shop on its page,
the member's card from the membership pages, and the scanner, dashboard and QR stand from the merchant console."""

from __future__ import annotations

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _

from core.links import Link, Section, provide
from merchants.models import Merchant
from merchants.selectors import is_owner

from .attribution.selectors import notes_about


@provide("merchants.shop_page.sections")
def shop_notes(request: HttpRequest, *, merchant: Merchant) -> Section | None:
    """The notes that tag the shop (newest first; a verified visit marked), on the shop's public page."""
    notes = notes_about(merchant=merchant)
    if not notes:
        return None
    html = render_to_string("redemptions/attribution/_shop_notes.html", {"notes": notes}, request=request)
    return Section(html=html, order=50)


@provide("members.card")
def member_card(request: HttpRequest) -> Link | None:
    return Link(label=_("Show my card at the counter"), url=reverse("redemptions:card"), primary=True)


@provide("merchants.console_shop")
def scanner(request: HttpRequest, *, merchant: Merchant) -> Link | None:
    url = reverse("redemptions:scanner", args=[merchant.public_id])
    return Link(label=_("Scan member cards"), url=url, primary=True, order=10)


@provide("merchants.console_shop")
def dashboard(request: HttpRequest, *, merchant: Merchant) -> Link | None:
    if not is_owner(user=request.user, merchant=merchant):
        return None
    return Link(label=_("Dashboard"), url=reverse("redemptions:dashboard", args=[merchant.public_id]), order=20)


@provide("merchants.console_shop")
def stand(request: HttpRequest, *, merchant: Merchant) -> Link | None:
    return Link(label=_("Printable QR stand"), url=reverse("redemptions:stand", args=[merchant.public_id]), order=30)
