"""Offline redemptions under real concurrency (threads on PostgreSQL, each with its own connection): two devices
that accepted the same code offline and sync together make one redemption and one conflict; an offline sync
racing online confirmations at a full shop counts past the capacity only for the offline one."""

from __future__ import annotations

import uuid
from collections import Counter as Tally
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from members.models import Subscription
from merchants.models import MerchantDay
from redemptions.counter import services
from redemptions.counter.selectors import merchant_by_public_id
from redemptions.counter.services import Counter, OfflineRecord
from redemptions.models import MemberDay, OfflineRedemption, Redemption
from tests.factories.redemptions import code_of, member_with_card, shop, staff_of
from tests.threads import together

pytestmark = pytest.mark.django_db(transaction=True)


def started_card():
    member = member_with_card()
    Subscription.objects.filter(user=member).update(period_start=F("period_start") - timedelta(days=1))
    return member


def test_the_same_code_accepted_offline_at_two_devices_makes_one_redemption_and_one_conflict():
    merchant = merchant_by_public_id(public_id=shop().public_id)
    tills = [Counter(staff=staff_of(merchant)) for _ in range(2)]
    member = started_card()
    scanned = timezone.now() - timedelta(minutes=20)
    code = code_of(member, at=scanned).qr

    def device(counter, bill):
        record = OfflineRecord(client_id=uuid.uuid4(), code=code, bill_fen=bill, scanned_at=scanned)
        return lambda: services.offline_sync(records=[record], merchant=merchant, counter=counter)[0].outcome

    outcomes = Tally(together([device(tills[0], 8600), device(tills[1], 4300)]))
    assert outcomes == {"accepted": 1, "conflict": 1}
    assert Redemption.objects.count() == 1
    conflict = OfflineRedemption.objects.get(outcome="conflict")
    assert conflict.reasons == ["code_already_used"] and conflict.redemption is None and conflict.member == member
    assert MemberDay.objects.get(member=member).count == 1
    assert MerchantDay.objects.get(merchant=merchant).redemptions_count == 1
    assert Subscription.objects.get(user=member).savings_fen == Redemption.objects.get().discount_fen


def test_the_same_record_sent_twice_at_once_is_judged_once():
    merchant = merchant_by_public_id(public_id=shop().public_id)
    till = Counter(staff=staff_of(merchant))
    member = started_card()
    scanned = timezone.now() - timedelta(minutes=5)
    record = OfflineRecord(
        client_id=uuid.uuid4(), code=code_of(member, at=scanned).qr, bill_fen=5000, scanned_at=scanned
    )

    def send():
        return services.offline_sync(records=[record], merchant=merchant, counter=till)[0].pk

    first, second = together([send, send])
    assert first == second and isinstance(first, int)
    assert Redemption.objects.count() == 1 and OfflineRedemption.objects.count() == 1


def test_an_offline_sync_racing_online_confirmations_at_a_full_shop_is_counted_never_refused(local_midday):
    """The scan 20 s ago and the online confirmations share one local day (not so right after midnight)."""
    merchant = merchant_by_public_id(public_id=shop(daily_capacity=5).public_id)
    till = Counter(staff=staff_of(merchant))
    online = [started_card() for _ in range(5)]
    offline_member = started_card()
    scanned = timezone.now() - timedelta(seconds=20)
    record = OfflineRecord(
        client_id=uuid.uuid4(), code=code_of(offline_member, at=scanned).qr, bill_fen=5000, scanned_at=scanned
    )

    def confirm(member):
        code = code_of(member).qr
        return lambda: services.redemption_confirm(merchant=merchant, counter=till, bill=5000, code=code) and "ok"

    def sync():
        kept = services.offline_sync(records=[record], merchant=merchant, counter=till)[0]
        return (kept.outcome, tuple(kept.reasons))

    *answers, offline = together([*(confirm(m) for m in online), sync])
    oks = answers.count("ok")
    if offline == ("accepted", ()):  # it took a place first: one online confirmation found the shop full
        assert sorted(answers) == ["merchant_at_capacity"] + ["ok"] * 4
    else:  # the five took every place first: the offline one still counts, flagged
        assert offline == ("flagged", ("merchant_at_capacity",)) and oks == 5
    day = MerchantDay.objects.get(merchant=merchant)
    assert day.redemptions_count == oks + 1 == Redemption.objects.count()
