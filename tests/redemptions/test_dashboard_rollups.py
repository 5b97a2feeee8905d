"""What the dashboard reads instead of the redemptions: the merchant-day roll-up (kept by confirm and void,
recomputed by the rebuild service) and the member days behind "new or returning"."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count, Min, Sum
from django.urls import reverse
from django.utils import timezone

from merchants.models import MerchantDay
from merchants.selectors import local_date
from merchants.services import capacity_take, merchant_days_rebuild
from redemptions.attribution.services import dashboard_rollups_rebuild
from redemptions.counter.services import redemption_void
from redemptions.models import MemberDay, Redemption
from tests.factories import MerchantFactory
from tests.factories.attribution import redeem
from tests.factories.redemptions import member_with_card, shop, staff_of
from tests.factories.standing import history, owner_of

pytestmark = pytest.mark.django_db


def day_row(merchant, day):
    row = MerchantDay.objects.get(merchant=merchant, local_date=day)
    return row.redemptions_count, row.confirmed_count, row.gmv_fen, row.discount_fen


def from_redemptions(merchant, day):
    """The day's figures as the dashboard used to read them: straight from the redemptions."""
    found = Redemption.objects.filter(merchant=merchant, local_date=day, status="confirmed").aggregate(
        n=Count("pk"), gmv=Sum("bill_fen"), discount=Sum("discount_fen")
    )
    return found["n"], found["gmv"] or 0, found["discount"] or 0


def test_confirm_and_void_keep_the_day_roll_up_exact_beside_the_capacity_counter(client):
    merchant = shop()
    first = redeem(merchant, member_with_card(), bill_fen=12_800)
    redeem(merchant, member_with_card(), bill_fen=20_001)
    day = first.local_date
    assert day_row(merchant, day) == (2, 2, 32_801, 1_536 + 2_401)

    redemption_void(redemption=first, actor=staff_of(merchant), reason="wrong shop")
    assert day_row(merchant, day) == (1, 1, 20_001, 2_401)
    assert day_row(merchant, day)[1:] == from_redemptions(merchant, day)

    client.force_login(owner_of(merchant))
    board = client.get(reverse("redemptions:dashboard", args=[merchant.public_id])).context["board"]
    assert (board.daily[-1].day, board.daily[-1].redemptions, board.daily[-1].gmv_fen) == (day, 1, 20_001)
    assert (board.totals.redemptions, board.totals.gmv_fen, board.totals.discount_fen) == (1, 20_001, 2_401)

    assert dashboard_rollups_rebuild(merchant_ids=[merchant.pk]) == 1
    assert day_row(merchant, day) == (1, 1, 20_001, 2_401)  # already exact: the rebuild changes nothing


@pytest.mark.clock
def test_the_rebuild_recomputes_roll_up_and_member_days_of_its_range_but_never_capacity():
    merchant, elsewhere = shop(), shop()
    member, other = member_with_card(), member_with_card()
    today = timezone.localdate()
    days = [today - timedelta(days=3), today - timedelta(days=2), today - timedelta(days=1)]
    # Written around the services (as an import or a bulk load would): no roll-up, no member days.
    history(member, merchant, on=days[0], bill_fen=10_000)
    history(member, merchant, on=days[0], bill_fen=5_000)
    history(other, merchant, on=days[0], bill_fen=8_000, status=Redemption.Status.VOIDED)
    history(other, merchant, on=days[1], bill_fen=7_000)
    history(member, merchant, on=days[2], bill_fen=9_000)
    history(member, elsewhere, on=days[0], bill_fen=3_000)
    MerchantDay.objects.create(merchant=merchant, local_date=days[0], redemptions_count=7, gmv_fen=999)
    MerchantDay.objects.create(merchant=merchant, local_date=days[1] - timedelta(days=30), confirmed_count=4)

    written = dashboard_rollups_rebuild(merchant_ids=[merchant.pk], first=days[0], last=days[1])

    assert written == 2
    assert day_row(merchant, days[0]) == (7, 2, 15_000, 1_800)  # capacity left as it was
    assert day_row(merchant, days[1]) == (0, 1, 7_000, 840)  # a new row, capacity untouched
    assert not MerchantDay.objects.filter(local_date=days[2]).exists()  # outside the range
    assert MerchantDay.objects.get(local_date=days[1] - timedelta(days=30)).confirmed_count == 4  # outside too
    assert not MerchantDay.objects.filter(merchant=elsewhere).exists()  # another shop
    counts = {(m.member_id, m.local_date): m.count for m in MemberDay.objects.all()}
    assert counts == {(member.pk, days[0]): 2, (other.pk, days[1]): 1}  # the voided visit counts nothing

    assert dashboard_rollups_rebuild() == 4  # everything: both shops, every day
    assert day_row(merchant, days[2]) == (0, 1, 9_000, 1_080)
    assert day_row(elsewhere, days[0])[1:] == from_redemptions(elsewhere, days[0])
    # A day whose redemptions are all gone (voided around the services) is zeroed, its capacity kept.
    Redemption.objects.filter(local_date=days[1]).update(status="voided", voided_at=timezone.now())
    dashboard_rollups_rebuild(merchant_ids=[merchant.pk], first=days[1], last=days[1])
    assert day_row(merchant, days[1]) == (0, 0, 0, 0)
    assert MemberDay.objects.get(member=other, local_date=days[1]).count == 0


@pytest.mark.clock
def test_new_and_returning_members_across_the_audience_weeks(client):
    """Last week, Wednesday to Sunday: the audience covers Monday to Sunday. A member is returning when they
    came before Wednesday: on Monday (read in the same pass) or weeks earlier (read from the member days);
    an earlier visit that was voided does not count."""
    merchant = shop()
    monday = timezone.localdate() - timedelta(days=timezone.localdate().weekday() + 7)
    wednesday, thursday, sunday = monday + timedelta(days=2), monday + timedelta(days=3), monday + timedelta(days=6)
    long_ago = monday - timedelta(days=60)
    earlier_this_week, first_timer, regular, voided_regular, monday_only = (member_with_card() for _ in range(5))
    history(earlier_this_week, merchant, on=monday)
    history(regular, merchant, on=long_ago)
    history(voided_regular, merchant, on=long_ago, status=Redemption.Status.VOIDED)
    history(monday_only, merchant, on=monday)
    for person in (earlier_this_week, first_timer, regular, voided_regular):
        history(person, merchant, on=thursday, bill_fen=5_000)
    dashboard_rollups_rebuild(merchant_ids=[merchant.pk])
    MemberDay.objects.create(member=voided_regular, merchant=merchant, local_date=long_ago, count=0)  # after a void

    client.force_login(owner_of(merchant))
    params = {"from": wednesday.isoformat(), "to": sunday.isoformat()}
    board = client.get(reverse("redemptions:dashboard", args=[merchant.public_id]), params).context["board"]

    assert (board.totals.new_members, board.totals.returning_members) == (2, 2)
    assert (board.totals.redemptions, board.totals.gmv_fen) == (4, 20_000)
    assert (board.audience.period.start, board.audience.period.end) == (monday, sunday)
    # The same figures as the full scan of the shop's history that the dashboard used to run.
    firsts = (
        Redemption.objects.filter(merchant=merchant, status="confirmed", local_date__lte=sunday)
        .values("member_id")
        .annotate(first=Min("local_date"))
        .filter(member_id__in=Redemption.objects.filter(local_date__gte=wednesday).values("member_id"))
    )
    assert sorted(r["first"] >= wednesday for r in firsts) == [False, False, True, True]


@pytest.mark.clock
@pytest.mark.django_db(transaction=True)
def test_a_confirmation_racing_the_rebuild_is_counted_once():
    """The rebuild locks the merchant days before it reads the redemptions: a confirmation that comes in
    meanwhile waits and adds itself to the rebuilt day (without the lock it would be overwritten)."""
    assert connection.vendor == "postgresql"
    merchant = MerchantFactory(daily_capacity=100)
    day = timezone.localdate()
    MerchantDay.objects.create(merchant=merchant, local_date=day, redemptions_count=1, confirmed_count=1)
    totals_read = threading.Event()
    errors: list[BaseException] = []

    def totals():
        totals_read.set()
        time.sleep(0.5)  # the racing confirmation has all the time it needs
        return [(merchant.pk, day, 1, 4_000, 480)]

    def rebuild():
        try:
            merchant_days_rebuild(totals=totals, merchant_ids=[merchant.pk])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    def confirm():
        try:
            totals_read.wait(5)
            capacity_take(merchant_id=merchant.pk, local_date=day, capacity=100, bill_fen=1_000, discount_fen=120)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=rebuild), threading.Thread(target=confirm)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert day_row(merchant, day) == (2, 2, 5_000, 600)


@pytest.mark.clock
def test_a_first_timer_who_comes_back_in_the_period_is_a_returning_member(client):
    """The demo's regular: first visit this week, then five more. "回头会员" counts who came back, so they are
    returning, not new; a member who came once is new."""
    merchant = shop()
    today = local_date(merchant=merchant, at=timezone.now())
    regular, once = member_with_card(), member_with_card()
    for days_ago in range(6):
        history(regular, merchant, on=today - timedelta(days=days_ago))
    history(once, merchant, on=today)
    dashboard_rollups_rebuild(merchant_ids=[merchant.pk])
    client.force_login(owner_of(merchant))
    params = {"from": (today - timedelta(days=6)).isoformat(), "to": today.isoformat()}
    board = client.get(reverse("redemptions:dashboard", args=[merchant.public_id]), params).context["board"]
    assert (board.totals.new_members, board.totals.returning_members, board.totals.redemptions) == (1, 1, 7)
