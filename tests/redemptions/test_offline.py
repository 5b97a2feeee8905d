"""Redemptions accepted offline at the counter and synced later: judged by the scan's time, once per code,
limits and capacity counted (flagged, not refused), conflicts and forgeries recorded."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from members.models import Subscription
from members.services.subscriptions import subscriptions_advance
from merchants.models import MerchantDay
from redemptions.counter import codes, services
from redemptions.counter.services import OfflineRecord
from redemptions.models import Channel, MemberDay, OfflineRedemption, Redemption, RedemptionOutbox, RefusedScan
from tests.factories.redemptions import code_of, member_with_card

pytestmark = pytest.mark.django_db

Outcome = OfflineRedemption.Outcome


def carded():
    """A member whose card started two days ago (scans in the last hours fall inside it)."""
    person = member_with_card()
    Subscription.objects.filter(user=person).update(period_start=F("period_start") - timedelta(days=2))
    return person


@pytest.fixture
def member(db):
    return carded()


def record(member, *, scanned_at, bill_fen=8600, code=None, client_id=None):
    return OfflineRecord(
        client_id=client_id or uuid.uuid4(),
        code=code or code_of(member, at=scanned_at).qr,
        bill_fen=bill_fen,
        scanned_at=scanned_at,
    )


def sync(merchant, counter, *records, now=None):
    return services.offline_sync(records=list(records), merchant=merchant, counter=counter, now=now)


def test_a_code_accepted_offline_becomes_a_redemption_at_the_scan_time(merchant, counter, member):
    scanned = timezone.now() - timedelta(hours=3)
    [kept] = sync(merchant, counter, record(member, scanned_at=scanned))
    assert (kept.outcome, kept.reasons) == (Outcome.ACCEPTED, [])
    redemption = kept.redemption
    assert (redemption.channel, redemption.confirmed_at, redemption.staff) == (
        Channel.STAFF_OFFLINE,
        scanned,
        counter.staff,
    )
    assert (redemption.bill_fen, redemption.discount_fen, redemption.charge_fen) == (8600, 1032, 7568)
    day = MerchantDay.objects.get(merchant=merchant, local_date=redemption.local_date)
    assert (day.redemptions_count, day.confirmed_count, day.gmv_fen) == (1, 1, 8600)
    assert Subscription.objects.get(user=member).savings_fen == 1032
    assert RedemptionOutbox.objects.filter(redemption=redemption, event="confirmed").count() == 1
    # The scanner sends its queue again (its answer was lost): the same row, no second redemption.
    [again] = sync(merchant, counter, record(member, scanned_at=scanned, client_id=kept.client_id))
    assert again.pk == kept.pk and Redemption.objects.count() == 1


def test_synced_after_the_card_expired_it_counts_if_the_card_was_entitled_at_the_scan(merchant, counter, member):
    card = Subscription.objects.get(user=member)
    scanned = card.period_end - timedelta(minutes=30)
    later = card.period_end + timedelta(hours=2)
    assert subscriptions_advance(now=later)["expired"] == 1
    card.refresh_from_db()
    assert card.state == Subscription.State.EXPIRED
    [kept] = sync(merchant, counter, record(member, scanned_at=scanned), now=later)
    assert kept.outcome == Outcome.ACCEPTED and kept.redemption.subscription_id == card.pk
    # A scan after the end (a phone with a stale card and a fast clock) is a conflict: no redemption.
    [after] = sync(merchant, counter, record(member, scanned_at=card.period_end + timedelta(minutes=5)), now=later)
    assert (after.outcome, after.reasons, after.redemption) == (Outcome.CONFLICT, ["membership_inactive"], None)
    assert Redemption.objects.count() == 1


def test_a_forged_record_is_refused_and_kept_for_review(merchant, counter, member):
    scanned = timezone.now() - timedelta(minutes=10)
    genuine = code_of(member, at=scanned).qr
    raw = bytearray(codes._unb32(genuine[2:]))
    raw[-70] ^= 0x01  # the signed bill of rights: the name or the card's end
    forged = "RC" + codes._b32(bytes(raw))
    typed = code_of(member, at=scanned).numeric
    results = sync(
        merchant,
        counter,
        record(member, scanned_at=scanned, code=forged),
        record(member, scanned_at=scanned, code=typed),
        record(member, scanned_at=scanned, code="RC" + "A" * 150),
    )
    assert [(r.outcome, r.reasons) for r in results] == [(Outcome.REFUSED, ["code_invalid"])] * 3
    assert Redemption.objects.count() == 0
    assert RefusedScan.objects.filter(step="offline", reason="code_invalid", merchant=merchant).count() == 3


def test_a_code_not_live_at_its_scan_time_or_a_scan_too_old_is_refused(merchant, counter, member):
    now = timezone.now()
    code = code_of(member, at=now - timedelta(hours=2)).qr
    [stale] = sync(merchant, counter, record(member, scanned_at=now - timedelta(minutes=30), code=code))
    assert (stale.outcome, stale.reasons) == (Outcome.REFUSED, ["code_expired"])
    [old] = sync(merchant, counter, record(member, scanned_at=now - timedelta(hours=25)))
    assert (old.outcome, old.reasons) == (Outcome.REFUSED, ["offline_too_late"])
    [future] = sync(merchant, counter, record(member, scanned_at=now + timedelta(hours=1)))
    assert (future.outcome, future.reasons) == (Outcome.REFUSED, ["offline_scan_in_future"])
    # A scanner whose clock ran two minutes slow: within the allowed skew.
    scanned = now - timedelta(minutes=5)
    skewed = record(member, scanned_at=scanned - timedelta(minutes=2), code=code_of(member, at=scanned).qr)
    assert sync(merchant, counter, skewed)[0].outcome == Outcome.ACCEPTED


def test_over_the_limit_or_the_capacity_it_counts_and_is_flagged(merchant, counter, member):
    merchant.daily_capacity = 1
    merchant.save(update_fields=["daily_capacity"])
    now = timezone.now()
    services.redemption_confirm(merchant=merchant, counter=counter, bill=5000, code=code_of(member, at=now).qr)
    other = carded()
    scanned = now + timedelta(seconds=30)
    first, second = sync(
        merchant,
        counter,
        record(member, scanned_at=scanned, code=code_of(member, at=scanned, ahead=1).qr),
        record(other, scanned_at=scanned + timedelta(seconds=1)),
        now=scanned + timedelta(minutes=1),
    )
    assert (first.outcome, sorted(first.reasons)) == (
        Outcome.FLAGGED,
        ["member_limit_reached", "merchant_at_capacity"],
    )
    assert (second.outcome, second.reasons) == (Outcome.FLAGGED, ["merchant_at_capacity"])
    day = MerchantDay.objects.get(merchant=merchant)
    assert (day.redemptions_count, day.confirmed_count) == (3, 3)  # counted past the capacity
    assert MemberDay.objects.get(member=member, merchant=merchant).count == 2
    assert Redemption.objects.filter(status="confirmed").count() == 3


def test_a_code_used_elsewhere_is_a_conflict_but_the_same_scan_confirmed_online_is_not(merchant, counter, member):
    now = timezone.now()
    code = code_of(member, at=now).qr
    online = services.redemption_confirm(merchant=merchant, counter=counter, bill=8600, code=code)
    # The confirmation reached the server but its answer was lost: the scanner kept the record.
    [lost] = sync(merchant, counter, record(member, scanned_at=now, code=code, bill_fen=8600))
    assert (lost.outcome, lost.redemption_id) == (Outcome.ACCEPTED, online.pk)
    # The same code with another bill: used elsewhere.
    [other] = sync(merchant, counter, record(member, scanned_at=now, code=code, bill_fen=1200))
    assert (other.outcome, other.reasons, other.redemption) == (Outcome.CONFLICT, ["code_already_used"], None)
    assert Redemption.objects.count() == 1


def test_switched_off_or_paused_it_still_counts_flagged(local_midday, merchant, counter, member, staff):
    """Scans of the last minute fall on today, when the shop is paused (not so right after midnight)."""
    from merchants.services import merchant_pause_today

    merchant.offline_accept = False
    merchant.save(update_fields=["offline_accept"])
    [kept] = sync(merchant, counter, record(member, scanned_at=timezone.now() - timedelta(minutes=1)))
    assert (kept.outcome, kept.reasons) == (Outcome.FLAGGED, ["offline_switched_off"])
    merchant_pause_today(merchant=merchant, actor=staff, paused=True)
    other = carded()
    [paused] = sync(merchant, counter, record(other, scanned_at=timezone.now() - timedelta(seconds=10)))
    assert (paused.outcome, paused.reasons) == (Outcome.FLAGGED, ["merchant_paused", "offline_switched_off"])


def test_the_sync_endpoint_is_for_the_shops_counter(staff_client, client, merchant, member):
    scanned = timezone.now() - timedelta(minutes=2)
    payload = {
        "merchant": str(merchant.public_id),
        "records": [
            {"id": str(uuid.uuid4()), "code": code_of(member, at=scanned).qr, "bill_fen": 8600, "scanned_at": scanned}
        ],
    }
    client.force_login(member)
    refused = client.post(reverse("api-redemption-offline"), payload, content_type="application/json")
    assert refused.status_code == 403 and Redemption.objects.count() == 0
    answer = staff_client.post(reverse("api-redemption-offline"), payload, format="json")
    assert answer.status_code == 200, answer.content
    [result] = answer.json()["results"]
    assert (result["outcome"], result["discount_fen"]) == ("accepted", 1032)
    assert result["id"] == payload["records"][0]["id"]
    too_many = {**payload, "records": payload["records"] * 51}
    assert staff_client.post(reverse("api-redemption-offline"), too_many, format="json").status_code == 400


def test_conflicts_are_shown_to_the_owner_and_fed_to_curation(local_midday, client, merchant, counter, member):
    """The scan ten minutes ago and the online redemption now fall on one local day (the member's limit)."""
    from curation.models import RemovalRule
    from curation.standing import services as standing
    from curation.standing.rules import EVALUATORS
    from tests.factories.standing import owner_of

    scanned = timezone.now() - timedelta(minutes=10)
    code = code_of(member, at=scanned).qr
    services.redemption_confirm(merchant=merchant, counter=counter, bill=5000, code=code_of(member).qr)
    results = sync(
        merchant,
        counter,
        *[record(member, scanned_at=scanned + timedelta(seconds=i), code=code, bill_fen=1000 + i) for i in range(3)],
    )
    assert [r.outcome for r in results] == [Outcome.FLAGGED, Outcome.CONFLICT, Outcome.CONFLICT]
    assert results[0].reasons == ["member_limit_reached"]
    client.force_login(owner_of(merchant))
    page = client.get(reverse("redemptions:dashboard", args=[merchant.public_id])).content.decode()
    assert page.count("dash-offline-conflict") == 2 and "此码已被使用" not in page
    assert "会员码已被使用过" in page and "会员当天已在本店用过小红卡" in page
    standing.removal_rules_install_defaults()
    rule = RemovalRule.objects.get(kind=RemovalRule.Kind.OFFLINE_CONFLICTS, version=1)
    day = standing.evaluation_day(now=timezone.now() + timedelta(days=1))
    assert merchant.pk not in EVALUATORS[rule.kind](rule, day)  # two conflicts: below the threshold of three
    another = carded()
    scanned = timezone.now() - timedelta(minutes=5)
    used = code_of(another, at=scanned).qr
    services.redemption_confirm(merchant=merchant, counter=counter, bill=5000, code=used, at=scanned)
    assert sync(merchant, counter, record(another, scanned_at=scanned, code=used))[0].outcome == Outcome.CONFLICT
    evidence = EVALUATORS[rule.kind](rule, day)[merchant.pk]
    assert evidence["offline_conflicts"] == 3 and evidence["conflicts"][0]["reason"] == "code_already_used"
