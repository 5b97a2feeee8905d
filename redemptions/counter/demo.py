"""Demo redemptions: three weeks of visits at the demo shops, one shop near capacity today, one surge.

Runs after the members and merchants demo data (``seed_demo`` follows INSTALLED_APPS). Past visits are
written through the same transaction as a live confirmation (limits, capacity, savings, audit), dated
in the past; today's surge is then found by the real surge detector.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from core.demo import DEMO_PASSWORD, demo_user
from core.errors import DomainError
from members.selectors import entitlement
from members.services import trial_start
from merchants.models import Merchant, MerchantStaff
from merchants.selectors import today_used

from ..models import Channel, Redemption
from . import codes, services

DINERS = 30
DAYS = 21


def _diners() -> list:
    people = []
    for n in range(1, DINERS + 1):
        user = demo_user(f"diner{n:02d}@redcard.local", display_name=f"食客{n:02d}")
        if not entitlement(user=user).entitled:
            trial_start(user=user, actor="system:demo")
        people.append(user)
    return people


def _visit(*, member, merchant, staff, at, bill_fen: int) -> Redemption | None:
    try:
        return services.redemption_write(
            member=member,
            merchant=merchant,
            counter=services.Counter(staff=staff),
            channel=Channel.STAFF_SCAN,
            code_id=codes.code_id(member_public_id=member.public_id, window=codes.window_at(at)),
            bill_fen=bill_fen,
            at=at,
            entitled_at=timezone.now(),
        )
    except DomainError:  # no card, limit or capacity reached: a real counter would have said no too
        return None


def seed(out: list[tuple[str, str, str]]) -> None:
    shops = list(
        Merchant.objects.filter(state__in=Merchant.VISIBLE_STATES, city__code="shanghai")
        .select_related("city", "offer")
        .order_by("pk")[:10]
    )
    staff = {s.merchant_id: s.user for s in MerchantStaff.objects.filter(merchant__in=shops).select_related("user")}
    shops = [m for m in shops if m.pk in staff and hasattr(m, "offer")]
    if len(shops) < 3 or Redemption.objects.exists():
        return
    rng = random.Random(5)
    diners = _diners()
    now = timezone.now()
    regular = demo_user("member@redcard.local")
    people = [regular, *diners]

    # Three weeks of ordinary visits (a few a day per shop, lunch and dinner hours).
    for merchant in shops:
        for day in range(DAYS, 0, -1):
            for person in rng.sample(people, rng.randint(0, 4)):
                at = (now - timedelta(days=day)).replace(
                    hour=rng.choice([3, 4, 5, 10, 11, 12]), minute=rng.randint(0, 59)
                )
                _visit(
                    member=person,
                    merchant=merchant,
                    staff=staff[merchant.pk],
                    at=at,
                    bill_fen=rng.randint(25, 260) * 100,
                )

    # One shop near capacity today (two places left), its visits spread over the past hours.
    open_today = [m for m in shops[1:] if today_used(merchant=m, at=now) == 0] or shops[1:]
    near = min(open_today, key=lambda m: m.daily_capacity)
    wanted = min(near.daily_capacity - 2, len(people))
    for index, person in enumerate(people[:wanted]):
        at = now - timedelta(minutes=75 + index * 9)
        _visit(member=person, merchant=near, staff=staff[near.pk], at=at, bill_fen=rng.randint(30, 150) * 100)

    # One surge: the first shop suddenly gets far more visitors in the last hour than usual.
    surging = shops[0]
    for index, person in enumerate(diners[: services.SURGE_MINIMUM + 5]):
        at = now - timedelta(minutes=2 + index * 2)
        _visit(member=person, merchant=surging, staff=staff[surging.pk], at=at, bill_fen=rng.randint(30, 120) * 100)
    services.surge_detect(now=now)

    out.append(("member: show /r/card/ on one screen", regular.email, DEMO_PASSWORD))
    out.append((f"staff: scan it at /r/scan/ ({surging.name_zh})", staff[surging.pk].email, DEMO_PASSWORD))
