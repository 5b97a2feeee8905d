"""Reads of the shops members ask for: demand and the ranked recruitment queue."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Case, Count, F, FloatField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.db import per_row
from core.models import User
from curation.models.wanted import Nomination, WantedShop

#: Recency weights of a member's request: the last month counts fully, then less and less. Demand is the sum
#: over distinct members (one request per member and shop), so 20 members asking this week outrank 30 who
#: asked two years ago.
RECENCY_WEIGHTS = ((timedelta(days=30), 1.0), (timedelta(days=90), 0.5), (timedelta(days=365), 0.25))
OLD_WEIGHT = 0.1


def _recency_weight(now: datetime, *, path: str = "nominations__asked_at") -> Case:
    whens = [When(Q(**{f"{path}__gte": now - age}), then=Value(weight)) for age, weight in RECENCY_WEIGHTS]
    return Case(*whens, default=Value(OLD_WEIGHT), output_field=FloatField())


def with_demand(queryset: QuerySet[WantedShop], *, now: datetime | None = None) -> QuerySet[WantedShop]:
    """Annotate ``members`` (distinct members asking) and ``demand`` (their requests weighted by recency)."""
    now = now or timezone.now()
    return queryset.annotate(members=Count("nominations", distinct=True), demand=Sum(_recency_weight(now), default=0.0))


def recruitment_queue(
    *, city_id: int | None = None, district_id: int | None = None, now: datetime | None = None
) -> QuerySet[WantedShop]:
    """Shops still asked for, most wanted first, optionally in one city or district (the curators' queue)."""
    shops = WantedShop.objects.filter(state__in=WantedShop.OPEN_STATES).select_related("city", "district")
    if city_id is not None:
        shops = shops.filter(city_id=city_id)
    if district_id is not None:
        shops = shops.filter(district_id=district_id)
    ranked = with_demand(shops, now=now)
    return ranked.order_by(F("demand").desc(), F("members").desc(), "created_at", "pk")


def nominations_of(*, member: User) -> QuerySet[Nomination]:
    """A member's requests, newest first, with their shop's state (and the listed merchant)."""
    return (
        Nomination.objects.filter(member=member)
        .select_related("shop", "shop__city", "shop__merchant")
        .order_by("-asked_at", "-pk")
    )


def demand_of(*, shop: WantedShop, now: datetime | None = None) -> tuple[int, float]:
    """(members, demand) of one shop."""
    row = Nomination.objects.filter(shop=shop).aggregate(
        members=Count("member", distinct=True), demand=Sum(_recency_weight(now or timezone.now(), path="asked_at"))
    )
    return row["members"], row["demand"] or 0.0


def invited_shop(*, public_id: str) -> WantedShop | None:
    """The shop a curator invited to apply (its link carries the public id); None for anything else."""
    try:
        return WantedShop.objects.filter(public_id=public_id, state=WantedShop.State.INVITED).first()
    except ValidationError:  # not a UUID
        return None


def open_shops_in(*, city_id: int) -> QuerySet[WantedShop]:
    return WantedShop.objects.filter(Q(city_id=city_id) & Q(state__in=WantedShop.OPEN_STATES)).order_by("pk")


#: How far back a request counts as a district's demand on the operations overview.
ASKING_WINDOW = timedelta(days=365)


def asking_in_district(*, now: datetime, district_ref: str = "pk") -> Coalesce:
    """An annotation: distinct members who asked, in the last year, for a shop still wanted (asked for or
    invited) in the outer row's district."""
    asked = Nomination.objects.filter(shop__state__in=WantedShop.OPEN_STATES, asked_at__gte=now - ASKING_WINDOW)
    return per_row(asked, key="shop__district_id", value=Count("member_id", distinct=True), outer=district_ref)


def wanted_in_district(*, district_ref: str = "pk") -> Coalesce:
    """An annotation: the shops still wanted (the recruitment queue) in the outer row's district."""
    wanted = WantedShop.objects.filter(state__in=WantedShop.OPEN_STATES)
    return per_row(wanted, key="district_id", value=Count("pk"), outer=district_ref)
