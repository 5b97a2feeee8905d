"""Writes of the shops members ask for.

- :func:`nomination_submit`: a member asks for a shop. The request merges into the shop other members already
  asked for when the names match and the places agree (see :func:`same_shop`); a shop already on RedCard is
  answered with ``wanted_already_listed``. Members of one city are serialised by a named lock, so twenty members
  asking for the same new shop at once make one shop with twenty requests.
- :func:`wanted_invite` / :func:`wanted_decline`: the curators' decisions on the recruitment queue.
- :func:`wanted_listed`: called when a shop is admitted; the shops members asked for that it matches are marked
  listed and every member who asked is told.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, field_error
from core.locks import named_lock
from core.models import User
from core.services import Actor, audit_record, notify
from curation.models.wanted import Nomination, WantedShop
from merchants.models import City, District, Merchant
from merchants.selectors import visible_merchants_in_city
from merchants.validators import haversine_km

from . import errors as _errors  # noqa: F401  (registers the codes)
from .selectors import open_shops_in

#: Two requests name the same shop when their folded names are this alike …
NAME_SIMILARITY = 0.8
#: … and, where both give a place, they are at most this far apart.
SAME_PLACE_KM = 0.3
#: Where either has no coordinates, their addresses must be this alike (or one of them missing).
ADDRESS_SIMILARITY = 0.6

_BRANCH = re.compile(r"[（(][^()（）]*[)）]\s*$")  # "(徐汇店)", "（人民广场店）"


def match_key(name: str) -> str:
    """A shop name folded for matching: full-width to half-width, lower case, without a trailing branch in
    brackets, spaces or punctuation ("Lao Wang 老王面馆（徐汇店）" -> "laowang老王面馆")."""
    folded = unicodedata.normalize("NFKC", name).lower().strip()
    folded = _BRANCH.sub("", folded)
    return "".join(ch for ch in folded if ch.isalnum())[:80]


def _alike(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    if a == b or (min(len(a), len(b)) >= 2 and (a in b or b in a)):
        return 1.0
    return SequenceMatcher(None, a, b).ratio()


@dataclass(frozen=True)
class Place:
    name: str
    address: str = ""
    lat: float | None = None
    lng: float | None = None
    district_id: int | None = None


def same_shop(a: Place, b: Place) -> bool:
    """Whether two descriptions name one shop: alike names, and the same place (within 300 m where both give
    coordinates; else alike addresses or the same district where they can be compared)."""
    if _alike(match_key(a.name), match_key(b.name)) < NAME_SIMILARITY:
        return False
    if None not in (a.lat, a.lng, b.lat, b.lng):
        return haversine_km(a.lat, a.lng, b.lat, b.lng) <= SAME_PLACE_KM  # type: ignore[arg-type]
    if a.district_id and b.district_id and a.district_id != b.district_id:
        return False
    if a.address and b.address:
        return _alike(match_key(a.address), match_key(b.address)) >= ADDRESS_SIMILARITY
    return True


def _places_of_merchant(merchant: Merchant, *, with_address: bool) -> list[Place]:
    """A listed shop as requests may name it: by its Chinese or its English name."""
    address = merchant.address if with_address else ""
    district = merchant.district_id if with_address else None
    names = [merchant.name_zh, *([merchant.name_en] if merchant.name_en else [])]
    return [Place(name, address, merchant.lat, merchant.lng, district) for name in names]


def _place_of_shop(shop: WantedShop) -> Place:
    return Place(shop.name, shop.address, shop.lat, shop.lng, shop.district_id)


def _clean(
    *, city: City | None, district: District | None, name: str, address: str, lat: Any, lng: Any
) -> tuple[City, Place]:
    name, address = " ".join(name.split()), " ".join(address.split())
    if not name or not match_key(name):
        raise field_error("name", "required", _("Please give the shop's name."))
    if len(name) > 80 or len(address) > 200:
        raise field_error("name" if len(name) > 80 else "address", "too_long", _("This is too long."))
    if city is None or not city.is_active:
        raise field_error("city", "invalid", _("Choose one of RedCard's cities."))
    if district is not None and district.city_id != city.pk:
        raise field_error("district", "invalid", _("This district is not in the chosen city."))
    if (lat is None) != (lng is None):
        raise field_error("lat", "incomplete", _("Give both latitude and longitude, or neither."))
    if lat is not None and not (-90 <= float(lat) <= 90 and -180 <= float(lng) <= 180):
        raise field_error("lat", "out_of_range", _("These coordinates are not on Earth."))
    place = Place(
        name,
        address,
        None if lat is None else float(lat),
        None if lng is None else float(lng),
        district.pk if district else None,
    )
    return city, place


def nomination_submit(
    *,
    member: User,
    city: City | None,
    name: str,
    address: str = "",
    district: District | None = None,
    lat: float | None = None,
    lng: float | None = None,
    note_url: str = "",
    now: datetime | None = None,
) -> Nomination:
    """A member asks for a shop (see the module). Asking again for the same shop refreshes the request.

    Raises ``validation_failed`` (name, city, district, coordinates) and ``wanted_already_listed``."""
    city, place = _clean(city=city, district=district, name=name, address=address, lat=lat, lng=lng)
    now = now or timezone.now()
    with transaction.atomic():
        named_lock(f"curation.wanted.city.{city.pk}")
        for merchant in visible_merchants_in_city(city_id=city.pk):
            if any(same_shop(place, listed) for listed in _places_of_merchant(merchant, with_address=False)):
                raise DomainError("wanted_already_listed", shop=merchant.name_zh)
        shop = next((s for s in open_shops_in(city_id=city.pk) if same_shop(place, _place_of_shop(s))), None)
        if shop is None:
            shop = WantedShop.objects.create(
                city=city,
                district_id=place.district_id,
                name=place.name,
                match_key=match_key(place.name),
                address=place.address,
                lat=place.lat,
                lng=place.lng,
            )
        elif _fills_gaps(shop, place):
            shop.save(update_fields=["district", "address", "lat", "lng"])
        nomination, created = Nomination.objects.get_or_create(
            shop=shop,
            member=member,
            defaults={"name": place.name, "address": place.address, "note_url": note_url, "asked_at": now},
        )
        if not created:
            nomination.asked_at, nomination.note_url = now, note_url or nomination.note_url
            nomination.save(update_fields=["asked_at", "note_url"])
    return nomination


def _fills_gaps(shop: WantedShop, place: Place) -> bool:
    """A later request may know what the first did not (the district, the address, the coordinates)."""
    changed = False
    if shop.district_id is None and place.district_id:
        shop.district_id, changed = place.district_id, True
    if not shop.address and place.address:
        shop.address, changed = place.address, True
    if shop.lat is None and place.lat is not None:
        shop.lat, shop.lng, changed = place.lat, place.lng, True
    return changed


def _locked(shop: WantedShop) -> WantedShop:
    return WantedShop.objects.select_for_update().get(pk=shop.pk)


def wanted_invite(*, shop: WantedShop, actor: Actor, now: datetime | None = None) -> str:
    """Mark the shop invited and return the pre-filled application link to send it (audited)."""
    with transaction.atomic():
        locked = _locked(shop)
        if locked.state not in WantedShop.OPEN_STATES:
            raise DomainError("wanted_not_open")
        locked.state, locked.invited_at = WantedShop.State.INVITED, now or timezone.now()
        locked.save(update_fields=["state", "invited_at"])
        audit_record(actor=actor, action="curation.wanted_invited", obj=locked)
    shop.state, shop.invited_at = locked.state, locked.invited_at
    return invite_link(shop=locked)


def invite_link(*, shop: WantedShop) -> str:
    return f"{settings.SITE_URL}{reverse('curation:apply_step', args=['business'])}?invite={shop.public_id}"


def wanted_decline(*, shop: WantedShop, actor: Actor, reason: str) -> None:
    """Take the shop off the queue (closed for good, a chain that does not join, …) with a written reason."""
    if not reason.strip():
        raise field_error("reason", "required", _("Please give a reason."))
    with transaction.atomic():
        locked = _locked(shop)
        if locked.state not in WantedShop.OPEN_STATES:
            raise DomainError("wanted_not_open")
        locked.state = WantedShop.State.DECLINED
        locked.save(update_fields=["state"])
        audit_record(actor=actor, action="curation.wanted_declined", obj=locked, reason=reason.strip())
    shop.state = locked.state


def wanted_listed(*, merchant: Merchant, now: datetime | None = None) -> list[WantedShop]:
    """Inside the admission's transaction: the open shops members asked for that ``merchant`` is become
    listed, and every member who asked for them is told (once: a listed shop leaves the open states)."""
    now = now or timezone.now()
    places = _places_of_merchant(merchant, with_address=True)
    matched = [
        s
        for s in open_shops_in(city_id=merchant.city_id).select_for_update()
        if any(same_shop(_place_of_shop(s), place) for place in places)
    ]
    for shop in matched:
        shop.state, shop.merchant, shop.listed_at = WantedShop.State.LISTED, merchant, now
        shop.save(update_fields=["state", "merchant", "listed_at"])
        for nomination in shop.nominations.select_related("member"):
            notify(
                user=nomination.member,
                kind="curation.wanted_listed",
                title=_("A shop you asked for takes RedCard: %(shop)s"),
                body=_("You asked for it on %(asked)s. Show your card there for the member offer."),
                url=reverse("merchants:merchant", args=[merchant.public_id]),
                context={"shop": merchant.name_zh, "asked": nomination.asked_at},
                at=now,
            )
    return matched
