from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from merchants.models import Merchant, MerchantDay, MerchantStaff
from merchants.selectors import catalogue, filter_open_now, local_date
from merchants.validators import WEEKDAYS
from tests.factories import CategoryFactory, CityFactory, DistrictFactory, MerchantFactory, MerchantStaffFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/merchants/"


def test_only_probation_and_listed_merchants_are_listed(api_client):
    shown = {MerchantFactory(state=s).public_id for s in ("probation", "listed")}
    for state in ("warned", "suspended", "removed"):
        MerchantFactory(state=state)
    response = api_client.get(URL)
    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == {str(x) for x in shown}


def test_filters_by_city_district_category_and_price_tier(api_client):
    shanghai = CityFactory()
    hangzhou = CityFactory(code="hangzhou", name_zh="杭州", name_en="Hangzhou", center_lat="30.27", center_lng="120.15")
    xuhui = DistrictFactory(city=shanghai, code="xuhui", name_zh="徐汇区", name_en="Xuhui")
    tea = CategoryFactory(code="tea", price_tier=1, spend_min_fen=1000, spend_max_fen=4000)
    fine = CategoryFactory(code="fine-dining", price_tier=4, spend_min_fen=30000, spend_max_fen=150000)
    a = MerchantFactory(city=shanghai, district=xuhui, category=tea)
    b = MerchantFactory(city=shanghai, category=fine)
    c = MerchantFactory(
        city=hangzhou, district=DistrictFactory(city=hangzhou, code="xihu"), category=tea, lat=30.25, lng=120.14
    )

    def ids(**params):
        return {row["id"] for row in api_client.get(URL, params).json()["results"]}

    assert ids(city="shanghai") == {str(a.public_id), str(b.public_id)}
    assert ids(city="shanghai", district="xuhui") == {str(a.public_id)}
    assert ids(category="tea") == {str(a.public_id), str(c.public_id)}
    assert ids(price_tier=4) == {str(b.public_id)}
    assert ids(city="atlantis") == set()
    bad = api_client.get(URL, {"price_tier": 9})
    assert bad.status_code == 400 and bad.json()["code"] == "validation_failed"
    far = api_client.get(URL, {"lat": 95, "lng": 0})
    assert far.status_code == 400 and "lat" in far.json()["fields"]


def test_near_me_orders_by_distance_shows_it_and_drops_far_shops(api_client):
    near = MerchantFactory(lat=31.2310, lng=121.4740)
    middle = MerchantFactory(lat=31.2400, lng=121.4800)
    MerchantFactory(lat=31.4000, lng=121.7000)  # ~28 km away
    response = api_client.get(URL, {"lat": 31.2304, "lng": 121.4737, "radius_km": 5})
    rows = response.json()["results"]
    assert [r["id"] for r in rows] == [str(near.public_id), str(middle.public_id)]
    assert 0 < rows[0]["distance_km"] < 0.2 < rows[1]["distance_km"] < 2
    wide = api_client.get(URL, {"lat": 31.2304, "lng": 121.4737, "radius_km": 50}).json()["results"]
    assert len(wide) == 3 and wide[2]["distance_km"] > 20


def test_near_me_paginates_by_cursor_in_distance_order(api_client):
    made = [MerchantFactory(lat=31.2304 + i * 0.001, lng=121.4737) for i in range(7)]
    seen, url, params = [], URL, {"lat": 31.2304, "lng": 121.4737, "page_size": 3}
    while url:
        body = api_client.get(url, params).json()
        seen += [r["id"] for r in body["results"]]
        url, params = body["next"], None
    assert seen == [str(m.public_id) for m in made]


@pytest.mark.clock
def test_open_now_filter_via_the_api(api_client):
    today = timezone.now().astimezone(ZoneInfo("Asia/Shanghai")).weekday()
    other_day = WEEKDAYS[(today + 3) % 7]
    always = MerchantFactory()  # open 00:00-24:00 every day
    MerchantFactory(opening_hours={other_day: ["00:00-24:00"]})
    rows = api_client.get(URL, {"open_now": "true"}).json()["results"]
    assert [r["id"] for r in rows] == [str(always.public_id)]
    assert rows[0]["open_now"] is True
    assert len(api_client.get(URL).json()["results"]) == 2


def test_open_now_uses_each_city_timezone_and_overnight_hours():
    shanghai = CityFactory()
    london = CityFactory(
        code="london", name_en="London", timezone="Europe/London", center_lat="51.5", center_lng="-0.12"
    )
    late = MerchantFactory(city=shanghai, opening_hours={"sat": ["18:00-02:00"]})
    uk = MerchantFactory(
        city=london, district=DistrictFactory(city=london, code="soho"), opening_hours={"sat": ["16:00-20:00"]}
    )
    at = datetime(2026, 11, 28, 17, 30, tzinfo=UTC)  # Sun 01:30 in Shanghai, Sat 17:30 in London
    assert set(filter_open_now(catalogue(at=at), at=at)) == {late, uk}
    at = datetime(2026, 11, 28, 19, 30, tzinfo=UTC)  # Sun 03:30 Shanghai, Sat 19:30 London
    assert set(filter_open_now(catalogue(at=at), at=at)) == {uk}


@pytest.mark.clock
def test_capacity_status_busy_full_and_paused(api_client):
    now = timezone.now()
    busy = MerchantFactory(daily_capacity=10)
    full = MerchantFactory(daily_capacity=10)
    paused = MerchantFactory(daily_capacity=10)
    today = local_date(merchant=busy, at=now)
    MerchantDay.objects.create(merchant=busy, local_date=today, redemptions_count=8)
    MerchantDay.objects.create(merchant=full, local_date=today, redemptions_count=10)
    MerchantDay.objects.create(merchant=full, local_date=date(2020, 1, 1), redemptions_count=1)
    Merchant.objects.filter(pk=paused.pk).update(paused_on=today)
    rows = {r["id"]: r["capacity"]["status"] for r in api_client.get(URL).json()["results"]}
    assert rows == {str(busy.public_id): "busy", str(full.public_id): "full", str(paused.public_id): "paused"}
    detail = api_client.get(f"{URL}{full.public_id}/").json()
    assert detail["capacity"] == {"status": "full", "used": 10, "capacity": 10}
    assert detail["redcard"] is True and detail["offer"]["percent_off"] == "12"


def test_removed_merchant_detail_is_not_found(api_client):
    gone = MerchantFactory(state="removed")
    response = api_client.get(f"{URL}{gone.public_id}/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.parametrize("page_size", [5, 50])
def test_catalogue_list_costs_a_fixed_number_of_queries(api_client, django_assert_num_queries, page_size):
    for i in range(60):
        m = MerchantFactory(lat=31.2304 + i * 0.0005, lng=121.4737)
        MerchantDay.objects.create(
            merchant=m, local_date=local_date(merchant=m, at=timezone.now()), redemptions_count=1
        )
    params = {"city": "shanghai", "category": "cafe", "lat": 31.2304, "lng": 121.4737, "page_size": page_size}
    # the page (1) and today's counters (1)
    with django_assert_num_queries(2):
        response = api_client.get(URL, params)
    assert len(response.json()["results"]) == page_size
    with django_assert_num_queries(2):
        response = api_client.get(URL, {"page_size": page_size})
    assert len(response.json()["results"]) == page_size


def test_cities_and_categories_are_public(api_client):
    DistrictFactory()
    CategoryFactory()
    assert api_client.get("/api/v1/cities/").json()[0]["districts"][0]["code"] == "jingan"
    assert api_client.get("/api/v1/categories/").json()[0]["code"] == "cafe"


def test_console_api_staff_of_shop_a_cannot_touch_shop_b(api_client):
    shop_a, shop_b = MerchantFactory(), MerchantFactory()
    owner_a = MerchantStaffFactory(merchant=shop_a, role=MerchantStaff.Role.OWNER).user
    owner_b_row = MerchantStaffFactory(merchant=shop_b, role=MerchantStaff.Role.OWNER)
    api_client.force_login(owner_a)
    base_b = f"/api/v1/console/merchants/{shop_b.public_id}/"
    for method, path, body in [
        ("post", "offer/", {"rate_bp": 2000}),
        ("post", "capacity/", {"daily_capacity": 1}),
        ("post", "pause/", {"paused": True}),
        ("get", "staff/", None),
        ("post", "staff/", {"email": "spy@example.com", "role": "owner"}),
        ("delete", f"staff/{owner_b_row.pk}/", None),
    ]:
        response = getattr(api_client, method)(base_b + path, body, format="json")
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == "not_found"
    shop_b.refresh_from_db()
    assert shop_b.daily_capacity == 50 and shop_b.paused_on is None and shop_b.offer.rate_bp == 1200
    assert MerchantStaff.objects.filter(merchant=shop_b).count() == 1
    # and shop A's own console works
    ok = api_client.post(f"/api/v1/console/merchants/{shop_a.public_id}/offer/", {"rate_bp": 2000}, format="json")
    assert ok.status_code == 200 and ok.json()["state"] == "applied"


def test_console_api_plain_staff_cannot_change_the_offer(api_client):
    shop = MerchantFactory()
    staff = MerchantStaffFactory(merchant=shop).user
    api_client.force_login(staff)
    response = api_client.post(f"/api/v1/console/merchants/{shop.public_id}/offer/", {"rate_bp": 2000}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "staff_not_owner"
    response = api_client.post(f"/api/v1/console/merchants/{shop.public_id}/pause/", {"paused": True}, format="json")
    assert response.status_code == 200
