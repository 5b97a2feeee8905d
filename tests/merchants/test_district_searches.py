"""Catalogue searches counted per district and day (the operations overview's coverage gaps): a signed-in
person's first page of a district search counts once; paging, robots and bad codes write nothing; a count
only, never who searched; the city's day, also after Shanghai's midnight; the day's first searches at once."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from merchants import services
from merchants.models import DistrictSearchDay
from tests.factories import CityFactory, DistrictFactory, MerchantFactory, UserFactory
from tests.threads import together

pytestmark = pytest.mark.django_db


def searches() -> dict[tuple[str, str], int]:
    return {
        (row.district.code, row.day.isoformat()): row.searches
        for row in DistrictSearchDay.objects.select_related("district")
    }


def test_a_signed_in_persons_district_search_counts_once_per_search_and_never_who():
    district = DistrictFactory(code="xuhui")
    MerchantFactory(city=district.city, district=district)
    person = Client()
    person.force_login(UserFactory())
    catalogue = reverse("merchants:catalogue")
    for _ in range(3):
        assert person.get(catalogue, {"city": "shanghai", "district": "xuhui"}).status_code == 200
    person.get(catalogue, {"city": "shanghai", "district": "xuhui", "page": "2"})  # paging the same search
    person.get(catalogue, {"city": "shanghai"})  # no district asked for
    person.get(catalogue, {"city": "shanghai", "district": "no-such-district"})
    Client().get(catalogue, {"city": "shanghai", "district": "xuhui"})  # not signed in (robots included)
    today = timezone.now().astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert searches() == {("xuhui", today): 3}
    assert [f.name for f in DistrictSearchDay._meta.fields] == ["id", "district", "day", "searches"]  # no person


def test_the_catalogue_api_counts_a_persons_first_page_only():
    district = DistrictFactory(code="jingan")
    for _ in range(3):
        MerchantFactory(city=district.city, district=district)
    api = APIClient()
    api.force_authenticate(UserFactory())
    first = api.get(reverse("api-catalogue"), {"district": "jingan", "page_size": 1})
    assert first.status_code == 200, first.content
    nxt = first.json()["next"]
    assert nxt and api.get(nxt).status_code == 200  # the next page of the same search: not counted again
    assert api.get(reverse("api-catalogue"), {"district": "jingan", "lat": "999"}).status_code == 400  # refused
    APIClient().get(reverse("api-catalogue"), {"district": "jingan"})  # anonymous
    assert list(searches().values()) == [1]


@pytest.mark.parametrize(
    ("instant", "local_day"),
    [
        (datetime(2026, 12, 3, 15, 59, 59, tzinfo=UTC), "2026-12-03"),
        (datetime(2026, 12, 3, 16, 0, 1, tzinfo=UTC), "2026-12-04"),  # midnight in Shanghai
    ],
)
def test_a_search_counts_on_the_citys_day(instant, local_day):
    DistrictFactory(code="huangpu")
    with time_machine.travel(instant, tick=False):
        assert services.catalogue_search_count(district_code="huangpu", city_code="shanghai") == 1
        assert services.catalogue_search_count(district_code="huangpu") == 1
    assert searches() == {("huangpu", local_day): 2}


def test_a_district_code_two_cities_share_counts_in_the_city_asked_for():
    shanghai = DistrictFactory(code="gulou")
    nanjing = DistrictFactory(code="gulou", city=CityFactory(code="nanjing", name_zh="南京", name_en="Nanjing"))
    assert services.catalogue_search_count(district_code="gulou", city_code="nanjing") == 1
    assert DistrictSearchDay.objects.get().district == nanjing
    assert services.catalogue_search_count(district_code="gulou") == 2  # no city: the catalogue shows both
    assert {row.district_id: row.searches for row in DistrictSearchDay.objects.all()} == {
        nanjing.pk: 2,
        shanghai.pk: 1,
    }
    assert services.catalogue_search_count(district_code="gulou", city_code="beijing") == 0


@pytest.mark.django_db(transaction=True)
def test_the_days_first_searches_at_once_make_one_row_with_every_search():
    district = DistrictFactory(code="putuo")
    outcomes = together([lambda: services.catalogue_search_count(district_code="putuo")] * 8)
    assert outcomes == [1] * 8
    row = DistrictSearchDay.objects.get()
    assert (row.district_id, row.searches) == (district.pk, 8)
    assert row.day == timezone.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
