"""Factories of the redemption path: a member with a working card, a shop with staff, a code."""

from __future__ import annotations

from datetime import datetime

from core.models import User
from members.services import seed_default_plans, trial_start
from merchants.models import Merchant, MerchantStaff
from redemptions.counter import codes
from redemptions.counter.services import member_code

from .core import UserFactory
from .merchants import MerchantFactory, MerchantStaffFactory


def member_with_card(**user_fields: object) -> User:
    """A member whose free trial card is running (through the members service, as a member gets one)."""
    seed_default_plans()
    member = UserFactory(**user_fields)
    trial_start(user=member)
    return member


def shop(**merchant_fields: object) -> Merchant:
    """A listed shop (12% off by default) that may redeem."""
    return MerchantFactory(**merchant_fields)


def staff_of(merchant: Merchant, **user_fields: object) -> User:
    return MerchantStaffFactory(merchant=merchant, user=UserFactory(**user_fields), role=MerchantStaff.Role.STAFF).user


def code_of(member: User, *, at: datetime | None = None, ahead: int = 0) -> codes.MemberCode:
    return member_code(member=member, at=at, ahead=ahead)
