from __future__ import annotations

import factory

from merchants.models import Category, City, District


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
