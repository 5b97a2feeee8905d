import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEntry
from merchants.models import MerchantDay, MerchantStaff
from merchants.selectors import city_zone, local_date
from tests.factories import CityFactory, MerchantFactory, MerchantStaffFactory, UserFactory


def local_zone(merchant):
    return city_zone(merchant.city)


pytestmark = pytest.mark.django_db


@pytest.fixture
def shop_a_owner(client):
    shop = MerchantFactory(name_zh="甲店")
    owner = MerchantStaffFactory(merchant=shop, role=MerchantStaff.Role.OWNER).user
    client.force_login(owner)
    return shop, owner


@pytest.mark.clock
def test_catalogue_page_lists_visible_shops_with_badge_and_filters(client):
    MerchantFactory(name_zh="可见小店")
    MerchantFactory(name_zh="被暂停店", state="suspended")
    page = client.get(reverse("merchants:catalogue")).content.decode()
    assert "可见小店" in page and "被暂停店" not in page and "redcard-badge" in page
    near = client.get(reverse("merchants:catalogue"), {"lat": "31.2304", "lng": "121.4737", "city": "shanghai"})
    assert near.status_code == 200 and 'class="distance">0.0 公里' in near.content.decode()
    bad = client.get(reverse("merchants:catalogue"), {"city": "nowhere"})
    assert bad.status_code == 200 and "可见小店" not in bad.content.decode()


@pytest.mark.clock
def test_merchant_page_shows_offer_and_full_today(client):
    shop = MerchantFactory(daily_capacity=5)
    MerchantDay.objects.create(
        merchant=shop, local_date=local_date(merchant=shop, at=timezone.now()), redemptions_count=5
    )
    page = client.get(reverse("merchants:merchant", args=[shop.public_id])).content.decode()
    assert "pill full" in page and "12" in page
    gone = MerchantFactory(state="removed")
    assert client.get(reverse("merchants:merchant", args=[gone.public_id])).status_code == 404


def test_staff_of_shop_a_gets_404_on_every_page_of_shop_b(client, shop_a_owner):
    shop_b = MerchantFactory(name_zh="乙店")
    owner_b = MerchantStaffFactory(merchant=shop_b, role=MerchantStaff.Role.OWNER)
    for name, method, data in [
        ("console_shop", "get", None),
        ("console_staff", "get", None),
        ("console_offer", "post", {"percent": "50"}),
        ("console_capacity", "post", {"daily_capacity": "1"}),
        ("console_phone", "post", {"phone": "021-6288 1234"}),
        ("console_pause", "post", {"paused": "1"}),
        ("console_offline", "post", {}),
        ("console_staff", "post", {"email": "spy@example.com", "role": "owner"}),
    ]:
        response = getattr(client, method)(reverse(f"merchants:{name}", args=[shop_b.public_id]), data)
        assert response.status_code == 404, name
        assert "乙店" not in response.content.decode()
    remove = reverse("merchants:console_staff_remove", args=[shop_b.public_id, owner_b.pk])
    assert client.post(remove).status_code == 404
    shop_b.refresh_from_db()
    assert (shop_b.daily_capacity, shop_b.paused_on, shop_b.offer.rate_bp, shop_b.offline_accept) == (
        50,
        None,
        1200,
        True,
    )
    assert list(MerchantStaff.objects.filter(merchant=shop_b).values_list("pk", flat=True)) == [owner_b.pk]
    console = client.get(reverse("merchants:console")).content.decode()
    assert "甲店" in console and "乙店" not in console


def test_owner_manages_offer_capacity_pause_and_staff(client, shop_a_owner):
    shop, _owner = shop_a_owner
    url = reverse("merchants:console_shop", args=[shop.public_id])
    assert client.get(url).status_code == 200
    client.post(reverse("merchants:console_offer", args=[shop.public_id]), {"percent": "15", "cap_yuan": ""})
    shop.offer.refresh_from_db()
    assert shop.offer.rate_bp == 1500
    client.post(reverse("merchants:console_offer", args=[shop.public_id]), {"percent": "10"})
    shop.offer.refresh_from_db()
    assert shop.offer.rate_bp == 1500  # lowering waits for review
    assert shop.offer_changes.get(state="pending").rate_bp == 1000
    client.post(reverse("merchants:console_offer", args=[shop.public_id]), {"percent": "5"})
    assert shop.offer_changes.count() == 2  # below 10% refused, nothing written
    client.post(reverse("merchants:console_capacity", args=[shop.public_id]), {"daily_capacity": "30"})
    client.post(reverse("merchants:console_pause", args=[shop.public_id]), {"paused": "1"})
    assert "断网时也接受会员码" in client.get(url).content.decode()
    client.post(reverse("merchants:console_offline", args=[shop.public_id]), {})  # the box unticked
    shop.refresh_from_db()
    assert shop.daily_capacity == 30 and shop.paused_on is not None and shop.offline_accept is False
    client.post(reverse("merchants:console_offline", args=[shop.public_id]), {"offline_accept": "on"})
    shop.refresh_from_db()
    assert shop.offline_accept is True
    staff_url = reverse("merchants:console_staff", args=[shop.public_id])
    response = client.post(staff_url, {"email": "barista@example.com", "role": "staff"})
    assert response.status_code == 302
    row = MerchantStaff.objects.get(merchant=shop, user__email="barista@example.com")
    client.post(reverse("merchants:console_staff_remove", args=[shop.public_id, row.pk]))
    assert not MerchantStaff.objects.filter(pk=row.pk).exists()


def test_plain_staff_sees_the_shop_but_cannot_invite(client):
    shop = MerchantFactory()
    staff = MerchantStaffFactory(merchant=shop).user
    client.force_login(staff)
    page = client.get(reverse("merchants:console_shop", args=[shop.public_id])).content.decode()
    assert "console_offer" not in page and reverse("merchants:console_offer", args=[shop.public_id]) not in page
    client.post(reverse("merchants:console_staff", args=[shop.public_id]), {"email": "x@example.com", "role": "owner"})
    assert not MerchantStaff.objects.filter(user__email="x@example.com").exists()


def test_the_console_links_to_the_stand_and_the_application_through_the_hooks(client, shop_a_owner):
    """The QR stand (redemptions) and the application (curation) are linked from the console by the slots
    those apps fill (core.links); the merchants app names neither."""
    shop, _owner = shop_a_owner
    page = client.get(reverse("merchants:console_shop", args=[shop.public_id])).content.decode()
    assert f'href="/r/scan/{shop.public_id}/stand/"' in page
    home = client.get(reverse("merchants:console")).content.decode()
    assert 'href="/curation/apply/"' in home
    public = client.get(reverse("merchants:merchant", args=[shop.public_id])).content.decode()
    assert f'href="/curation/standing/complaints/new/?merchant={shop.public_id}"' in public
    client.logout()
    anonymous = client.get(reverse("merchants:merchant", args=[shop.public_id])).content.decode()
    assert "/curation/standing/complaints/new/" not in anonymous


def test_console_needs_sign_in(client):
    shop = MerchantFactory()
    response = client.get(reverse("merchants:console_shop", args=[shop.public_id]))
    assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(UserFactory())
    assert client.get(reverse("merchants:console_shop", args=[shop.public_id])).status_code == 404


def test_catalogue_page_costs_the_same_queries_for_few_or_many_shops(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert (
                client.get(
                    reverse("merchants:catalogue"), {"city": "shanghai", "lat": "31.23", "lng": "121.47"}
                ).status_code
                == 200
            )
        return len(ctx.captured_queries)

    MerchantFactory()
    few = count()
    for i in range(30):
        MerchantFactory(lat=31.23 + i * 0.0004)
    assert count() == few


def test_promote_task_lists_merchants_past_probation():
    from datetime import timedelta

    from merchants.tasks import promote_due

    shop = MerchantFactory(state="probation", probation_until=timezone.now() - timedelta(minutes=1))
    assert promote_due.delay().get() == 1
    shop.refresh_from_db()
    assert shop.state == "listed"


@pytest.mark.clock
def test_shop_page_groups_the_hours_marks_today_and_links_map_and_phone(client):
    hours = {d: ["11:00-14:00", "17:00-22:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
    hours["sat"] = hours["sun"] = ["10:00-23:00"]
    shop = MerchantFactory(opening_hours=hours, phone="021-6288 1234", lat=31.2304, lng=121.4737)
    page = client.get(reverse("merchants:merchant", args=[shop.public_id]))
    rows = page.context["hours"]
    assert [(str(r["days"]), r["ranges"]) for r in rows] == [
        ("星期一至星期五", ("11:00-14:00", "17:00-22:00")),
        ("星期六至星期日", ("10:00-23:00",)),
    ]
    weekend = timezone.localtime(timezone.now(), local_zone(shop)).weekday() >= 5
    assert [r["today"] for r in rows] == [not weekend, weekend]  # today in Shanghai, not in UTC
    html = page.content.decode()
    assert 'href="tel:02162881234"' in html and "uri.amap.com/marker?position=121.473700%2C31.230400" in html
    assert 'href="geo:31.230400,121.473700' in html


def test_owner_sets_the_public_phone_and_bad_numbers_are_explained(client, shop_a_owner):
    shop, _owner = shop_a_owner
    url = reverse("merchants:console_phone", args=[shop.public_id])
    client.post(url, {"phone": " 021-6288  1234 "})
    shop.refresh_from_db()
    assert shop.phone == "021-6288 1234"
    page = client.post(url, {"phone": "call me<script>"}, follow=True).content.decode()
    shop.refresh_from_db()
    assert shop.phone == "021-6288 1234" and "请输入电话号码" in page
    assert AuditEntry.objects.filter(action="merchants.phone_set").count() == 1


def test_catalogue_districts_are_grouped_by_city_until_one_is_chosen(client):
    MerchantFactory(city=CityFactory(code="bj", name_zh="北京"))
    MerchantFactory(city=CityFactory(code="gz", name_zh="广州"))
    html = client.get(reverse("merchants:catalogue")).content.decode()
    assert '<optgroup label="北京">' in html and '<optgroup label="广州">' in html
    chosen = client.get(reverse("merchants:catalogue"), {"city": "bj"})
    assert {d.city.code for d in chosen.context["districts"]} == {"bj"}
    assert "<optgroup" not in chosen.content.decode()
