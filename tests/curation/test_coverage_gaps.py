"""Coverage gaps on the operations overview: per district, the members who live there, who ask for shops there
and who search there, against the shops listed there; ranked biggest gap first, in one query, on the page
with the numbers behind it and a link to the district's recruitment queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from curation.models import WantedShop
from curation.ops.selectors import coverage_gaps
from curation.wanted import services as wanted
from merchants.models import DistrictSearchDay, Merchant
from redemptions.attribution.services import home_districts_refresh
from redemptions.models import MemberHomeDistrict
from tests.factories import DistrictFactory, MerchantFactory, UserFactory
from tests.factories.redemptions import member_with_card
from tests.factories.standing import history

pytestmark = pytest.mark.django_db


def staff_in(group: str) -> Client:
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def live_in(shop: Merchant, n: int) -> list:
    """``n`` members whose visits are mostly at ``shop`` (their home district becomes its district)."""
    members = [member_with_card() for _ in range(n)]
    for member in members:
        history(member, shop, on=timezone.localdate() - timedelta(days=3))
    return members


def ask(district, name, *, now=None, member=None):
    return wanted.nomination_submit(
        member=member or UserFactory(), city=district.city, district=district, name=name, now=now
    )


@pytest.fixture
def city_with_gaps(curator):
    """Xuhui lost its only shop (removed), where three members live, two ask for a noodle shop and people
    searched four times; Pudong has one shop, a member asking and two searches this month; Jing'an has three
    shops and four members living there; Minhang has two shops and no demand."""
    xuhui = DistrictFactory(code="xuhui", name_zh="徐汇区", name_en="Xuhui")
    jingan = DistrictFactory(code="jingan")
    pudong = DistrictFactory(code="pudong", name_zh="浦东新区", name_en="Pudong")
    minhang = DistrictFactory(code="minhang", name_zh="闵行区", name_en="Minhang")
    gone = MerchantFactory(city=xuhui.city, district=xuhui)
    jingan_shops = [MerchantFactory(city=jingan.city, district=jingan) for _ in range(3)]
    MerchantFactory(city=pudong.city, district=pudong)
    MerchantFactory(city=pudong.city, district=pudong, state=Merchant.State.SUSPENDED)  # not in the catalogue
    for _ in range(2):
        MerchantFactory(city=minhang.city, district=minhang)
    live_in(gone, 3)
    live_in(jingan_shops[0], 4)
    Merchant.objects.filter(pk=gone.pk).update(state=Merchant.State.REMOVED)
    home_districts_refresh()
    # A member who has not redeemed for over a year keeps an old home-district row: not counted.
    stale = UserFactory()
    MemberHomeDistrict.objects.create(member=stale, district=pudong, computed_at=timezone.now() - timedelta(days=10))
    noodles = ask(xuhui, "老王面馆")
    ask(xuhui, "老王面馆", member=noodles.member)  # asking again is still one member
    ask(xuhui, "老王 面馆")
    ask(pudong, "小杨生煎")
    ask(pudong, "阿娘面", now=timezone.now() - timedelta(days=400))  # over a year ago
    declined = ask(pudong, "蟹黄面").shop
    wanted.wanted_decline(shop=declined, actor=curator, reason="closed for good")
    searcher = Client()
    searcher.force_login(UserFactory())
    for _ in range(4):
        searcher.get(reverse("merchants:catalogue"), {"city": "shanghai", "district": "xuhui"})
    for _ in range(2):
        searcher.get(reverse("merchants:catalogue"), {"city": "shanghai", "district": "pudong"})
    DistrictSearchDay.objects.create(  # searches of six weeks ago are past the window
        district=pudong, day=timezone.localdate() - timedelta(days=42), searches=50
    )
    return {"xuhui": xuhui, "jingan": jingan, "pudong": pudong, "minhang": minhang, "noodles": noodles.shop}


def test_gaps_rank_demand_per_listed_shop_with_the_numbers_behind_it(city_with_gaps, django_assert_num_queries):
    with django_assert_num_queries(1):
        gaps = coverage_gaps()
    rows = [(g.district_id, g.listed, g.residents, g.asking, g.searches, g.wanted) for g in gaps]
    d = city_with_gaps
    assert rows == [
        (d["xuhui"].pk, 0, 3, 2, 4, 1),  # demand 9 for no shop: 9 per shop
        (d["pudong"].pk, 1, 0, 1, 2, 2),  # demand 3 for one shop: 1.5 (the old request still waits in the queue)
        (d["jingan"].pk, 3, 4, 0, 0, 0),  # demand 4 for three shops: 1.0
    ]  # Minhang: shops but no demand, not listed
    assert [(g.demand, g.per_shop) for g in gaps] == [(9, 9.0), (3, 1.5), (4, 1.0)]


def test_the_overview_page_shows_the_gaps_linked_to_each_districts_recruitment_queue(city_with_gaps, curator):
    html = staff_in("operator").get("/admin/curation/opsdailytotal/").content.decode()
    table = html[html.index('id="coverage-gaps"') :]
    table = table[: table.index("</section>")]
    assert table.count('class="ops-gap"') == 3
    assert table.index("徐汇区") < table.index("浦东新区") < table.index("静安区")
    assert "<strong>9.0</strong>" in table and "<strong>1.5</strong>" in table
    queue = reverse("admin:curation_wantedshop_changelist") + f"?district__id__exact={city_with_gaps['xuhui'].pk}"
    assert f'href="{queue}"' in table
    console = Client()
    console.force_login(curator)
    page = console.get(queue)
    assert page.status_code == 200
    assert [s.pk for s in page.context_data["cl"].result_list] == [city_with_gaps["noodles"].pk]


def test_the_overview_json_carries_the_gaps(city_with_gaps):
    body = staff_in("operator").get("/curation/standing/ops.json").json()
    first = body["coverage_gaps"][0]
    assert (first["district"], first["listed"], first["demand"], first["per_shop"]) == ("徐汇区", 0, 9, 9.0)


def test_no_demand_no_gaps():
    MerchantFactory()
    assert coverage_gaps() == []
    html = staff_in("operator").get("/admin/curation/opsdailytotal/").content.decode()
    assert 'id="coverage-gaps"' in html and 'class="ops-gap"' not in html
    assert WantedShop.objects.count() == 0
