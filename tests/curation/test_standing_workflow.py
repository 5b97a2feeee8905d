"""The standing workflow: warn, suspend, remove (淘汰), clear (by a curator, by an appeal, automatically),
and probation held back while a finding is open."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.errors import DomainError
from curation.models import Appeal, Finding, RemovalRule
from curation.standing import services as standing
from merchants.models import Merchant
from merchants.selectors import catalogue, redeem_refusal
from merchants.services import merchant_promote_due
from tests.factories import MerchantFactory, UserFactory
from tests.factories.redemptions import member_with_card
from tests.factories.standing import curator_user, history, owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _rules():
    standing.removal_rules_install_defaults()


@pytest.fixture
def day():
    return standing.evaluation_day()


@pytest.fixture
def curator():
    return curator_user()


def warned_shop(day, **fields):
    shop = MerchantFactory(external_rating=Decimal("3.5"), **fields)
    owner = owner_of(shop)
    standing.removal_rules_evaluate(day=day)
    shop.refresh_from_db()
    return shop, owner, Finding.objects.get(merchant=shop)


@pytest.mark.clock
def test_curator_removes_a_warned_merchant_and_it_vanishes(day, curator):
    shop, owner, finding = warned_shop(day)
    recent, old = member_with_card(), member_with_card()
    history(recent, shop, on=timezone.localdate() - timedelta(days=10))
    history(old, shop, on=timezone.localdate() - timedelta(days=120))
    assert catalogue().filter(pk=shop.pk).exists() is False  # warned shops are already out of the catalogue
    standing.finding_remove(finding=finding, actor=curator, reason="多次拒收会员卡，整改无效")
    shop.refresh_from_db()
    finding.refresh_from_db()
    assert shop.state == Merchant.State.REMOVED and shop.removed_at is not None
    assert finding.state == Finding.State.REMOVED and finding.decided_by == curator
    assert not catalogue().filter(pk=shop.pk).exists()
    assert redeem_refusal(merchant=shop, at=timezone.now()) == "merchant_not_active"
    assert owner.notifications.filter(kind="curation.merchant_removed").exists()
    assert recent.notifications.filter(kind="curation.merchant_removed_member").exists()
    assert not old.notifications.filter(kind="curation.merchant_removed_member").exists()
    assert not shop.has_open_findings


def test_removing_without_a_reason_is_refused_and_changes_nothing(day, curator):
    shop, _, finding = warned_shop(day)
    for reason in ("", "   "):
        with pytest.raises(DomainError) as exc:
            standing.finding_remove(finding=finding, actor=curator, reason=reason)
        assert exc.value.code == "finding_reason_required"
    shop.refresh_from_db()
    finding.refresh_from_db()
    assert shop.state == Merchant.State.WARNED and finding.state == Finding.State.OPEN


def test_only_curators_decide_findings(day):
    _, owner, finding = warned_shop(day)
    with pytest.raises(DomainError) as exc:
        standing.finding_remove(finding=finding, actor=owner, reason="我自己删")
    assert exc.value.code == "curator_required"


def test_suspend_then_clear_lists_the_merchant_again(day, curator):
    shop, owner, finding = warned_shop(day)
    standing.finding_suspend(finding=finding, actor=curator, reason="等待整改")
    shop.refresh_from_db()
    assert shop.state == Merchant.State.SUSPENDED
    assert redeem_refusal(merchant=shop, at=timezone.now()) == "merchant_not_active"
    standing.finding_clear(finding=finding, actor=curator, reason="评分已回升，现场复查合格")
    shop.refresh_from_db()
    assert shop.state == Merchant.State.LISTED and not shop.has_open_findings
    assert owner.notifications.filter(kind="curation.finding_cleared").exists()


def test_a_decided_finding_cannot_be_decided_again(day, curator):
    _, _, finding = warned_shop(day)
    standing.finding_clear(finding=finding, actor=curator, reason="误报")
    with pytest.raises(DomainError) as exc:
        standing.finding_remove(finding=finding, actor=curator, reason="再删")
    assert exc.value.code == "finding_closed"


def test_warning_clears_itself_when_the_rule_is_no_longer_breached_by_fix_by(day):
    shop, _, finding = warned_shop(day)
    Merchant.objects.filter(pk=shop.pk).update(external_rating=Decimal("4.6"))
    standing.removal_rules_evaluate(day=finding.fix_by - timedelta(days=1))
    finding.refresh_from_db()
    assert finding.state == Finding.State.OPEN  # not before the fix-by date
    run = standing.removal_rules_evaluate(day=finding.fix_by)
    finding.refresh_from_db()
    shop.refresh_from_db()
    assert run.findings_cleared == 1
    assert finding.state == Finding.State.CLEARED and finding.cleared_automatically
    assert shop.state == Merchant.State.LISTED


def test_warning_still_breached_on_fix_by_stays_open(day):
    _shop, _, finding = warned_shop(day)
    standing.removal_rules_evaluate(day=finding.fix_by)
    finding.refresh_from_db()
    assert finding.state == Finding.State.OPEN and finding.last_breached_on == finding.fix_by


def test_merchant_with_two_findings_is_listed_only_when_both_close(day, curator):
    shop, _, rating = warned_shop(day)
    other = standing.finding_open(
        merchant=shop,
        rule=RemovalRule.objects.get(kind="licence_expired"),
        evidence={"licences": []},
        day=day,
    )
    standing.finding_clear(finding=rating, actor=curator, reason="评分恢复")
    shop.refresh_from_db()
    assert shop.state == Merchant.State.WARNED and shop.has_open_findings
    standing.finding_clear(finding=other, actor=curator, reason="已提交新执照")
    shop.refresh_from_db()
    assert shop.state == Merchant.State.LISTED and not shop.has_open_findings


def test_probation_merchant_with_a_finding_is_not_promoted_until_resolved(day, curator):
    past = timezone.now() - timedelta(days=1)
    shop, _, finding = warned_shop(day, state=Merchant.State.PROBATION, probation_until=past)
    assert shop.state == Merchant.State.PROBATION and shop.has_open_findings
    assert merchant_promote_due() == []
    standing.finding_clear(finding=finding, actor=curator, reason="整改完成")
    assert merchant_promote_due() == [shop.pk]


# --- appeals -----------------------------------------------------------------------------------------------


def test_owner_appeals_once_and_curator_accepts(day, curator):
    shop, owner, finding = warned_shop(day)
    appeal = standing.appeal_file(finding=finding, actor=owner, text="大众点评评分统计有误，已申诉")
    with pytest.raises(DomainError) as exc:
        standing.appeal_file(finding=finding, actor=owner, text="再申诉一次")
    assert exc.value.code == "appeal_already_filed"
    assert list(standing_queue()) == [appeal]
    standing.appeal_decide(appeal=appeal, actor=curator, accept=True, note="核实后评分为 4.6")
    finding.refresh_from_db()
    shop.refresh_from_db()
    assert finding.state == Finding.State.CLEARED and shop.state == Merchant.State.LISTED


def test_rejected_appeal_keeps_the_finding_and_tells_the_owner(day, curator):
    _, owner, finding = warned_shop(day)
    appeal = standing.appeal_file(finding=finding, actor=owner, text="我们不同意")
    standing.appeal_decide(appeal=appeal, actor=curator, accept=False, note="证据充分")
    finding.refresh_from_db()
    assert finding.state == Finding.State.OPEN
    assert owner.notifications.filter(kind="curation.appeal_rejected").exists()
    with pytest.raises(DomainError) as exc:
        standing.appeal_decide(appeal=appeal, actor=curator, accept=True, note="改主意")
    assert exc.value.code == "appeal_closed"


def test_only_the_owner_may_appeal_and_with_a_text(day):
    _, owner, finding = warned_shop(day)
    with pytest.raises(DomainError) as exc:
        standing.appeal_file(finding=finding, actor=UserFactory(), text="路人")
    assert exc.value.code == "owner_required"
    with pytest.raises(DomainError) as exc:
        standing.appeal_file(finding=finding, actor=owner, text="  ")
    assert exc.value.code == "appeal_text_required"
    assert not Appeal.objects.exists()


def standing_queue():
    from curation.standing.selectors import appeals_queue

    return appeals_queue()


def test_members_who_saved_a_note_about_a_removed_shop_are_told(day, curator):
    from redemptions.models.attribution import Touch
    from tests.factories.attribution import NoteFactory, touch

    shop, _owner, finding = warned_shop(day)
    note = NoteFactory(tags=[shop])
    saver, viewer, stale_saver = UserFactory(), UserFactory(), UserFactory()
    touch(note, saver, kind=Touch.Kind.SAVE, ago=timedelta(days=5))
    touch(note, viewer, kind=Touch.Kind.VIEW, ago=timedelta(days=5))
    touch(note, stale_saver, kind=Touch.Kind.SAVE, ago=timedelta(days=200))
    standing.finding_remove(finding=finding, actor=curator, reason="卫生问题，整改无效")
    assert saver.notifications.filter(kind="curation.merchant_removed_member").exists()
    assert not viewer.notifications.filter(kind="curation.merchant_removed_member").exists()
    assert not stale_saver.notifications.filter(kind="curation.merchant_removed_member").exists()
