"""Tap-to-claim (碰一碰) and the surge detector."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.errors import DomainError
from merchants.models import Merchant
from redemptions.counter import services
from redemptions.models import Channel, Claim, Redemption, SurgeFlag
from tests.factories import UserFactory
from tests.factories.redemptions import member_with_card

pytestmark = pytest.mark.django_db


def code_of_refusal(fn, **kwargs) -> str:
    with pytest.raises(DomainError) as excinfo:
        fn(**kwargs)
    return excinfo.value.code


def test_claim_flow_through_the_api(merchant, staff, member):
    member_api, staff_api = APIClient(), APIClient()
    member_api.force_login(member)
    staff_api.force_login(staff)
    created = member_api.post(reverse("api-claim-create"), {"merchant": str(merchant.public_id), "bill_fen": 8800})
    assert created.status_code == 201, created.content
    claim_id = created.json()["id"]
    assert created.json()["member"] == member.masked_name and created.json()["charge_fen"] == 7744
    pending = staff_api.get(reverse("api-claim-pending"), {"merchant": str(merchant.public_id)}).json()["results"]
    assert [c["id"] for c in pending] == [claim_id]
    confirmed = staff_api.post(reverse("api-claim-confirm", args=[claim_id]))
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    assert member_api.get(reverse("api-claim-status", args=[claim_id])).json()["status"] == "confirmed"
    assert Redemption.objects.get().channel == Channel.MEMBER_CLAIM
    again = staff_api.post(reverse("api-claim-confirm", args=[claim_id]))
    assert again.status_code == 409 and again.json()["code"] == "claim_not_pending"


def test_claims_expire_and_cannot_be_confirmed_then(merchant, staff, member):
    claim = services.claim_create(member=member, merchant=merchant, bill="30")
    late = timezone.now() + timedelta(minutes=4)
    assert code_of_refusal(services.claim_confirm, claim=claim, merchant=merchant, staff=staff, at=late) == (
        "claim_expired"
    )
    assert Claim.objects.get().status == Claim.Status.EXPIRED
    assert not Redemption.objects.exists()


def test_rejected_claim_leaves_no_redemption_and_other_staff_cannot_act(merchant, staff, member):
    from tests.factories.redemptions import shop, staff_of

    claim = services.claim_create(member=member, merchant=merchant, bill="30")
    stranger = staff_of(shop())
    assert code_of_refusal(services.claim_reject, claim=claim, merchant=merchant, staff=stranger) == (
        "staff_not_authorized"
    )
    services.claim_reject(claim=claim, merchant=merchant, staff=staff, reason="not at the counter")
    assert Claim.objects.get().status == Claim.Status.REJECTED and not Redemption.objects.exists()


def test_a_new_claim_replaces_the_pending_one(merchant, member):
    first = services.claim_create(member=member, merchant=merchant, bill="30")
    services.claim_create(member=member, merchant=merchant, bill="35")
    first.refresh_from_db()
    assert first.status == Claim.Status.CANCELLED
    assert Claim.objects.filter(status=Claim.Status.PENDING).count() == 1


def test_claim_is_refused_at_once_for_an_inactive_card(merchant):
    assert code_of_refusal(services.claim_create, member=UserFactory(), merchant=merchant, bill="30") == (
        "membership_inactive"
    )


def test_claims_expire_job(merchant, member):
    services.claim_create(member=member, merchant=merchant, bill="30")
    assert services.claims_expire(now=timezone.now() + timedelta(minutes=10)) == 1


def _redemptions(merchant, staff, at, count):
    """``count`` confirmed redemptions at ``at`` (different members), written through the service."""
    from tests.factories.redemptions import code_of

    for _ in range(count):
        member = member_with_card()
        from members.models import Subscription

        Subscription.objects.filter(user=member).update(period_start=at - timedelta(days=60))
        services.redemption_confirm(
            merchant=merchant, counter=services.Counter(staff=staff), bill=3000, code=code_of(member, at=at).qr, at=at
        )


def test_surge_flags_the_shop_holds_promotion_and_tells_curators(merchant, staff):
    Merchant.objects.filter(pk=merchant.pk).update(daily_capacity=500)
    merchant.refresh_from_db()
    curator = UserFactory()
    curator.groups.add(Group.objects.get_or_create(name="curator")[0])
    now = timezone.now()
    _redemptions(merchant, staff, now - timedelta(days=7, minutes=20), 3)  # the usual: ~3 in that hour a week
    _redemptions(merchant, staff, now - timedelta(minutes=20), services.SURGE_MINIMUM)
    flags = services.surge_detect(now=now)
    assert [f.merchant_id for f in flags] == [merchant.pk]
    merchant.refresh_from_db()
    assert merchant.promotion_hold
    assert curator.notifications.filter(kind="redemptions.surge").exists()
    assert services.surge_detect(now=now) == []  # one open flag per merchant
    services.surge_clear(flag=flags[0], actor=curator, note="checked with the shop")
    merchant.refresh_from_db()
    assert not merchant.promotion_hold and SurgeFlag.objects.get().cleared_by == curator


def test_a_busy_shop_at_its_usual_rate_is_not_a_surge(merchant, staff):
    Merchant.objects.filter(pk=merchant.pk).update(daily_capacity=500, member_daily_limit=50)
    merchant.refresh_from_db()
    now = timezone.now()
    for week in (1, 2, 3):
        _redemptions(merchant, staff, now - timedelta(days=7 * week, minutes=20), 20)
    _redemptions(merchant, staff, now - timedelta(minutes=20), services.SURGE_MINIMUM)
    assert services.surge_detect(now=now) == []


def test_a_quiet_shop_below_the_minimum_is_not_a_surge(merchant, staff):
    _redemptions(merchant, staff, timezone.now() - timedelta(minutes=5), 5)
    assert services.surge_detect() == []
