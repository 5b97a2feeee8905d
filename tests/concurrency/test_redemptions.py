"""The redemption guarantees under real concurrency: threads on PostgreSQL, each with its own connection.

Each guarantee is held by the database (a unique constraint on the code id, guarded upserts on the
member's and the shop's day counters, a row lock on void); removing the guard makes its test fail.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally

import pytest
from django.db import connection
from django.utils import timezone

from core.errors import DomainError
from members.models import Subscription
from members.services.refunds import subscription_refund
from members.services.subscriptions import seed_default_plans
from merchants.models import Merchant, MerchantDay
from merchants.services import merchant_pause_today
from redemptions.counter import services
from redemptions.counter.selectors import merchant_by_public_id
from redemptions.counter.services import Counter
from redemptions.models import MemberDay, Redemption, RefusedScan
from tests.factories import UserFactory
from tests.factories.members import paid_subscription
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


def _committed(**filters) -> int:
    """Redemptions committed now, counted on a connection of this thread (READ COMMITTED)."""
    try:
        return Redemption.objects.filter(**filters).count()
    finally:
        connection.close()


def test_a_pause_racing_twenty_confirms_lets_each_commit_before_it_or_refuses_it():
    """Each confirmation re-reads the shop under a shared lock inside its transaction: those holding it
    commit before the pause can take the row, those after it read the pause. None commits after the pause
    on a state it read before: the merchant object the view loaded is stale on purpose, and the last ten
    confirmations start only once the pause has returned (they must all be refused).

    The first ten are spread over 50 ms around the pause. Shared lockers may overtake a waiting pause
    (PostgreSQL queues no waiter ahead of compatible lockers), so the pause takes the row at the first
    instant no confirmation holds it; confirmations last milliseconds, so that instant comes."""
    merchant, staff = fresh_shop(daily_capacity=100)
    owner = staff_of(Merchant.objects.get(pk=merchant.pk))
    members = [member_with_card() for _ in range(20)]
    codes = [code_of(m).qr for m in members]
    at_pause: list[int] = []
    paused = threading.Event()

    def confirm(index, code):
        def run():
            if index < 10:
                time.sleep(index * 0.005)
            else:
                paused.wait(timeout=30)
            return services.redemption_confirm(merchant=merchant, counter=Counter(staff=staff), bill=5000, code=code)

        return lambda: run() and "ok"

    def pause():
        try:
            time.sleep(0.02)
            merchant_pause_today(merchant=Merchant.objects.get(pk=merchant.pk), actor=owner, paused=True)
            at_pause.append(_committed(merchant_id=merchant.pk))
            return "paused"
        finally:
            paused.set()

    outcomes = together([pause] + [confirm(i, c) for i, c in enumerate(codes)])
    assert outcomes[0] == "paused"
    assert set(outcomes[1:11]) <= {"ok", "merchant_paused"}, outcomes
    assert outcomes[11:] == ["merchant_paused"] * 10, outcomes
    ok = outcomes.count("ok")
    # Every confirmation that succeeded had committed when the pause returned: none slipped in after it.
    assert at_pause == [ok] == [Redemption.objects.filter(merchant=merchant).count()]
    assert MerchantDay.objects.get(merchant=merchant).redemptions_count == ok


def test_a_refund_racing_a_confirm_on_the_same_card_never_lets_it_commit_after_the_refund():
    """The confirmation locks the member's subscription inside its transaction; the refund locks it too.
    Either the redemption commits first (and the refund then ends the card), or the confirmation waits and
    reads a refunded card (``membership_inactive``). Ten rounds with the two released in varying order."""
    seed_default_plans()
    merchant, staff = fresh_shop(daily_capacity=100)
    seen: Tally = Tally()
    for round_ in range(10):
        subscription = paid_subscription(UserFactory())
        member = subscription.user
        code = code_of(member).qr
        at_refund: list[int] = []

        def confirm(code=code, delay=round_ * 0.004):
            time.sleep(delay)
            return (
                services.redemption_confirm(merchant=merchant, counter=Counter(staff=staff), bill=5000, code=code)
                and "ok"
            )

        def refund(subscription_id=subscription.pk, member_id=member.pk, at_refund=at_refund):
            time.sleep(0.02)
            subscription_refund(subscription_id=subscription_id, mode="full", reason="race", actor="op")
            at_refund.append(_committed(member_id=member_id))
            return "refunded"

        outcomes = together([confirm, refund])
        assert outcomes[1] == "refunded", outcomes
        assert outcomes[0] in {"ok", "membership_inactive"}, outcomes
        seen[outcomes[0]] += 1
        committed = Redemption.objects.filter(member=member).count()
        assert at_refund == [committed] == [1 if outcomes[0] == "ok" else 0]
        subscription.refresh_from_db()
        assert subscription.state == "refunded"
        assert subscription.savings_fen == (600 if outcomes[0] == "ok" else 0)
    assert sum(seen.values()) == 10
