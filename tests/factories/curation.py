from __future__ import annotations

import factory

from curation.models import Application
from merchants.validators import WEEKDAYS

from .core import UserFactory
from .merchants import CategoryFactory, CityFactory, DistrictFactory, valid_uscc


class ApplicationFactory(factory.django.DjangoModelFactory):
    """A complete draft that passes every admission rule (open the category in the city first)."""

    class Meta:
        model = Application

    owner = factory.SubFactory(UserFactory)
    state = Application.State.DRAFT
    legal_name = factory.Sequence(lambda n: f"上海申请餐饮有限公司{n}")
    name_zh = factory.Sequence(lambda n: f"申请小店{n}")
    name_en = factory.Sequence(lambda n: f"Applicant {n}")
    uscc = factory.Sequence(lambda n: valid_uscc(500000 + n))
    food_licence = factory.Sequence(lambda n: f"JY2310{500000 + n:010d}")
    category = factory.SubFactory(CategoryFactory)
    city = factory.SubFactory(CityFactory)
    district = factory.SubFactory(DistrictFactory, city=factory.SelfAttribute("..city"))
    address = "愚园路 100 号"
    lat = 31.2200
    lng = 121.4400
    average_spend_fen = 5000
    external_rating = "4.6"
    opening_hours = factory.LazyFunction(lambda: {d: ["10:00-22:00"] for d in WEEKDAYS})
    dine_in = True
    offer_rate_bp = 1200
    daily_capacity = 40
    contact_name = "王老板"
    contact_phone = "13800138000"
    contact_email = "boss@example.com"
    links = "https://example.com/notes/1"
