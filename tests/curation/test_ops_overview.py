"""The operations overview: each figure computed from known data, the roll-up, the admin page with its
SVG charts (CSP-clean), who may see it, and a bounded number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from curation.models import OpsDailyTotal
from curation.ops import services as ops_services
from curation.ops.selectors import ops_figures
from curation.standing import services as standing
from merchants.models import Merchant
from tests.factories import CityFactory, DistrictFactory, MerchantFactory, UserFactory
from tests.factories.redemptions import member_with_card
from tests.factories.standing import ComplaintFactory, history

pytestmark = pytest.mark.django_db


def figures() -> dict:
    return {f.key: f for f in ops_figures().figures}


def staff_in(group: str) -> Client:
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.clock
def test_members_redemptions_and_savings_figures():
    members = [member_with_card() for _ in range(2)]
    shop = MerchantFactory()
    day = standing.evaluation_day()
    for i in range(6):
        history(members[i % 2], shop, on=day - timedelta(days=1 + i), bill_fen=10000, rate_bp=1200)
    history(members[0], shop, on=day - timedelta(days=2), status="voided")
    assert ops_services.ops_rollup(days=10) == 6  # one row per (city, day)
    total = OpsDailyTotal.objects.filter(local_date=day - timedelta(days=1)).get()
    assert (total.redemptions, total.discount_fen, total.members) == (1, 1200, 1)
    f = figures()
    assert f["active_members"].raw == 2 and f["trials"].raw == 2
    assert f["redemptions_per_member"].raw == 3.0
    assert f["savings_fee_ratio"].raw is None  # trials paid nothing: no ratio rather than a division by zero


@pytest.mark.clock
def test_rollup_replaces_a_day_after_a_void():
    member = member_with_card()
    shop = MerchantFactory()
    day = standing.evaluation_day() - timedelta(days=1)
    redemption = history(member, shop, on=day)
    ops_services.ops_rollup(days=2)
    assert OpsDailyTotal.objects.get(local_date=day).redemptions == 1
    type(redemption).objects.filter(pk=redemption.pk).update(status="voided", voided_at=timezone.now())
    ops_services.ops_rollup(days=2)
    assert not OpsDailyTotal.objects.filter(local_date=day).exists()


def test_complaint_sla_compliance():
    now = timezone.now()
    ComplaintFactory(created_at=now - timedelta(hours=30))  # overdue, unanswered
    ComplaintFactory(
        created_at=now - timedelta(hours=30), state="answered", first_responded_at=now - timedelta(hours=20)
    )  # answered on time
    ComplaintFactory(created_at=now - timedelta(hours=2))  # not due yet: not counted
    f = figures()
    assert f["complaint_first_response_sla"].raw == 50.0
    assert "2" in f["complaint_first_response_sla"].how


def test_seats_and_coverage_charts():
    city = CityFactory(seat_quota=3)
    thin = DistrictFactory(city=city, code="thin")
    MerchantFactory(city=city, district=thin)
    MerchantFactory(city=city, district=thin, state=Merchant.State.WARNED)
    charts = {c.key: c for c in ops_figures().charts}
    seats = charts["seats"].bars[0]
    assert (seats.value, seats.limit) == (1, 3) and "2" in seats.note
    coverage = next(b for b in charts["coverage"].bars if "thin" in b.label or thin.name in b.label)
    assert coverage.value == 1 and coverage.warn


def test_overview_page_for_operators_with_svg_charts_and_no_inline_code():
    MerchantFactory()
    html = staff_in("operator").get("/admin/curation/opsdailytotal/").content.decode()
    assert html.count('class="ops-svg"') == 5 and "figure-active_members" in html and "<details>" in html
    assert "<script>" not in html and ' style="' not in html
    assert staff_in("curator").get("/admin/curation/opsdailytotal/").status_code == 200
    nobody = Client()
    nobody.force_login(UserFactory(is_staff=True))
    assert nobody.get("/admin/curation/opsdailytotal/").status_code in (302, 403)


def test_overview_json_for_the_console():
    body = staff_in("operator").get("/curation/standing/ops.json").json()
    assert {c["key"] for c in body["charts"]} == {"seats", "coverage", "daily", "findings", "sla"}


def test_overview_query_count_does_not_grow_with_data(django_assert_max_num_queries):
    city = CityFactory()
    for n in range(8):
        MerchantFactory(city=city, district=DistrictFactory(city=city, code=f"d{n}"))
        ComplaintFactory()
    with django_assert_max_num_queries(18):
        ops_figures()


def test_nightly_snapshot_holds_the_slow_member_figures():
    from curation.models import OpsSnapshot

    member = member_with_card()
    ops_services.ops_rollup(days=3)
    snapshot = OpsSnapshot.objects.get()
    assert snapshot.figures["trials_ended"] == 0 and snapshot.figures["fees_net_fen"] == 0
    OpsSnapshot.objects.filter(pk=snapshot.pk).update(
        figures={**snapshot.figures, "trials_ended": 4, "trials_converted": 1}
    )
    assert figures()["trial_conversion"].raw == 25.0  # the page reads the snapshot, not the live tables
    assert member.pk


def test_savings_over_fee_counts_paying_members_on_their_paid_days_and_revenue_is_shown():
    from tests.factories.members import PlanFactory, paid_subscription

    PlanFactory()

    shop = MerchantFactory()
    with time_machine.travel(timezone.now() - timedelta(days=2)):
        payer = paid_subscription().user  # ¥168 paid two days ago
    history(payer, shop, bill_fen=50_000, rate_bp=1000)  # ¥50 saved on the paid card
    trial_member = member_with_card()  # a trial card: its savings were not paid for
    history(trial_member, shop, bill_fen=90_000, rate_bp=1000)
    f = figures()
    assert f["savings_fee_ratio"].raw == round(5_000 / 16_800, 2)
    assert "¥50.00" in f["savings_fee_ratio"].how and "¥168.00" in f["savings_fee_ratio"].how
    assert f["card_revenue"].raw == 16_800 and f["card_revenue"].value == "¥168.00"


def test_overview_charts_carry_their_axes_and_the_seat_mark_is_explained():
    MerchantFactory()
    html = staff_in("operator").get("/admin/curation/opsdailytotal/").content.decode()
    daily = html[html.index('id="chart-daily"') :]
    assert 'class="ops-axis ops-axis-y"' in daily[: daily.index("</section>")]
    assert "核销笔数" in daily[: daily.index("</section>")] or "核销" in daily[: daily.index("</section>")]
    seats = html[html.index('id="chart-seats"') :]
    assert "ops-legend-mark" in seats[: seats.index("</section>")]
