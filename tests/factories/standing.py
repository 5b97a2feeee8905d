"""Factories of merchant standing: redemptions as history, complaints in every state, owners, licences."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, time, timedelta

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from core.models import User
from curation.models import Complaint, MerchantLicence
from members.models import Subscription
from merchants.models import Merchant, MerchantStaff
from merchants.selectors import city_zone, local_date
from redemptions.models import Redemption, SurgeFlag

from .core import UserFactory
from .merchants import MerchantFactory, MerchantStaffFactory
from .redemptions import member_with_card

_codes = itertools.count(1)


def curator_user(**fields: object) -> User:
    person = UserFactory(is_staff=True, **fields)
    person.groups.add(Group.objects.get_or_create(name="curator")[0])
    return person


def owner_of(merchant: Merchant, **fields: object) -> User:
    return MerchantStaffFactory(merchant=merchant, user=UserFactory(**fields), role=MerchantStaff.Role.OWNER).user


def history(
    member: User,
    merchant: Merchant,
    *,
    on: date | None = None,
    bill_fen: int = 10000,
    rate_bp: int = 1200,
    status: str = Redemption.Status.CONFIRMED,
) -> Redemption:
    """A past redemption as the redemption path leaves it (history data for the rules and the pages).

    ``on`` is the shop's local day (today there by default); the visit is at noon that day, or now when
    today's noon is still to come, so it is never in the future and always on ``on`` in the shop's zone."""
    now = timezone.now()
    on = on or local_date(merchant=merchant, at=now)
    subscription = Subscription.objects.filter(user=member).order_by("-pk").first()
    if subscription is None:
        raise ValueError("the member needs a subscription: use member_with_card()")
    discount = bill_fen * rate_bp // 10000
    at = min(datetime.combine(on, time(12), tzinfo=city_zone(merchant.city)), now)
    return Redemption.objects.create(
        member=member,
        subscription=subscription,
        merchant=merchant,
        channel=Redemption.Channel.STAFF_SCAN,
        code_id=f"test.{next(_codes)}.{uuid.uuid4().hex[:8]}",
        bill_fen=bill_fen,
        discount_fen=discount,
        charge_fen=bill_fen - discount,
        rate_bp=rate_bp,
        local_date=on,
        member_birth_year=member.birth_year,
        confirmed_at=at,
        status=status,
        voided_at=at + timedelta(minutes=5) if status == Redemption.Status.VOIDED else None,
    )


def redemptions_for(merchant: Merchant, count: int, *, on: date, member: User | None = None) -> list[Redemption]:
    member = member or member_with_card()
    return [history(member, merchant, on=on) for _ in range(count)]


class ComplaintFactory(factory.django.DjangoModelFactory):
    """A complaint written straight to the table (for rule and queue tests; pages use the service)."""

    class Meta:
        model = Complaint

    member = factory.SubFactory(UserFactory)
    merchant = factory.SubFactory(MerchantFactory)
    category = Complaint.Category.SERVICE
    text = "店员态度很差"
    created_at = factory.LazyFunction(timezone.now)
    first_response_due = factory.LazyAttribute(lambda o: o.created_at + timedelta(hours=24))
    resolution_due = factory.LazyAttribute(lambda o: o.created_at + timedelta(hours=72))


def upheld(merchant: Merchant, *, at: datetime, category: str = Complaint.Category.SERVICE) -> Complaint:
    return ComplaintFactory(
        merchant=merchant,
        category=category,
        created_at=at,
        state=Complaint.State.RESOLVED,
        outcome=Complaint.Outcome.UPHELD,
        first_responded_at=at + timedelta(hours=1),
        resolved_at=at + timedelta(hours=2),
    )


def licence(merchant: Merchant, *, expires_on: date) -> MerchantLicence:
    return MerchantLicence.objects.create(merchant=merchant, number=merchant.food_licence, expires_on=expires_on)


def surge_flag(merchant: Merchant, *, at: datetime, cleared_after: timedelta | None = None) -> SurgeFlag:
    return SurgeFlag.objects.create(
        merchant=merchant,
        detected_at=at,
        hour_count=40,
        baseline=5.0,
        cleared_at=at + cleared_after if cleared_after is not None else None,
    )


# --- Images (bytes as a camera or a bad client would send them) ----------------------------------------

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
JPEG_TINY = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
