from __future__ import annotations

import factory

from merchants.models import Category, City, CityCategory, District, Merchant, MerchantStaff, Offer, OpeningSlot
from merchants.validators import WEEKDAYS, uscc_check_char, week_slots

from .core import UserFactory


class CityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = City
        django_get_or_create = ("code",)

    code = "shanghai"
    name_zh = "上海"
    name_en = "Shanghai"
    seat_quota = 800
    center_lat = "31.230416"
    center_lng = "121.473701"
    timezone = "Asia/Shanghai"


class DistrictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = District
        django_get_or_create = ("city", "code")

    city = factory.SubFactory(CityFactory)
    code = "jingan"
    name_zh = "静安区"
    name_en = "Jing'an"


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("code",)

    code = "cafe"
    name_zh = "咖啡"
    name_en = "Café"
    is_food = True
    spend_min_fen = 2500
    spend_max_fen = 8000
    price_tier = 2


class CityCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CityCategory
        django_get_or_create = ("city", "category")

    city = factory.SubFactory(CityFactory)
    category = factory.SubFactory(CategoryFactory)
    is_open = True


def valid_uscc(n: int) -> str:
    """A well-formed credit code (check character per GB 32100-2015) numbered ``n``."""
    body = f"91310000{n:09d}"
    return body + uscc_check_char(body)


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant
        skip_postgeneration_save = True

    city = factory.SubFactory(CityFactory)
    district = factory.SubFactory(DistrictFactory, city=factory.SelfAttribute("..city"))
    category = factory.SubFactory(CategoryFactory)
    legal_name = factory.Sequence(lambda n: f"上海测试餐饮有限公司{n}")
    name_zh = factory.Sequence(lambda n: f"测试小店{n}")
    name_en = factory.Sequence(lambda n: f"Test Shop {n}")
    uscc = factory.Sequence(valid_uscc)
    food_licence = factory.Sequence(lambda n: f"JY1310{n:010d}")
    address = "南京西路 1 号"
    lat = 31.2304
    lng = 121.4737
    average_spend_fen = 5000
    external_rating = "4.7"
    opening_hours = factory.LazyFunction(lambda: {d: ["00:00-24:00"] for d in WEEKDAYS})
    state = Merchant.State.LISTED
    daily_capacity = 50

    @factory.post_generation
    def offer(obj: Merchant, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            Offer.objects.get_or_create(merchant=obj, defaults={"rate_bp": kwargs.get("rate_bp", 1200)})
            OpeningSlot.objects.bulk_create(
                OpeningSlot(merchant=obj, start_minute=a, end_minute=b) for a, b in week_slots(obj.opening_hours)
            )


class MerchantStaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MerchantStaff

    merchant = factory.SubFactory(MerchantFactory)
    user = factory.SubFactory(UserFactory)
    role = MerchantStaff.Role.STAFF
