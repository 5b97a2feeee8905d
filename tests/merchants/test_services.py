from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from core.errors import DomainError
from core.models import AuditEntry, Notification
from merchants import selectors, services
from merchants.models import Merchant, MerchantStaff, OfferChange, PartnerGrant
from tests.factories import (
    MerchantFactory,
    MerchantStaffFactory,
    PartnerApplicationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owned():
    merchant = MerchantFactory()
    owner = MerchantStaffFactory(merchant=merchant, role=MerchantStaff.Role.OWNER).user
    return merchant, owner


def test_listing_states_follow_the_state_machine_and_are_audited():
    merchant = MerchantFactory(state=Merchant.State.PROBATION)
    services.merchant_transition(merchant=merchant, target="warned", actor="curator", reason="投诉偏多")
    services.merchant_transition(merchant=merchant, target="listed", actor="curator", reason="已整改")
    with pytest.raises(DomainError) as info:
        services.merchant_transition(merchant=merchant, target="probation", actor="curator", reason="x")
    assert info.value.code == "invalid_transition"
    services.merchant_transition(merchant=merchant, target="removed", actor="curator", reason="停业")
    merchant.refresh_from_db()
    assert merchant.state == "removed" and merchant.removed_at is not None
    with pytest.raises(DomainError):
        services.merchant_transition(merchant=merchant, target="listed", actor="curator", reason="x")
    assert AuditEntry.objects.filter(action="merchants.merchant_transition").count() == 3


def test_warning_needs_a_reason():
    merchant = MerchantFactory()
    with pytest.raises(DomainError) as info:
        services.merchant_transition(merchant=merchant, target="warned", actor="curator", reason=" ")
    assert info.value.code == "merchant_reason_required"


def test_promotion_after_probation_skips_open_findings_and_excluded_merchants():
    now = timezone.now()
    due = MerchantFactory(state="probation", probation_until=now - timedelta(hours=1))
    flagged = MerchantFactory(state="probation", probation_until=now - timedelta(days=1))
    excluded = MerchantFactory(state="probation", probation_until=now - timedelta(days=1))
    young = MerchantFactory(state="probation", probation_until=now + timedelta(days=3))
    services.merchant_set_open_findings(merchant=flagged, value=True, actor="system:rules", reason="complaints")
    promoted = services.merchant_promote_due(now=now, exclude_ids=[excluded.pk])
    assert promoted == [due.pk]
    states = dict(Merchant.objects.values_list("pk", "state"))
    assert states == {due.pk: "listed", flagged.pk: "probation", excluded.pk: "probation", young.pk: "probation"}


@pytest.mark.clock
def test_redeem_refusal_answers_state_and_pause_in_the_city_day():
    merchant = MerchantFactory(state="listed")
    at = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 01:00 on the 24th in Shanghai
    assert selectors.local_date(merchant=merchant, at=at) == date(2026, 11, 24)
    assert selectors.redeem_refusal(merchant=merchant, at=at) is None
    merchant.paused_on = date(2026, 11, 24)
    assert selectors.redeem_refusal(merchant=merchant, at=at) == "merchant_paused"
    assert selectors.redeem_refusal(merchant=merchant, at=at + timedelta(days=1)) is None
    for state in ("warned", "suspended", "removed"):
        merchant.state = state
        assert selectors.redeem_refusal(merchant=merchant, at=at) == "merchant_not_active"


@pytest.mark.clock
def test_pause_today_uses_the_local_day_and_any_staff_may_pause(owned):
    merchant, _owner = owned
    staff = MerchantStaffFactory(merchant=merchant).user
    at = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    services.merchant_pause_today(merchant=merchant, actor=staff, paused=True, now=at)
    merchant.refresh_from_db()
    assert merchant.paused_on == date(2026, 11, 24)
    with pytest.raises(DomainError):
        services.merchant_pause_today(merchant=merchant, actor=UserFactory(), paused=False)


def test_raising_the_offer_applies_at_once_and_lowering_waits_for_review(owned):
    merchant, owner = owned
    change = services.offer_change_request(
        merchant=merchant, actor=owner, rate_bp=1500, cap_fen=None, min_bill_fen=None
    )
    assert change.state == "applied"
    merchant.offer.refresh_from_db()
    assert merchant.offer.rate_bp == 1500
    lower = services.offer_change_request(merchant=merchant, actor=owner, rate_bp=1100, cap_fen=None, min_bill_fen=None)
    assert lower.state == "pending"
    merchant.offer.refresh_from_db()
    assert merchant.offer.rate_bp == 1500
    with pytest.raises(DomainError) as info:
        services.offer_change_request(merchant=merchant, actor=owner, rate_bp=1200, cap_fen=None, min_bill_fen=None)
    assert info.value.code == "offer_change_pending"
    # a new cap counts as lowering
    assert services.offer_is_lower(offer=merchant.offer, rate_bp=1500, cap_fen=2000, min_bill_fen=None)
    services.offer_change_decide(change=lower, approve=True, actor="curator", note="同意")
    merchant.offer.refresh_from_db()
    assert merchant.offer.rate_bp == 1100
    assert Notification.objects.filter(user=owner, kind="merchants.offer_change").count() == 1
    with pytest.raises(DomainError) as info:
        services.offer_change_decide(change=lower, approve=False, actor="curator")
    assert info.value.code == "invalid_transition"


def test_offer_below_ten_percent_and_staff_changes_are_refused(owned):
    merchant, owner = owned
    with pytest.raises(DomainError) as info:
        services.offer_change_request(merchant=merchant, actor=owner, rate_bp=900, cap_fen=None, min_bill_fen=None)
    assert info.value.fields["offer_rate_bp"][0]["code"] == "offer_rate_too_low"
    staff = MerchantStaffFactory(merchant=merchant).user
    with pytest.raises(DomainError) as info:
        services.offer_change_request(merchant=merchant, actor=staff, rate_bp=2000, cap_fen=None, min_bill_fen=None)
    assert info.value.code == "staff_not_owner"
    assert not OfferChange.objects.exists()


def test_capacity_setting_is_bounded(owned):
    merchant, owner = owned
    services.merchant_capacity_set(merchant=merchant, actor=owner, daily_capacity=120)
    merchant.refresh_from_db()
    assert merchant.daily_capacity == 120
    with pytest.raises(DomainError) as info:
        services.merchant_capacity_set(merchant=merchant, actor=owner, daily_capacity=0)
    assert info.value.fields["daily_capacity"][0]["code"] == "capacity_out_of_range"


def test_invite_creates_or_finds_the_person_and_notifies_them(owned):
    merchant, owner = owned
    staff = services.staff_invite(merchant=merchant, actor=owner, email="New.Barista@Example.com", role="staff")
    assert staff.user.email == "new.barista@example.com" and not staff.user.has_usable_password()
    assert Notification.objects.filter(user=staff.user, kind="merchants.staff_invite").exists()
    existing = UserFactory()
    services.staff_invite(merchant=merchant, actor=owner, email=existing.email.upper(), role="owner")
    assert MerchantStaff.objects.get(merchant=merchant, user=existing).role == "owner"
    with pytest.raises(DomainError) as info:
        services.staff_invite(merchant=merchant, actor=owner, email=existing.email, role="staff")
    assert info.value.code == "staff_already_member"
    with pytest.raises(DomainError) as info:
        services.staff_invite(merchant=merchant, actor=owner, email="not an address", role="boss")
    assert set(info.value.fields) == {"email", "role"}


def test_the_last_owner_cannot_be_removed(owned):
    merchant, owner = owned
    own_row = MerchantStaff.objects.get(merchant=merchant, user=owner)
    with pytest.raises(DomainError) as info:
        services.staff_remove(staff=own_row, actor=owner)
    assert info.value.code == "staff_last_owner"
    helper = MerchantStaffFactory(merchant=merchant)
    services.staff_remove(staff=helper, actor=owner)
    assert not MerchantStaff.objects.filter(pk=helper.pk).exists()


def test_staff_selectors_and_partner_grants(owned):
    merchant, owner = owned
    other = MerchantFactory()
    assert selectors.staff_membership(user=owner, merchant=merchant).is_owner
    assert selectors.staff_membership(user=owner, merchant=other) is None
    assert list(selectors.merchants_of_staff(user=owner)) == [merchant]
    app = PartnerApplicationFactory()
    PartnerGrant.objects.create(merchant=merchant, application=app, scopes="redemptions:write")
    assert selectors.partner_granted(application=app, merchant=merchant, scope="redemptions:write")
    assert not selectors.partner_granted(application=app, merchant=merchant, scope="insights:read")
    assert not selectors.partner_granted(application=app, merchant=other, scope="redemptions:write")


def test_promotion_hold_is_set_once_and_audited():
    merchant = MerchantFactory()
    services.merchant_set_promotion_hold(merchant=merchant, hold=True, actor="system:surge", reason="surge")
    services.merchant_set_promotion_hold(merchant=merchant, hold=True, actor="system:surge", reason="surge")
    merchant.refresh_from_db()
    assert merchant.promotion_hold
    assert AuditEntry.objects.filter(action="merchants.merchant_promotion_hold").count() == 1
