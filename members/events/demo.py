"""Demo member events (run by ``seed_demo`` after every app's own demo data, since they take place
at demo shops): one tonight at a shop with staff logins (check-in at the door works at once), one of
the programme whose member window is open and whose public window counts down, one whose member
window opens tomorrow. Registrations fill the first one and its waitlist. Idempotent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from core.demo import demo_user
from merchants.models import City, Merchant, MerchantStaff

from ..models import Event, Subscription
from ..services.subscriptions import trial_start
from . import services


def _event(title: str, **fields: object) -> Event | None:
    if Event.objects.filter(title=title).exists():
        return None
    event = Event.objects.create(title=title, state=Event.State.IN_REVIEW, **fields)
    return services.event_review(event=event, approve=True, actor="system:demo")


def _with_card(email: str, name: str) -> Any:
    user = demo_user(email, display_name=name)
    if not Subscription.objects.filter(user=user).exists():
        trial_start(user=user)
    return user


def seed(out: list[tuple[str, str, str]]) -> None:
    shop = (
        Merchant.objects.filter(state__in=Merchant.VISIBLE_STATES, staff__role=MerchantStaff.Role.STAFF)
        .select_related("city")
        .order_by("pk")
        .first()
    )
    city = shop.city if shop else City.objects.order_by("pk").first()
    if city is None:
        return
    now = timezone.now().replace(second=0, microsecond=0)
    at_shop: dict[str, object] = (
        {"venue": shop, "organiser": shop, "city": city, "address": shop.address, "lat": shop.lat, "lng": shop.lng}
        if shop is not None
        else {}
    )
    if shop is not None:
        tonight = _event(
            "会员专场 · 手冲咖啡品鉴",
            description="店长带您品鉴三款当季豆子。会员优先报名，可带一位同伴。",
            **at_shop,
            starts_at=now + timedelta(hours=2),
            ends_at=now + timedelta(hours=4),
            capacity=6,
            max_guests=1,
            members_open_at=now - timedelta(days=3),
            public_open_at=now - timedelta(days=1),
            cancel_cutoff_hours=1,
            offer_hours=1,
        )
        if tonight is not None:
            people = [
                demo_user("member@redcard.local", display_name="会员 Wang"),
                *[_with_card(f"event{n}@redcard.local", f"活动会员 {n}") for n in range(1, 8)],
            ]
            for index, person in enumerate(people):
                services.registration_create(event=tonight, user=person, guests=1 if index == 1 else 0)
    _event(
        "小红卡城市漫步 · 静安老洋房",
        description="小红卡官方活动：跟着建筑师走一条老洋房线路，终点在一家会员店喝咖啡。",
        city=city,
        address="静安寺地铁站 1 号口集合",
        lat=float(city.center_lat),
        lng=float(city.center_lng),
        starts_at=now + timedelta(days=5),
        ends_at=now + timedelta(days=5, hours=3),
        capacity=30,
        members_open_at=now - timedelta(hours=6),
        public_open_at=now + timedelta(hours=42),
    )
    if shop is not None:
        _event(
            "周末拉花课",
            description="两小时学会爱心和郁金香拉花，含两杯饮品。",
            **at_shop,
            starts_at=now + timedelta(days=9),
            ends_at=now + timedelta(days=9, hours=2),
            capacity=12,
            price_fen=0,
            members_open_at=now + timedelta(hours=20),
            public_open_at=now + timedelta(hours=68),
        )
