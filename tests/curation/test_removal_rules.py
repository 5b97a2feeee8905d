"""Removal rules (淘汰机制): each rule on the boundary values of its thresholds, evidence, and the daily
evaluation run twice or killed and re-run."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.errors import DomainError
from curation.models import EvaluationRun, Finding, RemovalRule
from curation.standing import services as standing
from curation.standing.rules import EVALUATORS, day_start
from curation.standing.services import evaluation, findings
from merchants.models import Merchant
from redemptions.models import Redemption
from tests.factories import MerchantFactory
from tests.factories.redemptions import member_with_card
from tests.factories.standing import history, licence, owner_of, redemptions_for, surge_flag, upheld

pytestmark = pytest.mark.django_db

Kind = RemovalRule.Kind


@pytest.fixture(autouse=True)
def _rules(request):
    standing.removal_rules_install_defaults()


@pytest.fixture
def day():
    return standing.evaluation_day()


def rule(kind: str) -> RemovalRule:
    return RemovalRule.objects.get(kind=kind, version=1)


def evaluate(kind: str, day) -> dict:
    return EVALUATORS[kind](rule(kind), day)


def noon(day, days_before: int):
    return day_start(day - timedelta(days=days_before)) + timedelta(hours=12)


# --- complaint rate: > 5% of redemptions over 30 days, with at least 20 redemptions ----------------------


@pytest.mark.parametrize(
    ("redemptions", "complaints", "breach"),
    [
        (20, 1, False),  # exactly 5%: not above
        (20, 2, True),  # 10%
        (19, 5, False),  # too few redemptions to judge
        (40, 2, False),  # exactly 5% again
        (39, 2, True),  # 5.13%
    ],
)
def test_complaint_rate_boundaries(day, redemptions, complaints, breach):
    shop = MerchantFactory()
    redemptions_for(shop, redemptions, on=day - timedelta(days=3))
    for i in range(complaints):
        upheld(shop, at=noon(day, 2 + i))
    found = evaluate(Kind.COMPLAINT_RATE, day)
    assert (shop.pk in found) is breach
    if breach:
        evidence = found[shop.pk]
        assert evidence["redemptions"] == redemptions
        assert evidence["upheld_complaints"] == complaints
        assert len(evidence["complaints"]) == complaints
        assert evidence["max_rate_percent"] == 5.0


def test_complaint_rate_counts_only_the_window_and_confirmed_redemptions(day):
    shop = MerchantFactory()
    member = member_with_card()
    for _ in range(19):
        history(member, shop, on=day - timedelta(days=30))  # first day of the window
    history(member, shop, on=day - timedelta(days=31))  # before the window
    history(member, shop, on=day)  # the evaluation day itself is not complete
    history(member, shop, on=day - timedelta(days=1), status=Redemption.Status.VOIDED)
    upheld(shop, at=noon(day, 1))
    upheld(shop, at=noon(day, 1))
    assert evaluate(Kind.COMPLAINT_RATE, day) == {}  # only 19 counted redemptions
    history(member, shop, on=day - timedelta(days=1))
    assert shop.pk in evaluate(Kind.COMPLAINT_RATE, day)


# --- refused the card: two or more upheld in 30 days -----------------------------------------------------


def test_refused_card_needs_two_upheld_in_the_window(day):
    shop = MerchantFactory()
    upheld(shop, at=noon(day, 1), category="refused_card")
    upheld(shop, at=day_start(day - timedelta(days=30)) - timedelta(minutes=1), category="refused_card")  # outside
    upheld(shop, at=noon(day, 2), category="service")  # another category
    assert evaluate(Kind.REFUSED_CARD, day) == {}
    second = upheld(shop, at=day_start(day - timedelta(days=30)), category="refused_card")  # first instant inside
    found = evaluate(Kind.REFUSED_CARD, day)
    assert found[shop.pk]["upheld_refused_card"] == 2
    assert str(second.public_id) in found[shop.pk]["complaints"]


def test_refused_card_ignores_complaints_not_upheld(day):
    shop = MerchantFactory()
    upheld(shop, at=noon(day, 1), category="refused_card")
    other = upheld(shop, at=noon(day, 2), category="refused_card")
    other.outcome = "not_upheld"
    other.save(update_fields=["outcome"])
    assert evaluate(Kind.REFUSED_CARD, day) == {}


# --- rating floor ------------------------------------------------------------------------------------


def test_rating_floor_is_strictly_below(day):
    at_floor = MerchantFactory(external_rating=Decimal("4.0"))
    below = MerchantFactory(external_rating=Decimal("3.9"))
    unrated = MerchantFactory(external_rating=None)
    found = evaluate(Kind.RATING_FLOOR, day)
    assert below.pk in found and found[below.pk]["external_rating"] == "3.9"
    assert at_floor.pk not in found and unrated.pk not in found


# --- dormant: no redemptions for 60 days -----------------------------------------------------------------


def test_dormant_boundary_and_evidence(day):
    member = member_with_card()
    last_inside = MerchantFactory()
    last_outside = MerchantFactory()
    never = MerchantFactory()
    young = MerchantFactory()
    old = day_start(day - timedelta(days=61))
    Merchant.objects.filter(pk__in=[last_inside.pk, last_outside.pk, never.pk]).update(created_at=old)
    history(member, last_inside, on=day - timedelta(days=60))
    history(member, last_outside, on=day - timedelta(days=61))
    found = evaluate(Kind.DORMANT, day)
    assert last_inside.pk not in found
    assert found[last_outside.pk]["last_redemption_on"] == (day - timedelta(days=61)).isoformat()
    assert found[never.pk]["last_redemption_on"] is None
    assert young.pk not in found  # admitted less than 60 days ago


# --- licence expired --------------------------------------------------------------------------------------


@pytest.mark.clock
def test_licence_expired_the_day_before(day):
    expired = MerchantFactory()
    today = MerchantFactory()
    licence(expired, expires_on=day - timedelta(days=1))
    licence(today, expires_on=day)
    found = evaluate(Kind.LICENCE_EXPIRED, day)
    assert found[expired.pk]["licences"][0]["expired_on"] == (day - timedelta(days=1)).isoformat()
    assert today.pk not in found


# --- surge flags left unaddressed ------------------------------------------------------------------------


def test_surge_flags_open_more_than_a_day(day):
    late_and_open = MerchantFactory()
    one_open = MerchantFactory()
    cleared_on_time = MerchantFactory()
    cleared_late = MerchantFactory()
    surge_flag(late_and_open, at=noon(day, 5), cleared_after=timedelta(hours=30))
    surge_flag(late_and_open, at=noon(day, 3))  # still open (one open flag per shop at a time)
    for days_before in (3, 5):
        surge_flag(cleared_on_time, at=noon(day, days_before), cleared_after=timedelta(hours=24))  # exactly 24 h
        surge_flag(cleared_late, at=noon(day, days_before), cleared_after=timedelta(hours=25))
    surge_flag(one_open, at=noon(day, 3))
    found = evaluate(Kind.SURGE_UNADDRESSED, day)
    assert found[late_and_open.pk]["unaddressed_flags"] == 2
    assert found[cleared_late.pk]["unaddressed_flags"] == 2
    assert one_open.pk not in found and cleared_on_time.pk not in found


def test_rules_skip_suspended_and_removed_merchants(day):
    suspended = MerchantFactory(state=Merchant.State.SUSPENDED, external_rating=Decimal("3.0"))
    removed = MerchantFactory(state=Merchant.State.REMOVED, external_rating=Decimal("3.0"))
    found = evaluate(Kind.RATING_FLOOR, day)
    assert suspended.pk not in found and removed.pk not in found


# --- the daily evaluation --------------------------------------------------------------------------------


def test_a_new_version_of_a_rule_supersedes_the_old_one(day):
    shop = MerchantFactory(external_rating=Decimal("4.2"))
    RemovalRule.objects.create(kind=Kind.RATING_FLOOR, version=2, parameters={"min_rating": "4.3"})
    run = standing.removal_rules_evaluate(day=day)
    finding = Finding.objects.get(merchant=shop)
    assert (finding.rule_kind, finding.rule_version) == (Kind.RATING_FLOOR, 2)
    assert run.findings_created == 1


def test_evaluating_twice_on_the_same_day_creates_no_duplicate(day):
    shops = [MerchantFactory(external_rating=Decimal("3.5")) for _ in range(3)]
    first = standing.removal_rules_evaluate(day=day)
    second = standing.removal_rules_evaluate(day=day)
    assert first.findings_created == 3
    assert second.findings_created == 0
    assert second.attempts == 2
    assert Finding.objects.filter(merchant__in=shops).count() == 3


def test_next_day_refreshes_the_open_finding_instead_of_adding_one(day):
    shop = MerchantFactory(external_rating=Decimal("3.5"))
    standing.removal_rules_evaluate(day=day)
    Merchant.objects.filter(pk=shop.pk).update(external_rating=Decimal("3.6"))
    standing.removal_rules_evaluate(day=day + timedelta(days=1))
    finding = Finding.objects.get(merchant=shop)
    assert finding.evidence["external_rating"] == "3.5"
    assert finding.latest_evidence["external_rating"] == "3.6"
    assert finding.last_breached_on == day + timedelta(days=1)


@pytest.mark.parametrize("batch", [1, 200])
def test_killed_run_loses_nothing_and_rerun_adds_the_rest(day, monkeypatch, batch):
    monkeypatch.setattr(evaluation, "FINDING_BATCH", batch)  # where the run reads it
    shops = [MerchantFactory(external_rating=Decimal("3.5")) for _ in range(4)]
    real = findings.merchant_set_open_findings
    calls = {"n": 0}

    def dies_on_third(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(findings, "merchant_set_open_findings", dies_on_third)
    with pytest.raises(SystemExit):
        standing.removal_rules_evaluate(day=day)
    # the batch in flight rolled back as a whole: no warned merchant without its finding
    assert Merchant.objects.filter(state=Merchant.State.WARNED).count() == Finding.objects.count() < 4
    monkeypatch.setattr(findings, "merchant_set_open_findings", real)
    before = Finding.objects.count()
    run = standing.removal_rules_evaluate(day=day)
    assert run.findings_created == 4 - before
    assert run.finished_at is not None and run.attempts == 2
    assert sorted(Finding.objects.values_list("merchant_id", flat=True)) == sorted(s.pk for s in shops)
    assert Merchant.objects.filter(pk__in=[s.pk for s in shops], state=Merchant.State.WARNED).count() == 4
    assert EvaluationRun.objects.count() == 1


def test_evaluation_is_a_fixed_number_of_queries(day, django_assert_max_num_queries):
    for _ in range(12):
        MerchantFactory()  # healthy shops: nothing to write
    with django_assert_max_num_queries(20):
        standing.removal_rules_evaluate(day=day)


def test_finding_warns_the_owner_with_rule_evidence_and_fix_by(day, mailoutbox, django_capture_on_commit_callbacks):
    shop = MerchantFactory(external_rating=Decimal("3.2"))
    owner = owner_of(shop)
    with django_capture_on_commit_callbacks(execute=True):
        standing.removal_rules_evaluate(day=day)
    shop.refresh_from_db()
    assert shop.state == Merchant.State.WARNED and shop.has_open_findings
    notice = owner.notifications.get(kind="curation.finding")
    finding = Finding.objects.get(merchant=shop)
    assert "3.2" in notice.body and finding.fix_by.isoformat() in notice.body
    assert finding.fix_by == day + timedelta(days=14)
    assert len(mailoutbox) == 1


def test_finding_for_a_removed_merchant_is_refused(day):
    shop = MerchantFactory(state=Merchant.State.REMOVED)
    with pytest.raises(DomainError) as exc:
        standing.finding_open(merchant=shop, rule=rule(Kind.RATING_FLOOR), evidence={}, day=day)
    assert exc.value.code == "finding_merchant_removed"
    assert not Finding.objects.exists()


def test_seeded_rule_versions_are_data():
    assert set(RemovalRule.objects.values_list("kind", flat=True)) == set(Kind.values)
    assert rule(Kind.COMPLAINT_RATE).parameters == {"window_days": 30, "max_rate_percent": 5, "min_redemptions": 20}


def test_day_start_is_programme_midnight(day):
    assert day_start(day).utcoffset() == timedelta(hours=8)


@pytest.mark.clock
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_the_same_time_open_each_finding_once():
    import threading

    from django.db import connection

    standing.removal_rules_install_defaults()
    day = standing.evaluation_day()
    shops = [MerchantFactory(external_rating=Decimal("3.5")) for _ in range(6)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run():
        try:
            barrier.wait()
            standing.removal_rules_evaluate(day=day)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Finding.objects.count() == 6
    assert Merchant.objects.filter(pk__in=[s.pk for s in shops], state=Merchant.State.WARNED).count() == 6
    assert EvaluationRun.objects.get().attempts == 2
