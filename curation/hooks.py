"""Curation's links on lower apps' pages (:mod:`core.links`): report a problem with a shop or a visit, apply to
join from the merchant console."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from core.links import Link, provide
from merchants.models import Merchant
from redemptions.models import Redemption


@provide("merchants.shop_page")
def report_shop(request: HttpRequest, *, merchant: Merchant) -> Link | None:
    if not request.user.is_authenticated:
        return None
    url = f"{reverse('curation:complaint_new')}?merchant={merchant.public_id}"
    return Link(label=_("Report a problem with this shop"), url=url)


@provide("merchants.console_home")
def apply(request: HttpRequest) -> Link | None:
    return Link(label=_("Apply or see my application"), url=reverse("curation:apply"), primary=True)


@provide("redemptions.visit")
def report_visit(request: HttpRequest, *, redemption: Redemption) -> Link | None:
    if redemption.status != Redemption.Status.CONFIRMED:
        return None
    url = f"{reverse('curation:complaint_new')}?redemption={redemption.public_id}"
    return Link(label=_("Report a problem"), url=url)
