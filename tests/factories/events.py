"""Member events factories: a published event in Shanghai, registration open to members now."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from members import services as member_services
from members.models import Event

from .core import UserFactory
from .members import TrialPlanFactory
from .merchants import CityFactory


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    title = factory.Sequence(lambda n: f"会员品鉴会 {n}")
    description = "手冲咖啡品鉴，限会员优先报名。"
    city = factory.SubFactory(CityFactory)
    address = "上海市静安区南京西路 1 号"
    lat = 31.2304
    lng = 121.4737
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=3))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=2))
    members_open_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    public_open_at = factory.LazyAttribute(lambda o: min(o.members_open_at + timedelta(hours=48), o.starts_at))
    capacity = 10
    state = Event.State.PUBLISHED


def member(**kwargs):
    """A person with a card in force (a free trial: entitled like a paid card, and quick)."""
    user = UserFactory(**kwargs)
    TrialPlanFactory()
    member_services.trial_start(user=user, plan_code="trial")
    return user
