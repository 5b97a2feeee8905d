"""People see local time: every page shows a known instant in the zone of what it is about.

Two visits straddle midnight in Shanghai: one at 15:30 UTC (23:30 there) and one at 16:30 UTC (00:30 of the
next day there). Each role's page must show them on the wall clock of the shop or the programme, on a
24-hour clock, and the API must keep UTC with its offset.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from members.models import Subscription
from merchants.models import MerchantStaff
from redemptions.models import Redemption
from tests.factories import MerchantStaffFactory, UserFactory
from tests.factories.attribution import redeem
from tests.factories.redemptions import member_with_card, shop, staff_of
from tests.factories.standing import ComplaintFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: A day two days back, so the database's own clock is never far behind the frozen one.
DAY = (datetime.now(UTC) - timedelta(days=2)).date()
LATE = datetime(DAY.year, DAY.month, DAY.day, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
AFTER_MIDNIGHT = LATE + timedelta(hours=1)  # 00:30 of the next day in Shanghai
NEXT = DAY + timedelta(days=1)


def zh_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def short(day: date, clock: str) -> str:
    return f"{day:%m-%d} {clock}"


@pytest.fixture
def visits():
    """A member with a card and two visits at one shop, confirmed by the real service at the two instants."""
    with time_machine.travel(LATE - timedelta(hours=2), tick=False):
        merchant, member = shop(), member_with_card()
        staff = staff_of(merchant)
    with time_machine.travel(LATE, tick=False):
        late = redeem(merchant, member, staff=staff)
    with time_machine.travel(AFTER_MIDNIGHT, tick=False):
        early = redeem(merchant, member, staff=staff)
    return merchant, member, staff, late, early


def signed_in(user, **headers) -> Client:
    client = Client(**headers)
    client.force_login(user)
    return client


def test_the_visits_are_dated_by_the_shops_day(visits):
    _merchant, _member, _staff, late, early = visits
    assert (late.local_date, early.local_date) == (DAY, NEXT)


def test_my_redemptions_show_the_wall_clock_of_shanghai(visits):
    _merchant, member, *_ = visits
    with time_machine.travel(AFTER_MIDNIGHT + timedelta(minutes=15), tick=False):
        html = signed_in(member).get(reverse("redemptions:mine")).content.decode()
    assert short(DAY, "23:30") in html and short(NEXT, "00:30") in html
    assert short(DAY, "15:30") not in html and short(DAY, "16:30") not in html


def test_the_scanner_lists_the_shops_today_in_its_own_zone(visits):
    merchant, _member, staff, *_ = visits
    with time_machine.travel(AFTER_MIDNIGHT + timedelta(minutes=15), tick=False):
        html = signed_in(staff).get(reverse("redemptions:scanner", args=[merchant.public_id])).content.decode()
    assert "00:30 ·" in html  # today there began at 16:00 UTC: only the 00:30 visit is today's
    assert "23:30 ·" not in html and "16:30 ·" not in html
    assert 'data-time-zone="Asia/Shanghai"' in html  # what the scanner's script formats its list in


def test_a_shop_in_another_zone_is_shown_in_that_zone(visits):
    merchant, _member, staff, *_ = visits
    merchant.city.timezone = "Asia/Urumqi"  # UTC+6
    merchant.city.save(update_fields=["timezone"])
    with time_machine.travel(AFTER_MIDNIGHT + timedelta(minutes=15), tick=False):
        html = signed_in(staff).get(reverse("redemptions:scanner", args=[merchant.public_id])).content.decode()
    assert 'data-time-zone="Asia/Urumqi"' in html


def test_the_dashboard_counts_each_visit_on_the_shops_day(visits):
    merchant, *_ = visits
    owner = MerchantStaffFactory(merchant=merchant, user=UserFactory(), role=MerchantStaff.Role.OWNER).user
    with time_machine.travel(AFTER_MIDNIGHT + timedelta(minutes=15), tick=False):
        response = signed_in(owner).get(
            reverse("redemptions:dashboard", args=[merchant.public_id]), {"from": DAY, "to": NEXT}
        )
    daily = {point.day: point.redemptions for point in response.context["board"].daily}
    assert daily == {DAY: 1, NEXT: 1}
    assert zh_date(DAY) in response.content.decode() and zh_date(NEXT) in response.content.decode()


def test_the_membership_page_dates_the_card_in_shanghai():
    with time_machine.travel(AFTER_MIDNIGHT, tick=False):  # the trial starts at 00:30 in Shanghai
        member = member_with_card()
        end = Subscription.objects.get(user=member).period_end
        html = signed_in(member).get(reverse("members:membership")).content.decode()
        english = signed_in(member, HTTP_ACCEPT_LANGUAGE="en").get(reverse("members:membership")).content.decode()
    local_end = end.astimezone(SHANGHAI).date()
    assert local_end != end.astimezone(UTC).date()
    assert zh_date(NEXT) in html and zh_date(local_end) in html and zh_date(DAY) not in html
    assert local_end.isoformat() in english and NEXT.isoformat() in english  # ISO dates in English


def test_the_console_shows_a_complaint_in_the_programmes_zone_and_names_it():
    complaint = ComplaintFactory(created_at=LATE)
    curator = UserFactory(is_staff=True)
    curator.groups.add(Group.objects.get(name="curator"))
    html = signed_in(curator).get(reverse("admin:curation_complaint_change", args=[complaint.pk])).content.decode()
    assert f"{zh_date(DAY)} 23:30" in html and f"{zh_date(DAY)} 15:30" not in html
    assert "Asia/Shanghai" in html  # the console names the zone its times are in
    english = signed_in(curator, HTTP_ACCEPT_LANGUAGE="en").get(reverse("admin:curation_complaint_changelist"))
    page = english.content.decode()
    # 24-hour times: no "11:30 p.m." (a bare "PM" may sit inside the page's random CSRF token)
    assert f"{DAY.isoformat()} 23:30" in page and not re.search(r"\d:\d\d\s?[ap]\.?m", page, re.IGNORECASE)


def test_the_operations_overview_is_computed_at_local_time_and_says_where():
    operator = UserFactory(is_staff=True)
    operator.groups.add(Group.objects.get(name="operator"))
    with time_machine.travel(AFTER_MIDNIGHT, tick=False):
        html = signed_in(operator).get("/admin/curation/opsdailytotal/").content.decode()
    assert f"计算于 {zh_date(NEXT)} 00:30（Asia/Shanghai）" in html
    assert "(UTC)" not in html


def test_the_api_keeps_utc_with_its_offset(visits):
    merchant, _member, staff, _late, early = visits
    client = signed_in(staff)
    with time_machine.travel(AFTER_MIDNIGHT + timedelta(minutes=15), tick=False):
        rows = client.get(reverse("api-redemption-day"), {"merchant": merchant.public_id}).json()["results"]
    assert [row["confirmed_at"] for row in rows] == [
        early.confirmed_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    ]
    assert timezone.get_current_timezone_name() == "UTC"  # nothing leaked into the next request
    assert Redemption.objects.filter(merchant=merchant).count() == 2


def test_a_notice_carries_the_time_of_its_event(visits):
    _merchant, member, _staff, late, early = visits
    saved = member.notifications.filter(kind="redemptions.confirmed").order_by("created_at")
    assert [n.created_at for n in saved] == [late.confirmed_at, early.confirmed_at]
    with time_machine.travel(AFTER_MIDNIGHT + timedelta(minutes=15), tick=False):
        html = signed_in(member).get(reverse("notices")).content.decode()
    assert short(DAY, "23:30") in html and short(NEXT, "00:30") in html


def test_the_demo_members_notice_and_membership_page_agree_on_the_cards_end():
    from members import demo as members_demo
    from merchants import demo as merchants_demo

    merchants_demo.seed([])
    members_demo.seed([])
    member = Subscription.objects.get(user__email="member@redcard.local").user
    end = Subscription.objects.get(user=member).period_end.astimezone(SHANGHAI).date()
    activated = member.notifications.get(kind="members.activated")
    assert zh_date(end) in activated.body  # the date the member reads, as Chinese readers write it
    assert zh_date(end) in signed_in(member).get(reverse("members:membership")).content.decode()
    assert f"有效期至 {zh_date(end)}" in signed_in(member).get(reverse("redemptions:card")).content.decode()
    assert activated.created_at < timezone.now() - timedelta(days=41)  # sent when the demo says they joined
