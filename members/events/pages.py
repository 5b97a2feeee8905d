"""Event entries on other pages: the home page (upcoming events near the member, with the priority
countdown) and a shop's page (the events it organises or hosts, in the slot ``merchants.shop_page.sections``
of :mod:`core.links`)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from core.links import Section, provide

from . import selectors
from .views import event_row

HOME_EVENTS = 3


def _home_city_and_place(request: HttpRequest) -> tuple[float | None, float | None]:
    def number(name: str) -> float | None:
        try:
            return float(request.GET[name])
        except (KeyError, ValueError):
            return None

    return number("lat"), number("lng")


def home_section(request: HttpRequest) -> dict[str, Any] | None:
    """The next few events (nearest first when the home page is given ``?lat=&lng=``)."""
    now = timezone.now()
    events = selectors.upcoming_events(at=now)
    lat, lng = _home_city_and_place(request)
    rows = selectors.near(events, lat=lat, lng=lng) if lat is not None and lng is not None else list(events[:20])
    if not rows:
        return None
    html = render_to_string(
        "members/events/_home.html",
        {"rows": [event_row(event, request.user, now) for event in rows[:HOME_EVENTS]]},
        request=request,
    )
    return {"order": 20, "html": html}


@provide("merchants.shop_page.sections")
def merchant_events_section(request: HttpRequest, *, merchant: Any) -> Section | None:
    now = timezone.now()
    events = list(selectors.events_of_merchant(merchant=merchant, at=now)[:10])
    if not events:
        return None
    html = render_to_string(
        "members/events/_merchant.html",
        {"rows": [event_row(event, request.user, now) for event in events]},
        request=request,
    )
    return Section(html=html)
