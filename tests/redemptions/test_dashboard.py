"""The merchant owner's dashboard, its CSV and the insights API; k-anonymous audience insights."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from merchants.models import District, MerchantStaff, PartnerGrant
from merchants.selectors import local_date
from redemptions.attribution import services as attribution
from redemptions.attribution.selectors import Period, k_anonymous, visitors
from redemptions.counter.services import redemption_void
from tests.factories import MerchantStaffFactory, UserFactory
from tests.factories.attribution import NoteFactory, redeem, touch
from tests.factories.redemptions import member_with_card, shop, staff_of

pytestmark = pytest.mark.django_db


def owner_of(merchant):
    return MerchantStaffFactory(merchant=merchant, user=UserFactory(), role=MerchantStaff.Role.OWNER).user


def page(client, merchant, **params):
    return client.get(reverse("redemptions:dashboard", args=[merchant.public_id]), params)


def test_touches_then_a_redemption_put_the_note_on_top_and_a_void_takes_it_away(
    client, partner_client, django_capture_on_commit_callbacks
):
    """Tried as a new user would: the content app sends touches, a member redeems, the owner's
    dashboard shows the note that drove it at the top of the leaderboard; a void takes it away."""
    content, _app = partner_client("notes:write touches:write")
    merchant = shop()
    member = member_with_card()
    client.force_login(owner_of(merchant))
    for n, title in ((1, "外滩看夜景后的一杯"), (2, "静安宝藏咖啡店")):
        body = {
            "title": title,
            "url": f"https://notes.example/n/{n}",
            "published_at": (timezone.now() - timedelta(days=2)).isoformat(),
            "merchants": [str(merchant.public_id)],
            "author_external_id": "writer",
        }
        assert content.put(reverse("api-note", args=[f"n{n}"]), body, format="json").status_code == 201
    touches = [
        {
            "external_id": "a",
            "note": "n1",
            "member": str(member.public_id),
            "kind": "view",
            "at": timezone.now() - timedelta(days=1),
        },
        {
            "external_id": "b",
            "note": "n2",
            "member": str(member.public_id),
            "kind": "click",
            "at": timezone.now() - timedelta(hours=1),
        },
    ]
    for t in touches:
        t["at"] = t["at"].isoformat()
    assert content.post(reverse("api-touches-batch"), {"touches": touches}, format="json").json()["accepted"] == 2
    redemption = redeem(merchant, member, bill_fen=12_800)

    html = page(client, merchant).content.decode()
    assert "静安宝藏咖啡店" in html and "外滩看夜景后的一杯" not in html  # last touch: the click an hour ago
    board = page(client, merchant).context["board"]
    assert [r.title for r in board.leaderboard] == ["静安宝藏咖啡店"]  # last touch
    assert board.leaderboard[0].visits == 1 and board.leaderboard[0].revenue_fen == 12_800
    assert board.totals.redemptions == 1 and board.totals.gmv_fen == 12_800 and board.totals.new_members == 1
    first = page(client, merchant, model="first").context["board"].leaderboard
    assert [r.title for r in first] == ["外滩看夜景后的一杯"]
    linear = page(client, merchant, model="linear").context["board"].leaderboard
    assert sorted((r.title, r.visits, r.revenue_fen) for r in linear) == [
        ("外滩看夜景后的一杯", 0.5, 6_400),
        ("静安宝藏咖啡店", 0.5, 6_400),
    ]
    assert (
        '<svg class="chart chart-wide"' in html
        and '<svg class="chart chart-phone"' in html
        and '<rect class="chart-bar"' in html
        and "style=" not in html
    )

    with django_capture_on_commit_callbacks(execute=True):  # the void's outbox row, processed on commit
        redemption_void(redemption=redemption, actor=staff_of(merchant), reason="wrong shop")
    board = page(client, merchant).context["board"]
    assert board.leaderboard == [] and board.totals.redemptions == 0


def test_only_the_owner_sees_the_dashboard(client):
    merchant = shop()
    assert page(client, merchant).status_code == 302  # sign in first
    client.force_login(UserFactory())
    assert page(client, merchant).status_code == 404
    client.force_login(staff_of(merchant))
    assert page(client, merchant).status_code == 403
    client.force_login(owner_of(shop()))  # owner of another shop
    assert page(client, merchant).status_code == 404
    csv_url = reverse("redemptions:dashboard_csv", args=[merchant.public_id, "daily"])
    assert client.get(csv_url).status_code == 404


def test_new_and_returning_members_and_money(client):
    merchant = shop()
    merchant.member_daily_limit = 5
    merchant.save(update_fields=["member_daily_limit"])
    old, new = member_with_card(), member_with_card()
    before = redeem(merchant, old, bill_fen=5_000)
    before.local_date -= timedelta(days=40)
    before.save(update_fields=["local_date"])
    attribution.dashboard_rollups_rebuild(merchant_ids=[merchant.pk])  # the row was rewritten around the services
    redeem(merchant, old, bill_fen=10_000)
    redeem(merchant, new, bill_fen=20_001)
    client.force_login(owner_of(merchant))
    totals = page(client, merchant).context["board"].totals
    assert (totals.redemptions, totals.new_members, totals.returning_members) == (2, 1, 1)
    assert totals.gmv_fen == 30_001 and totals.average_bill_fen == 15_000
    assert totals.discount_fen == 1_200 + 2_401  # 12% rounded up to the fen


@pytest.mark.clock
def test_csv_exports_of_the_leaderboard_and_the_daily_series(client):
    merchant, member = shop(), member_with_card()
    touch(NoteFactory(tags=[merchant], title="好吃, 再来"), member)
    redeem(merchant, member, bill_fen=8_650)
    client.force_login(owner_of(merchant))
    local_today = local_date(merchant=merchant, at=timezone.now())  # the shop's day, not the UTC one
    today = local_today.isoformat()
    params = {"from": (local_today - timedelta(days=6)).isoformat(), "to": today}
    response = client.get(reverse("redemptions:dashboard_csv", args=[merchant.public_id, "leaderboard"]), params)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["rank", "note_id", "title"] and rows[1][2] == "好吃, 再来" and rows[1][-1] == "86.50"
    daily = list(
        csv.reader(
            io.StringIO(
                client.get(
                    reverse("redemptions:dashboard_csv", args=[merchant.public_id, "daily"]), params
                ).content.decode("utf-8-sig")
            )
        )
    )
    assert len(daily) == 1 + 7 and daily[-1] == [today, "1", "86.50", "10.38"]
    bad = client.get(
        reverse("redemptions:dashboard_csv", args=[merchant.public_id, "daily"]), {"from": today, "to": "2020-01-01"}
    )
    assert bad.status_code == 422


def test_a_bad_period_is_explained(client):
    merchant = shop()
    client.force_login(owner_of(merchant))
    response = page(client, merchant, **{"from": "2026-13-01"})
    assert response.status_code == 422 and response.context["error"]
    assert page(client, merchant, **{"from": "2024-01-01", "to": "2026-01-01"}).status_code == 422


def test_the_dashboard_costs_the_same_queries_for_a_quiet_and_a_busy_shop(client, django_assert_max_num_queries):
    quiet, busy = shop(), shop()
    busy.member_daily_limit = 5
    busy.save(update_fields=["member_daily_limit"])
    for _ in range(6):
        member = member_with_card()
        touch(NoteFactory(tags=[busy]), member)
        redeem(busy, member)
    attribution.home_districts_refresh()
    counts = []
    for merchant in (quiet, busy):
        client.force_login(owner_of(merchant))
        page(client, merchant)  # warm the session and content types
        with CaptureQueriesContext(connection) as queries:
            assert page(client, merchant).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(9):  # session, user, owner + merchant, daily, members, leaderboard, audience,
        # offline redemptions to look at
        page(client, busy)


# --- k-anonymity ------------------------------------------------------------------------------------------


def test_small_groups_are_merged_into_other_and_a_small_other_is_left_out():
    assert k_anonymous({"25-34": 12, "35-44": 4, "45-54": 6}) == ([("25-34", 12), ("other", 10)], False)
    assert k_anonymous({"25-34": 12, "55+": 1}) == ([("25-34", 12)], True)
    assert k_anonymous({"55+": 3}) == ([], True)
    assert k_anonymous({"25-34": 10}) == ([("25-34", 10)], False)


@pytest.fixture
def crowd():
    """A shop with 12 members in their thirties from its own district, and one member in her seventies who
    lives (redeems mostly) in another district and came on a different day."""
    merchant = shop()
    year = timezone.now().year
    for _ in range(12):
        redeem(merchant, member_with_card(birth_year=year - 30))
    lone = member_with_card(birth_year=year - 75)
    elsewhere = District.objects.create(city=merchant.city, code="minhang", name_zh="闵行区", name_en="Minhang")
    redeem(shop(district=elsewhere), lone)
    redeem(shop(district=elsewhere), lone)
    visit = redeem(merchant, lone)
    attribution.home_districts_refresh()
    return merchant, visit


def audience_of(board):
    return {b["dimension"]: [(g["key"], g["members"]) for g in b["groups"]] for b in board["audience"]["breakdowns"]}


def test_narrowing_the_filters_cannot_single_out_a_member(client, crowd, partner_client):
    merchant, visit = crowd
    owner = owner_of(merchant)
    client.force_login(owner)
    day = visit.local_date.isoformat()
    api = reverse("api-merchant-insights", args=[merchant.public_id])

    wide = client.get(api).json()
    narrow = client.get(api, {"from": day, "to": day}).json()  # the one day she came
    for board in (wide, narrow):
        audience = audience_of(board)
        assert audience["age"] == [("25-34", 10)]  # 12 members, published rounded down to 5
        assert [key for key, _n in audience["district"]] == [f"d{merchant.district_id}"]
        assert all(key not in {"55+", "other"} for key, _n in audience["age"])
        assert all(b["hidden_members"] for b in board["audience"]["breakdowns"] if b["dimension"] != "frequency")
    assert audience_of(narrow) == audience_of(wide)  # whole weeks: narrowing to a day reveals nothing new

    html = page(client, merchant, **{"from": day, "to": day}).content.decode()
    assert "55+" not in html and "闵行区" not in html
    text = client.get(
        reverse("redemptions:dashboard_csv", args=[merchant.public_id, "audience"]), {"from": day, "to": day}
    ).content.decode("utf-8-sig")
    assert "55+" not in text and "闵行区" not in text and "25-34,10," in text

    partner, app = partner_client("insights:read")
    PartnerGrant.objects.create(merchant=merchant, application=app, scopes="insights:read")
    via_partner = partner.get(api, {"from": day, "to": day}).json()
    assert audience_of(via_partner) == audience_of(narrow)


def test_a_shop_with_few_members_shows_no_groups(client):
    merchant = shop()
    for _ in range(3):
        redeem(merchant, member_with_card(birth_year=1990))
    client.force_login(owner_of(merchant))
    board = page(client, merchant).context["board"]
    assert all(b.groups == [] and b.hidden_members for b in board.audience.breakdowns)


# --- Insights API -----------------------------------------------------------------------------------------


def test_insights_need_the_scope_and_the_merchants_grant(partner_client):
    merchant = shop()
    url = reverse("api-merchant-insights", args=[merchant.public_id])
    granted, app = partner_client("insights:read")
    PartnerGrant.objects.create(merchant=merchant, application=app, scopes="insights:read redemptions:write")
    assert granted.get(url).status_code == 200
    assert set(granted.get(url).json()) >= {"totals", "daily", "leaderboard", "audience", "model"}
    other, other_app = partner_client("insights:read")
    PartnerGrant.objects.create(merchant=merchant, application=other_app, scopes="redemptions:write")
    refused = other.get(url)
    assert refused.status_code == 403 and refused.json()["code"] == "insights_not_granted"
    unscoped, _ = partner_client("notes:write")
    assert unscoped.get(url).status_code == 403
    assert (
        granted.get(reverse("api-merchant-insights", args=["9b2f6c1e-0000-4000-8000-000000000000"])).status_code == 404
    )
    assert granted.get(url, {"from": "2026-02-30"}).json()["code"] == "period_invalid"


def test_insights_for_people_are_for_owners_only(person_client, user):
    merchant = shop()
    url = reverse("api-merchant-insights", args=[merchant.public_id])
    assert person_client.get(url).status_code == 404
    MerchantStaffFactory(merchant=merchant, user=user, role=MerchantStaff.Role.STAFF)
    assert person_client.get(url).json()["code"] == "dashboard_not_owner"
    MerchantStaff.objects.filter(user=user).update(role=MerchantStaff.Role.OWNER)
    assert person_client.get(url, {"model": "linear"}).json()["model"] == "linear"


def test_the_age_groups_count_the_birth_year_as_it_was_at_the_visit(client):
    """The redemption keeps the member's birth year of the visit: a later profile edit does not move past
    visits to another age group (and the audience needs no join over every member)."""
    merchant = shop()
    year = timezone.now().year
    members = [member_with_card(birth_year=year - 30) for _ in range(10)]
    visits = [redeem(merchant, member) for member in members]
    assert {v.member_birth_year for v in visits} == {year - 30}
    for member in members:  # everyone now says they are 60
        member.birth_year = year - 60
        member.save(update_fields=["birth_year"])
    client.force_login(owner_of(merchant))
    board = client.get(reverse("api-merchant-insights", args=[merchant.public_id])).json()
    assert audience_of(board)["age"] == [("25-34", 10)]


def test_the_chart_has_a_yuan_axis_and_a_phone_drawing_of_the_latest_two_weeks():
    from datetime import date

    from redemptions.attribution.selectors import DayPoint
    from redemptions.dashboard.views import PHONE_W, chart

    first = date(2026, 11, 1)
    daily = [
        DayPoint(day=first + timedelta(days=i), redemptions=i % 5, gmv_fen=(i % 5) * 8_650, discount_fen=0)
        for i in range(30)
    ]
    wide = chart(daily)
    assert [t.label for t in wide["money_ticks"]] == ["¥0", "¥200", "¥400"]  # ¥346 at most: a nice top of ¥400
    assert [t.label for t in wide["yticks"]] == ["0", "2", "4"]
    phone = chart(daily[-14:], width=PHONE_W, font=13)
    assert phone["width"] == PHONE_W and len(phone["bars"]) == 14
    assert phone["xticks"][-1].label == "11-30"  # the latest day is labelled, never cut off
    assert all(bar.x + bar.width <= phone["right"] for bar in phone["bars"])
    assert all(tick.x < PHONE_W for tick in phone["money_ticks"])


def test_ages_are_counted_in_the_shops_year_on_new_years_eve_after_16_utc():
    """At 16:30 UTC on 31 December it is already 1 January in Shanghai: a member born 34 years before this
    year is 35 by the shop's calendar, not 34 by UTC's."""
    merchant = shop()
    year = timezone.now().year
    for _ in range(10):
        redeem(merchant, member_with_card(birth_year=year - 34))
    day = local_date(merchant=merchant, at=timezone.now())
    with time_machine.travel(datetime(year, 12, 31, 16, 30, tzinfo=UTC), tick=False):
        audience = visitors(merchant=merchant, period=Period(day, day)).audience
    [ages] = [b for b in audience.breakdowns if b.dimension == "age"]
    assert [(g.key, g.members) for g in ages.groups] == [("35-44", 10)]
