"""Shops members ask for: requests merge per shop, demand ranks the curators' queue, the invitation pre-fills
an application, and the members who asked are told when the shop is listed."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.errors import DomainError
from core.models import AuditEntry
from curation.intake import services as intake
from curation.models import Nomination, WantedShop
from curation.wanted import selectors, services
from curation.wanted.services import match_key
from tests.factories import CityFactory, DistrictFactory, MerchantFactory, UserFactory
from tests.factories.curation import ApplicationFactory

pytestmark = pytest.mark.django_db

#: People's Square, Shanghai, and points 110 m and 2.2 km away.
HERE = (31.2304, 121.4737)
NEARBY = (31.2314, 121.4737)
FAR = (31.2504, 121.4737)


def ask(member, name, at=HERE, **kwargs):
    city = kwargs.pop("city", None) or CityFactory()
    lat, lng = at if at else (None, None)
    return services.nomination_submit(member=member, city=city, name=name, lat=lat, lng=lng, **kwargs)


def codes(exc: DomainError) -> dict[str, str]:
    return {field: items[0]["code"] for field, items in exc.fields.items()}


def test_names_are_folded_for_matching():
    assert match_key("Lao Wang 老王面馆（徐汇店）") == "laowang老王面馆"
    assert match_key("老王面馆 (Xuhui)") == "老王面馆"


def test_requests_for_one_shop_merge_by_name_and_place():
    a, b, c, d = (UserFactory() for _ in range(4))
    first = ask(a, "老王面馆（徐汇店）")
    assert ask(b, "老王 面馆", at=NEARBY).shop == first.shop  # same shop, 110 m apart
    assert ask(c, "老王面馆", at=FAR).shop != first.shop  # another branch across town
    assert ask(d, "小杨生煎").shop != first.shop
    later = first.asked_at + timedelta(days=3)
    again = ask(a, "老王面馆", now=later)
    assert again.pk == first.pk and again.asked_at == later  # asking again refreshes, never doubles
    assert selectors.demand_of(shop=first.shop)[0] == 2


def test_requests_without_coordinates_merge_on_the_address():
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    first = ask(a, "阿娘面", at=None, address="思南路 36 号")
    assert ask(b, "阿娘面馆", at=None, address="思南路36号").shop == first.shop
    assert ask(c, "阿娘面", at=None, address="南京西路 1266 号").shop != first.shop


def test_a_later_request_fills_in_the_place_the_first_lacked():
    district = DistrictFactory()
    first = ask(UserFactory(), "蟹黄面", at=None, city=district.city)
    ask(UserFactory(), "蟹黄面", at=HERE, city=district.city, district=district, address="黄河路 1 号")
    first.shop.refresh_from_db()
    assert (first.shop.lat, first.shop.district, first.shop.address) == (HERE[0], district, "黄河路 1 号")


def test_a_shop_already_on_redcard_is_answered_as_such():
    shop = MerchantFactory(name_zh="小杨生煎", lat=HERE[0], lng=HERE[1])
    with pytest.raises(DomainError) as refused:
        ask(UserFactory(), "小杨生煎（黄河路店）", at=NEARBY, city=shop.city)
    assert refused.value.code == "wanted_already_listed" and "小杨生煎" in refused.value.detail
    assert not WantedShop.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"name": "  "}, "name", "required"),
        ({"name": "店" * 81}, "name", "too_long"),
        ({"name": "好店", "lat": 31.2, "lng": None}, "lat", "incomplete"),
        ({"name": "好店", "lat": 131.2, "lng": 121.4}, "lat", "out_of_range"),
    ],
)
def test_bad_requests_are_explained_and_nothing_is_saved(fields, field, code):
    with pytest.raises(DomainError) as refused:
        services.nomination_submit(member=UserFactory(), city=CityFactory(), **fields)
    assert codes(refused.value) == {field: code}
    assert not WantedShop.objects.exists() and not Nomination.objects.exists()


def test_a_district_of_another_city_or_an_inactive_city_is_refused():
    elsewhere = DistrictFactory(city=CityFactory(code="bj", name_zh="北京"))
    with pytest.raises(DomainError) as refused:
        ask(UserFactory(), "好店", city=CityFactory(), district=elsewhere)
    assert codes(refused.value) == {"district": "invalid"}
    with pytest.raises(DomainError) as closed:
        ask(UserFactory(), "好店", city=CityFactory(code="xa", name_zh="西安", is_active=False))
    assert codes(closed.value) == {"city": "invalid"}


def test_the_queue_ranks_recent_distinct_members_first_per_city_and_district():
    city = CityFactory()
    north, south = DistrictFactory(city=city, code="n"), DistrictFactory(city=city, code="s")
    long_ago = timezone.now() - timedelta(days=200)
    for _ in range(3):  # three members, long ago: 3 x 0.25
        ask(UserFactory(), "旧时光咖啡", city=city, district=north, now=long_ago)
    for _ in range(2):  # two members this week: 2 x 1
        ask(UserFactory(), "新开的面包房", at=FAR, city=city, district=south)
    queue = list(selectors.recruitment_queue(city_id=city.pk))
    assert [(s.name, s.members, s.demand) for s in queue] == [("新开的面包房", 2, 2.0), ("旧时光咖啡", 3, 0.75)]
    assert [s.name for s in selectors.recruitment_queue(city_id=city.pk, district_id=north.pk)] == ["旧时光咖啡"]


def test_the_invitation_prefills_the_application_and_the_listing_tells_who_asked(client):
    district = DistrictFactory()
    city = district.city
    askers = [UserFactory(), UserFactory()]
    for member in askers:
        ask(member, "巷口馄饨", city=city, district=district, address="巨鹿路 10 号")
    curator = UserFactory(is_staff=True)
    curator.groups.add(Group.objects.get(name="curator"))
    shop = WantedShop.objects.get()
    link = services.wanted_invite(shop=shop, actor=curator)
    assert shop.state == WantedShop.State.INVITED and f"invite={shop.public_id}" in link
    assert AuditEntry.objects.filter(action="curation.wanted_invited").count() == 1

    owner = UserFactory()
    client.force_login(owner)
    parts = urlsplit(link)
    page = client.get(f"{parts.path}?{parts.query}")
    assert page.context["form"].initial["name_zh"] == "巷口馄饨"

    app = ApplicationFactory(city=city, district=district, name_zh="巷口馄饨", lat=HERE[0], lng=HERE[1])
    app.address = "巨鹿路 10 号"
    app.save(update_fields=["address"])
    intake.application_submit(application=app, actor=app.owner)
    intake.application_assign(application=app, reviewer=curator, actor=curator)
    intake.visit_record(
        application=app, visitor=curator, visited_on=date(2026, 11, 20), score=5, notes="好", actor=curator
    )
    intake.application_approve(application=app, actor=curator, override_reason="演示")
    shop.refresh_from_db()
    assert shop.state == WantedShop.State.LISTED and shop.merchant == app.merchant
    for member in askers:
        notice = member.notifications.get(kind="curation.wanted_listed")
        assert "巷口馄饨" in notice.title and str(app.merchant.public_id) in notice.url
    page = Client()
    page.force_login(askers[0])
    assert "now on RedCard" in page.get(reverse("curation:wanted"), HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_a_member_asks_from_the_page_and_sees_the_request(client):
    city = CityFactory()
    client.force_login(UserFactory())
    response = client.post(reverse("curation:wanted"), {"name": "街角小馆", "city": city.pk, "address": "长乐路 5 号"})
    assert response.status_code == 302
    page = client.get(reverse("curation:wanted")).content.decode()
    assert "街角小馆" in page
    bad = client.post(reverse("curation:wanted"), {"name": " ", "city": city.pk})
    assert bad.status_code == 200 and Nomination.objects.count() == 1


def test_curators_see_the_ranked_queue_and_invite_from_it():
    city = CityFactory()
    ask(UserFactory(), "一家小店", city=city)
    curator = UserFactory(is_staff=True)
    curator.groups.add(Group.objects.get(name="curator"))
    console = Client()
    console.force_login(curator)
    page = console.get(reverse("admin:curation_wantedshop_changelist"))
    assert page.status_code == 200 and "一家小店" in page.content.decode()
    shop = WantedShop.objects.get()
    done = console.post(
        reverse("admin:curation_wantedshop_changelist"),
        {"action": "invite", "_selected_action": [shop.pk]},
        follow=True,
    )
    assert f"invite={shop.public_id}" in done.content.decode()
    shop.refresh_from_db()
    assert shop.state == WantedShop.State.INVITED


@pytest.mark.django_db(transaction=True)
def test_twenty_members_asking_at_once_make_one_shop_with_demand_twenty():
    assert connection.vendor == "postgresql"
    city = CityFactory()
    members = [UserFactory() for _ in range(20)]
    start = threading.Barrier(20)
    errors: list[BaseException] = []

    def one(member):
        try:
            start.wait()
            services.nomination_submit(member=member, city=city, name="人气烧烤", lat=HERE[0], lng=HERE[1])
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(m,)) for m in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    shop = WantedShop.objects.get()
    assert selectors.demand_of(shop=shop) == (20, 20.0)
