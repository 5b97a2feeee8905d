"""Reads of the merchants app that other code reuses (the higher apps read merchants only through these)."""

from __future__ import annotations

import functools
import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import reduce
from operator import or_
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, Exists, FloatField, OuterRef, Prefetch, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from core import sql
from core.db import per_row
from core.models import PartnerApplication, User

from .models import (
    City,
    District,
    DistrictSearchDay,
    Merchant,
    MerchantDay,
    MerchantPhoto,
    MerchantStaff,
    Offer,
    OfferChange,
    OpeningSlot,
    PartnerGrant,
)
from .validators import EARTH_RADIUS_KM, is_open_at, minute_of_week

#: Share of the daily capacity from which the catalogue shows "busy".
BUSY_SHARE = 0.8


WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class HoursRow:
    """Consecutive days with the same hours: ``first``..``last`` (weekday keys), their ranges, and whether
    today (in the shop's zone) is one of them."""

    first: str
    last: str
    ranges: tuple[str, ...]
    today: bool


def opening_hours_rows(*, merchant: Merchant, at: datetime) -> list[HoursRow]:
    """The week's hours as people read them on a shop's door: runs of days with the same hours grouped
    ("Mon–Fri 11:00–22:00"), closed days included, today's run marked."""
    hours = merchant.opening_hours or {}
    today = WEEK[at.astimezone(city_zone(merchant.city)).weekday()]
    rows: list[HoursRow] = []
    for day in WEEK:
        ranges = tuple(hours.get(day, []))
        if rows and rows[-1].ranges == ranges:
            last = rows[-1]
            rows[-1] = HoursRow(last.first, day, ranges, last.today or day == today)
        else:
            rows.append(HoursRow(day, day, ranges, day == today))
    return rows


def city_zone(city: City) -> ZoneInfo:
    return ZoneInfo(city.timezone)


def local_date(*, merchant: Merchant, at: datetime) -> date:
    """The merchant's calendar day at ``at`` (its city's timezone)."""
    return at.astimezone(city_zone(merchant.city)).date()


def redeem_refusal(*, merchant: Merchant, at: datetime) -> str | None:
    """None when the merchant may redeem at ``at``; else ``merchant_not_active`` or ``merchant_paused``."""
    if merchant.state not in Merchant.VISIBLE_STATES:
        return "merchant_not_active"
    if merchant.paused_on is not None and merchant.paused_on == local_date(merchant=merchant, at=at):
        return "merchant_paused"
    return None


_REDEEM_TERMS_SQL = (
    f"SELECT m.state, m.paused_on, m.daily_capacity, m.member_daily_limit, m.currency,"  # noqa: S608 (model tables)
    f" o.rate_bp, o.cap_fen, o.min_bill_fen, o.funded_by"
    f" FROM {Merchant._meta.db_table} m JOIN {Offer._meta.db_table} o ON o.merchant_id = m.id WHERE m.id = %s"
)


def redeem_terms_lock(*, merchant: Merchant) -> None:
    """Re-read the merchant's redeeming state (state, pause, capacity, member limit) and its offer terms
    inside the caller's transaction, under a shared row lock (``FOR SHARE`` on PostgreSQL), into
    ``merchant`` and ``merchant.offer``. One statement.

    Many redemptions at one shop hold the shared lock together; a pause, suspension, removal, capacity
    or offer change (``select_for_update``) waits until they commit, and a redemption that arrives
    while one of those is open waits for it and reads what it wrote. SQLite has no row locks: there a
    writer holds the whole database, so the read is current for the transaction that writes."""
    statement = _REDEEM_TERMS_SQL
    if connection.features.has_select_for_update:
        statement += " FOR SHARE OF m, o"
    with sql.hot_cursor() as cursor:
        cursor.execute(statement, [merchant.pk])
        row = cursor.fetchone()
    if row is None:
        raise Merchant.DoesNotExist(merchant.pk)
    offer = merchant.offer
    (
        merchant.state,
        paused_on,
        merchant.daily_capacity,
        merchant.member_daily_limit,
        merchant.currency,
        offer.rate_bp,
        offer.cap_fen,
        offer.min_bill_fen,
        offer.funded_by,
    ) = row
    # SQLite hands a raw cursor's dates back as text.
    merchant.paused_on = date.fromisoformat(paused_on) if isinstance(paused_on, str) else paused_on


def staff_membership(*, user: Any, merchant: Merchant) -> MerchantStaff | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return MerchantStaff.objects.filter(user=user, merchant=merchant).first()


def merchants_of_staff(*, user: User) -> QuerySet[Merchant]:
    """The merchants where ``user`` is owner or staff."""
    return (
        Merchant.objects.filter(staff__user=user)
        .select_related("city", "district", "category", "offer")
        .order_by("name_zh", "pk")
    )


def owners_of(*, merchant: Merchant) -> list[User]:
    """The people who own ``merchant`` (one query)."""
    rows = MerchantStaff.objects.filter(merchant=merchant, role=MerchantStaff.Role.OWNER).select_related("user")
    return [row.user for row in rows]


def is_owner(*, user: Any, merchant: Merchant) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return MerchantStaff.objects.filter(merchant=merchant, user=user, role=MerchantStaff.Role.OWNER).exists()


def merchants_owned(*, user: User) -> list[Merchant]:
    """The merchants ``user`` owns, by name."""
    return list(
        Merchant.objects.filter(staff__user=user, staff__role=MerchantStaff.Role.OWNER).order_by("name_zh", "pk")
    )


def merchants_by_pk(*, ids: Any) -> dict[int, Merchant]:
    """The merchants with these primary keys, by key (one query)."""
    return {merchant.pk: merchant for merchant in Merchant.objects.filter(pk__in=ids)}


def merchant_by_pk(*, pk: int) -> Merchant:
    return Merchant.objects.get(pk=pk)


def merchants_in_states(*, states: Any) -> QuerySet[Merchant]:
    return Merchant.objects.filter(state__in=states)


def visible_merchant(*, public_id: Any) -> Merchant | None:
    """The merchant with this public id if members can see it (on probation or listed)."""
    return Merchant.objects.filter(public_id=public_id, state__in=Merchant.VISIBLE_STATES).first()


def merchant_with_city(*, public_id: Any) -> Merchant | None:
    """The merchant with this public id in any state, with its city (for its local day)."""
    return Merchant.objects.select_related("city").filter(public_id=public_id).first()


def seated_counts() -> list[tuple[int, int, int, int]]:
    """(city id, district id, shops holding a seat, of which in the catalogue) per district: one GROUP BY."""
    return list(
        Merchant.objects.filter(state__in=Merchant.SEATED_STATES)
        .values("city_id", "district_id")
        .annotate(seated=Count("pk"), listed=Count("pk", filter=Q(state__in=Merchant.VISIBLE_STATES)))
        .values_list("city_id", "district_id", "seated", "listed")
    )


def active_cities() -> list[City]:
    return list(City.objects.filter(is_active=True).order_by("code"))


def districts_with_city() -> list[District]:
    return list(District.objects.select_related("city").order_by("city__code", "code"))


def catalogue_districts() -> QuerySet[District]:
    """The districts of the active cities, with their city."""
    return District.objects.filter(city__is_active=True).select_related("city")


def listed_in_district(*, district_ref: str = "pk") -> Coalesce:
    """An annotation: the catalogue's shops (probation or listed) in the outer row's district."""
    visible = Merchant.objects.filter(state__in=Merchant.VISIBLE_STATES)
    return per_row(visible, key="district_id", value=Count("pk"), outer=district_ref)


def searches_in_district(*, since: date, district_ref: str = "pk") -> Coalesce:
    """An annotation: catalogue searches in the outer row's district from the local day ``since`` on."""
    days = DistrictSearchDay.objects.filter(day__gte=since)
    return per_row(days, key="district_id", value=Sum("searches"), outer=district_ref)


def merchants_by_public_ids(*, public_ids: Any) -> list[Merchant]:
    """The merchants with these public ids, in any state (only their keys loaded). Raises ``ValidationError``
    (or ``ValueError``) when an id is not a UUID."""
    return list(Merchant.objects.filter(public_id__in=public_ids).only("pk", "public_id"))


def granted_applications(*, merchant: Merchant) -> QuerySet[PartnerApplication]:
    """The partner applications ``merchant`` has granted access to itself (any scope)."""
    return PartnerApplication.objects.filter(merchant_grants__merchant=merchant)


def granted_application_ids(*, merchant_ids: Collection[int]) -> dict[int, set[int]]:
    """``granted_applications`` of many merchants in one read: the application ids, by merchant id (a merchant
    that granted none is absent)."""
    found: dict[int, set[int]] = {}
    grants = PartnerGrant.objects.filter(merchant_id__in=list(merchant_ids)).values_list(
        "merchant_id", "application_id"
    )
    for merchant_id, application_id in grants:
        found.setdefault(merchant_id, set()).add(application_id)
    return found


def merchant_for_staff(*, user: Any, public_id: Any) -> tuple[Merchant, MerchantStaff] | None:
    """The merchant with this public id and the user's role there, or None (callers answer 404)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    staff = (
        MerchantStaff.objects.filter(user=user, merchant__public_id=public_id)
        .select_related("merchant__city", "merchant__district", "merchant__category", "merchant__offer")
        .first()
    )
    if staff is None:
        return None
    return staff.merchant, staff


def merchant_with_access(*, public_id: Any, staff: Any = None, application: Any = None) -> Merchant | None:
    """The merchant with this public id (any state; city and offer joined) and, in the same statement, what
    the counter asking may do there: ``merchant.access`` is the staff member's role (``staff``) or the
    partner's granted scopes, space-separated (``application``); None when they have none.

    Every counter request starts here, so the statement is built once per kind of asker
    (``_merchant_access_sql``) and the instances straight from its row, as ``select_related("city", "offer")``
    would build them: compiling that ORM query was a third of a confirm's CPU (bench/redemption). An invalid
    ``public_id`` raises the ``ValidationError`` the ORM would."""
    if staff is not None and getattr(staff, "is_authenticated", False):
        kind, asker = "staff", staff.pk
    elif application is not None:
        kind, asker = "partner", application.pk
    else:
        kind, asker = "none", None
    key = Merchant._meta.get_field("public_id").get_db_prep_value(public_id, connection)
    with sql.hot_cursor() as cursor:
        cursor.execute(_merchant_access_sql(kind), [key] if asker is None else [asker, key])
        row = cursor.fetchone()
    if row is None:
        return None
    merchant_end = len(Merchant._meta.concrete_fields)
    city_end = merchant_end + len(City._meta.concrete_fields)
    merchant = sql.instance(Merchant, row[:merchant_end])
    Merchant._meta.get_field("city").set_cached_value(merchant, sql.instance(City, row[merchant_end:city_end]))
    offer_row = row[city_end:-1]
    offer = None if offer_row[0] is None else sql.instance(Offer, offer_row)
    Merchant.offer.related.set_cached_value(merchant, offer)  # None: merchant.offer raises, as the ORM's
    if offer is not None:
        Offer._meta.get_field("merchant").set_cached_value(offer, merchant)
    merchant.access = row[-1]
    return merchant


@functools.cache
def _merchant_access_sql(kind: str) -> str:
    """The merchant by public id with its city, its offer (or NULLs) and the asker's access: the staff member's
    role (``staff``: first parameter the user's id), the partner's granted scopes (``partner``: the
    application's id) or NULL (``none``)."""
    quote = connection.ops.quote_name
    if kind == "none":
        access = "SELECT NULL"
    else:
        table, column, asker = (
            (MerchantStaff, "role", "user_id") if kind == "staff" else (PartnerGrant, "scopes", "application_id")
        )
        access = (
            f"SELECT x.{quote(column)} FROM {quote(table._meta.db_table)} AS x"  # noqa: S608 (names from models)
            f" WHERE x.{quote('merchant_id')} = m.{quote('id')} AND x.{quote(asker)} = %s LIMIT 1"
        )
    return (
        f"SELECT {sql.select_columns(Merchant, 'm')}, {sql.select_columns(City, 'c')},"  # noqa: S608 (names from models)
        f" {sql.select_columns(Offer, 'o')}, ({access})"
        f" FROM {quote(Merchant._meta.db_table)} AS m"
        f" JOIN {quote(City._meta.db_table)} AS c ON c.{quote('id')} = m.{quote('city_id')}"
        f" LEFT JOIN {quote(Offer._meta.db_table)} AS o ON o.{quote('merchant_id')} = m.{quote('id')}"
        f" WHERE m.{quote('public_id')} = %s"
    )


def partner_granted(*, application: Any, merchant: Merchant, scope: str) -> bool:
    """Whether a partner application may act for ``merchant`` within ``scope``."""
    if application is None:
        return False
    # One row at most (a unique pair): no ORDER BY to compile, as .first() would add.
    grant = next(iter(PartnerGrant.objects.filter(application=application, merchant=merchant).only("scopes")), None)
    return grant is not None and scope in grant.scope_set


def seats_taken(*, city: City) -> int:
    return Merchant.objects.filter(city=city, state__in=Merchant.SEATED_STATES).count()


def seats_left(*, city: City) -> int:
    return max(0, city.seat_quota - seats_taken(city=city))


# --- Capacity status -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapacityStatus:
    code: str  # "open", "busy", "full", "paused"
    used: int
    capacity: int


def capacity_status(*, merchant: Merchant, used: int, at: datetime) -> CapacityStatus:
    if merchant.paused_on is not None and merchant.paused_on == local_date(merchant=merchant, at=at):
        return CapacityStatus("paused", used, merchant.daily_capacity)
    if used >= merchant.daily_capacity:
        return CapacityStatus("full", used, merchant.daily_capacity)
    if used >= math.ceil(merchant.daily_capacity * BUSY_SHARE):
        return CapacityStatus("busy", used, merchant.daily_capacity)
    return CapacityStatus("open", used, merchant.daily_capacity)


def today_used(*, merchant: Merchant, at: datetime) -> int:
    """Today's redemptions counted against capacity, from the prefetched ``recent_days`` when present."""
    today = local_date(merchant=merchant, at=at)
    days = getattr(merchant, "recent_days", None)
    if days is not None:
        return next((d.redemptions_count for d in days if d.local_date == today), 0)
    day = MerchantDay.objects.filter(merchant=merchant, local_date=today).first()
    return day.redemptions_count if day else 0


def day_totals(*, merchant: Merchant, first: date, last: date) -> dict[date, tuple[int, int, int]]:
    """The shop's confirmed redemptions, bill total and discount (fen) per local day from ``first`` to
    ``last``, from its per-day roll-up (days without redemptions are absent): one query."""
    rows = (
        MerchantDay.objects.filter(merchant_id=merchant.pk, local_date__gte=first, local_date__lte=last)
        .order_by()
        .values_list("local_date", "confirmed_count", "gmv_fen", "discount_fen")
    )
    return {day: (n, gmv, discount) for day, n, gmv, discount in rows}


def merchant_is_open(*, merchant: Merchant, at: datetime) -> bool:
    return is_open_at(merchant.opening_hours or {}, at.astimezone(city_zone(merchant.city)))


# --- Catalogue -------------------------------------------------------------------------------------


def catalogue(*, at: datetime | None = None) -> QuerySet[Merchant]:
    """Merchants members may see (probation and listed) with everything a catalogue row shows:
    one query for the rows plus one for today's counters, whatever the page size."""
    at = at or timezone.now()
    utc_day = at.astimezone(ZoneInfo("UTC")).date()
    window = [utc_day - timedelta(days=1), utc_day, utc_day + timedelta(days=1)]  # covers every timezone
    return (
        Merchant.objects.filter(state__in=Merchant.VISIBLE_STATES)
        .select_related("city", "district", "category", "offer")
        .prefetch_related(
            Prefetch("days", queryset=MerchantDay.objects.filter(local_date__in=window), to_attr="recent_days")
        )
    )


def filter_open_now(queryset: QuerySet[Merchant], *, at: datetime) -> QuerySet[Merchant]:
    """Merchants open at ``at`` in their own city's timezone (one EXISTS per distinct timezone)."""
    zones = sorted(set(City.objects.values_list("timezone", flat=True)))
    if not zones:
        return queryset.none()
    clauses = []
    for zone in zones:
        minute = minute_of_week(at.astimezone(ZoneInfo(zone)))
        slot = OpeningSlot.objects.filter(merchant=OuterRef("pk"), start_minute__lte=minute, end_minute__gt=minute)
        clauses.append(Q(city__timezone=zone) & Exists(slot))
    return queryset.filter(reduce(or_, clauses))


KM_PER_DEGREE = 111.32
MAX_RADIUS_KM = 50.0


def bounding_box(*, lat: float, lng: float, radius_km: float) -> tuple[float, float, float, float]:
    dlat = radius_km / KM_PER_DEGREE
    dlng = radius_km / (KM_PER_DEGREE * max(0.01, math.cos(math.radians(lat))))
    return lat - dlat, lat + dlat, lng - dlng, lng + dlng


_T = Merchant._meta.db_table
_DISTANCE_SQL = (
    f"%s * ASIN(SQRT(POWER(SIN((RADIANS({_T}.lat) - %s) / 2), 2)"
    f" + %s * COS(RADIANS({_T}.lat)) * POWER(SIN((RADIANS({_T}.lng) - %s) / 2), 2)))"
)


def distance_expression(*, lat: float, lng: float) -> Any:
    """Great-circle distance in km from (lat, lng) to each merchant row (haversine).

    Plain SQL on purpose: the same functions exist on PostgreSQL and on SQLite (Django registers them),
    and the expression is compiled three times per page (select, where, order by), where an ORM
    expression tree costs more than the query itself.
    """
    p1 = math.radians(lat)
    params = (2 * EARTH_RADIUS_KM, p1, math.cos(p1), math.radians(lng))  # floats, bound as parameters
    return RawSQL(_DISTANCE_SQL, params, output_field=FloatField())  # noqa: S611 (fixed SQL, bound values)


def filter_near(queryset: QuerySet[Merchant], *, lat: float, lng: float, radius_km: float) -> QuerySet[Merchant]:
    """Merchants within ``radius_km`` of (lat, lng), annotated with ``distance_km``.

    The bounding box uses the (lat, lng) index; the exact distance is computed on the few rows inside it.
    """
    radius_km = min(max(radius_km, 0.1), MAX_RADIUS_KM)
    south, north, west, east = bounding_box(lat=lat, lng=lng, radius_km=radius_km)
    return (
        queryset.filter(lat__gte=south, lat__lte=north, lng__gte=west, lng__lte=east)
        .annotate(distance_km=distance_expression(lat=lat, lng=lng))
        .filter(distance_km__lte=radius_km)
    )


def visible_merchants_in_city(*, city_id: int) -> QuerySet[Merchant]:
    """Shops of a city that members can use today (probation or listed), with their names and place."""
    return Merchant.objects.filter(city_id=city_id, state__in=Merchant.VISIBLE_STATES).only(
        "pk", "public_id", "name_zh", "name_en", "lat", "lng", "city_id", "state"
    )


def catalogue_merchant(*, public_id: Any) -> Merchant | None:
    return catalogue().filter(public_id=public_id).first()


# --- Reads for admission rules (curation) --------------------------------------------------------------


def category_open(*, city: City, category: Any) -> bool:
    """Whether ``category`` is open for new merchants in ``city`` (an explicit opening row)."""
    from .models import CityCategory

    return CityCategory.objects.filter(city=city, category=category, is_open=True).exists()


def live_merchants_with_licence(*, food_licence: str) -> QuerySet[Merchant]:
    """Merchants not removed that hold this food licence."""
    if not food_licence:
        return Merchant.objects.none()
    return Merchant.objects.filter(food_licence__iexact=food_licence).exclude(state=Merchant.State.REMOVED)


def live_merchants_with_uscc(*, uscc: str) -> QuerySet[Merchant]:
    if not uscc:
        return Merchant.objects.none()
    return Merchant.objects.filter(uscc__iexact=uscc).exclude(state=Merchant.State.REMOVED)


def removed_since(*, uscc: str, food_licence: str, since: datetime) -> QuerySet[Merchant]:
    """Merchants with this credit code or licence removed at or after ``since``."""
    match = Q(uscc__iexact=uscc) if uscc else Q(pk__in=[])
    if food_licence:
        match |= Q(food_licence__iexact=food_licence)
    return Merchant.objects.filter(match, state=Merchant.State.REMOVED, removed_at__gte=since)


def pending_offer_changes_count() -> int:
    """Offer cuts waiting for a curator (the console's queue home)."""
    return OfferChange.objects.filter(state=OfferChange.State.PENDING).count()


def shop_photos(*, merchant: Merchant, shown_only: bool = True) -> QuerySet[MerchantPhoto]:
    """A shop's photos in upload order: the approved ones (the shop page), or all of them (the owner's console)."""
    photos = MerchantPhoto.objects.filter(merchant=merchant)
    return photos.filter(state=MerchantPhoto.State.APPROVED) if shown_only else photos


def photo_by_public_id(*, public_id: Any) -> MerchantPhoto | None:
    return MerchantPhoto.objects.select_related("merchant").filter(public_id=public_id).first()


def pending_photos_count() -> int:
    """Shop photos waiting for a curator (the console's queue home)."""
    return MerchantPhoto.objects.filter(state=MerchantPhoto.State.PENDING).count()
