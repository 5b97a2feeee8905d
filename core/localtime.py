"""Local time for people: each page shows times in the zone of what it is about.

Storage and the API stay in UTC (ISO 8601 with its offset). Pages are different: a person reads a clock,
and the clock they read is the one on the wall where the thing happens.

- Every page starts in the programme's zone (``REDCARD_DEFAULT_TIMEZONE``, Asia/Shanghai): member pages,
  the console (admin) and the operations overview.
- A page about one shop (scanner, stand, claim screen, shop console, dashboard, shop page) switches to the
  shop's city zone with :func:`use_zone_of_city` once the view has loaded the shop.
- The API (``/api/``, ``/o/``) is left in UTC: DRF renders aware datetimes in the active zone.

``base.html`` names the active zone on ``<html data-time-zone>``, so the few times that JavaScript renders
(``static/js/localtime.js``) use the same zone and the page's language, never the browser's locale.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

#: Paths whose responses are machine-read: they keep UTC (with an explicit offset).
UTC_PATHS = ("/api/", "/o/")


class HasTimezone(Protocol):
    timezone: str


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def programme_zone() -> ZoneInfo:
    return zone(settings.REDCARD_DEFAULT_TIMEZONE)


def programme_day(moment: datetime) -> date:
    """The programme's calendar day at ``moment`` (a card's end date as members read it)."""
    return moment.astimezone(programme_zone()).date()


def use_zone(name: str) -> ZoneInfo:
    """Render the rest of this request in zone ``name`` (a page about something that lives there)."""
    tz = zone(name or settings.REDCARD_DEFAULT_TIMEZONE)
    timezone.activate(tz)
    return tz


def use_zone_of_city(city: HasTimezone | None) -> ZoneInfo:
    """A shop's pages: the shop's city zone (the view calls it once it has loaded the shop)."""
    return use_zone(city.timezone if city is not None else "")


class LocalTimeMiddleware:
    """Pages start in the programme's zone; the API stays in UTC. The zone is reset after each request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(UTC_PATHS):
            timezone.deactivate()
        else:
            use_zone(settings.REDCARD_DEFAULT_TIMEZONE)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
