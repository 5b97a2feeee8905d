"""The redemption guarantees under real concurrency: threads on PostgreSQL, each with its own connection.

Each guarantee is held by the database (a unique constraint on the code id, guarded upserts on the
member's and the shop's day counters, a row lock on void); removing the guard makes its test fail.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally

import pytest
from django.db import connection
from django.utils import timezone

from core.errors import DomainError
from members.models import Subscription
from merchants.models import Merchant, MerchantDay
from redemptions.counter import services
from redemptions.counter.selectors import merchant_by_public_id
from redemptions.counter.services import Counter
from redemptions.models import MemberDay, Redemption, RefusedScan
from tests.factories.redemptions import code_of, member_with_card, shop, staff_of

pytestmark = pytest.mark.django_db(transaction=True)


def together(calls):
    """Run every callable in its own thread, released at the same instant; return the outcomes
    (the callable's result, or the refusal code)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def worker(index, fn):
        try:
            barrier.wait()
            outcomes[index] = fn()
        except DomainError as exc:
            outcomes[index] = exc.code
        except Exception as exc:  # an unexpected failure must show in the assertion
            outcomes[index] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, fn)) for i, fn in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def fresh_shop(**fields):
    merchant = shop(**fields)
    return merchant_by_public_id(public_id=merchant.public_id), staff_of(merchant)


def test_twenty_threads_confirming_the_same_code_make_one_redemption():
    merchant, staff = fresh_shop()
    member = member_with_card()
    code = code_of(member).qr
    counters = [Counter(staff=staff) for _ in range(20)]

    def confirm(counter):
        return lambda: services.redemption_confirm(merchant=merchant, counter=counter, bill=10000, code=code) and "ok"

    outcomes = Tally(together([confirm(c) for c in counters]))
    assert outcomes == {"ok": 1, "code_already_used": 19}
    assert Redemption.objects.count() == 1
    assert MemberDay.objects.get(member=member).count == 1
    assert MerchantDay.objects.get(merchant=merchant).redemptions_count == 1
    assert Subscription.objects.get(user=member).savings_fen == 1200
    assert RefusedScan.objects.filter(reason="code_already_used").count() == 19


def test_thirty_members_at_a_shop_with_capacity_ten_make_exactly_ten():
    merchant, staff = fresh_shop(daily_capacity=10)
    members = [member_with_card() for _ in range(30)]
    codes = [code_of(m).qr for m in members]

    def confirm(code):
        return lambda: (
            services.redemption_confirm(merchant=merchant, counter=Counter(staff=staff), bill=5000, code=code) and "ok"
        )

    outcomes = Tally(together([confirm(c) for c in codes]))
    assert outcomes == {"ok": 10, "merchant_at_capacity": 20}
    assert Redemption.objects.filter(merchant=merchant).count() == 10
    assert MerchantDay.objects.get(merchant=merchant).redemptions_count == 10
    # The refused members kept their limit and saved nothing.
    assert sum(MemberDay.objects.values_list("count", flat=True)) == 10
    assert Subscription.objects.filter(savings_fen__gt=0).count() == 10


def test_one_member_two_devices_two_fresh_codes_same_shop_same_day_make_one():
    merchant, staff = fresh_shop()
    member = member_with_card()
    now = timezone.now()
    # Two different, valid codes (this window's and the next one's, as two phones can show).
    first, second = code_of(member, at=now).qr, code_of(member, at=now, ahead=1).qr
    assert first != second
    later = now + timezone.timedelta(seconds=31)

    def confirm(code, at):
        return lambda: (
            services.redemption_confirm(merchant=merchant, counter=Counter(staff=staff), bill=5000, code=code, at=at)
            and "ok"
        )

    outcomes = Tally(together([confirm(first, later), confirm(second, later)]))
    assert outcomes == {"ok": 1, "member_limit_reached": 1}
    assert Redemption.objects.filter(member=member).count() == 1
    assert MemberDay.objects.get(member=member).count == 1


def test_void_racing_a_second_void_voids_once():
    merchant, staff = fresh_shop()
    member = member_with_card()
    redemption = services.redemption_confirm(
        merchant=merchant, counter=Counter(staff=staff), bill=10000, code=code_of(member).qr
    )

    def void():
        return (
            services.redemption_void(
                redemption=Redemption.objects.get(pk=redemption.pk), actor=staff, reason="double tap"
            )
            and "voided"
        )

    outcomes = Tally(together([void, void]))
    assert outcomes == {"voided": 1, "already_voided": 1}
    assert MemberDay.objects.get(member=member).count == 0
    assert MerchantDay.objects.get(merchant=merchant).redemptions_count == 0
    assert Subscription.objects.get(user=member).savings_fen == 0


def test_staff_confirming_the_same_claim_twice_makes_one_redemption():
    merchant, staff = fresh_shop()
    other_staff = staff_of(Merchant.objects.get(pk=merchant.pk))
    member = member_with_card()
    claim = services.claim_create(member=member, merchant=merchant, bill="88.00")

    def confirm(person):
        return lambda: services.claim_confirm(claim=claim, merchant=merchant, staff=person) and "ok"

    outcomes = Tally(together([confirm(staff), confirm(other_staff)]))
    assert outcomes == {"ok": 1, "claim_not_pending": 1}
    assert Redemption.objects.filter(member=member).count() == 1
