from datetime import date, timedelta

import pytest
from django.core import mail
from django.test import TestCase
from django.utils import timezone

from core.errors import DomainError
from core.models import AuditEntry, Notification
from curation.intake import services
from curation.models import AdmissionRule, Application, Decision, RuleResult
from merchants.models import Merchant, MerchantStaff
from tests.factories import CategoryFactory, DistrictFactory, MerchantFactory, UserFactory, valid_uscc
from tests.factories.curation import ApplicationFactory

pytestmark = pytest.mark.django_db


def _codes(exc: DomainError) -> dict[str, str]:
    return {field: items[0]["code"] for field, items in exc.fields.items()}


def _draft_data(city, category, district):
    return {
        "legal_name": "上海小杨餐饮有限公司",
        "name_zh": "小杨生煎",
        "uscc": valid_uscc(77),
        "food_licence": "JY13101060000123",
        "category": category,
        "city": city,
        "district": district,
        "address": "黄河路 90 号",
        "lat": 31.236,
        "lng": 121.470,
        "average_spend_fen": 4000,
        "external_rating": "4.8",
        "opening_hours": "mon-sun 07:00-20:00",
        "dine_in": True,
        "offer_rate_bp": 1500,
        "daily_capacity": 80,
        "contact_name": "杨先生",
        "contact_phone": "13900000000",
    }


def test_owner_saves_a_draft_then_submits_and_rules_are_stored_with_their_version(open_city):
    owner = UserFactory()
    district = DistrictFactory(city=open_city)
    app = services.application_save(owner=owner, data={"name_zh": "小杨生煎"})
    assert app.state == Application.State.DRAFT
    app = services.application_save(
        owner=owner, application=app, data=_draft_data(open_city, CategoryFactory(), district)
    )
    assert app.opening_hours["mon"] == ["07:00-20:00"]
    services.application_submit(application=app, actor=owner)
    app.refresh_from_db()
    assert app.state == Application.State.SUBMITTED and app.submitted_at is not None
    results = {r.kind: r for r in RuleResult.objects.filter(application=app)}
    assert set(results) == set(AdmissionRule.Kind.values)
    assert all(r.outcome == RuleResult.Outcome.PASS for r in results.values()), {
        k: (r.outcome, r.evidence) for k, r in results.items()
    }
    assert results["min_rating"].rule_version == 1
    assert results["seats_left"].evidence["left"] == open_city.seat_quota
    actions = list(AuditEntry.objects.filter(object_id=str(app.pk)).values_list("action", flat=True))
    assert {"curation.application_create", "curation.application_update", "curation.application_submit"} <= set(actions)


def test_a_new_rule_version_is_used_from_its_start(open_city, curator):
    app = ApplicationFactory(city=open_city, external_rating="4.6", state=Application.State.SUBMITTED)
    AdmissionRule.objects.create(
        kind="min_rating", version=2, parameters={"min": "4.7"}, active_from=timezone.now() + timedelta(days=1)
    )
    services.rules_evaluate(application=app, actor=curator)
    assert app.rule_results.get(kind="min_rating").outcome == "pass"
    results = services.rules_evaluate(application=app, actor=curator, now=timezone.now() + timedelta(days=2))
    rating = next(r for r in results if r.kind == "min_rating")
    assert (rating.rule_version, rating.outcome, rating.evidence["min"]) == (2, "fail", "4.7")


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"uscc": "1234"}, "uscc", "uscc_length"),
        ({"uscc": "91350100M000100I43"}, "uscc", "uscc_characters"),
        ({"uscc": "91350100M000100Y44"}, "uscc", "uscc_check_digit"),
        ({"offer_rate_bp": 900}, "offer_rate_bp", "offer_rate_too_low"),
        ({"opening_hours": "whenever we feel like it"}, "opening_hours", "opening_hours_invalid"),
        ({"lat": 23.12, "lng": 113.26}, "lat", "coordinates_outside_city"),  # Guangzhou coordinates, Shanghai city
        ({"food_licence": "JY99"}, "food_licence", "food_licence_invalid"),
        ({"links": "javascript:alert(1)"}, "links", "link_invalid"),
        ({"external_rating": "7"}, "external_rating", "rating_out_of_range"),
    ],
)
def test_bad_input_is_refused_with_a_field_code_and_nothing_is_saved(open_city, data, field, code):
    app = ApplicationFactory(city=open_city)
    before = Application.objects.filter(pk=app.pk).values().get()
    with pytest.raises(DomainError) as info:
        services.application_save(owner=app.owner, application=app, data=data)
    assert info.value.code == "validation_failed"
    assert _codes(info.value) == {field: code}
    assert Application.objects.filter(pk=app.pk).values().get() == before


def test_food_shop_without_licence_cannot_submit(open_city):
    app = ApplicationFactory(city=open_city, food_licence="")
    with pytest.raises(DomainError) as info:
        services.application_submit(application=app, actor=app.owner)
    assert info.value.code == "application_incomplete"
    assert _codes(info.value) == {"food_licence": "food_licence_required"}
    app.refresh_from_db()
    assert app.state == Application.State.DRAFT and not app.rule_results.exists()


def test_non_food_shop_needs_no_food_licence(open_city):
    leisure = CategoryFactory(code="leisure", is_food=False, spend_min_fen=6000, spend_max_fen=40000)
    app = ApplicationFactory(city=open_city, category=leisure, food_licence="", average_spend_fen=10000)
    services.application_submit(application=app, actor=app.owner)
    assert app.state == Application.State.SUBMITTED


def test_duplicate_licence_is_refused_on_submit(open_city):
    MerchantFactory(food_licence="JY13101060000999", city=open_city)
    app = ApplicationFactory(city=open_city, food_licence="JY13101060000999")
    with pytest.raises(DomainError) as info:
        services.application_submit(application=app, actor=app.owner)
    assert info.value.code == "licence_duplicate"
    app.refresh_from_db()
    assert app.state == Application.State.DRAFT


def test_a_second_open_application_is_refused_by_the_database(open_city):
    app = ApplicationFactory(city=open_city)
    with pytest.raises(DomainError) as info:
        services.application_save(owner=app.owner, data={"name_zh": "第二家"})
    assert info.value.code == "application_already_open"
    assert Application.objects.filter(owner=app.owner).count() == 1
    services.application_withdraw(application=app, actor=app.owner)
    services.application_save(owner=app.owner, data={"name_zh": "第二家"})  # allowed once the first is closed


def test_submitted_application_is_read_only_for_the_merchant(open_city):
    app = ApplicationFactory(city=open_city)
    services.application_submit(application=app, actor=app.owner)
    with pytest.raises(DomainError) as info:
        services.application_save(owner=app.owner, application=app, data={"name_zh": "改名"})
    assert info.value.code == "application_read_only"
    app.refresh_from_db()
    assert app.name_zh != "改名"


def test_another_person_cannot_touch_the_application(open_city):
    app = ApplicationFactory(city=open_city)
    with pytest.raises(DomainError) as info:
        services.application_save(owner=UserFactory(), application=app, data={"name_zh": "x"})
    assert info.value.code == "not_found"


def test_review_cycle_with_change_request_then_approval_creates_the_merchant(open_city, curator):
    app = ApplicationFactory(city=open_city, offer_cap_fen=3000)
    services.application_submit(application=app, actor=app.owner)
    services.application_assign(application=app, reviewer=curator, actor=curator)
    assert app.state == Application.State.IN_REVIEW
    services.visit_record(
        application=app, visitor=curator, visited_on=date(2026, 11, 20), score=4, notes="干净", actor=curator
    )
    services.application_request_changes(
        application=app, actor=curator, reason_code="incomplete", message="请补充菜单照片"
    )
    assert app.state == Application.State.CHANGES_REQUESTED
    services.application_save(owner=app.owner, application=app, data={"links": "https://example.com/menu"})
    services.application_submit(application=app, actor=app.owner)
    services.application_assign(application=app, reviewer=curator, actor=curator)
    mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.application_approve(application=app, actor=curator, message="欢迎加入")
    app.refresh_from_db()
    merchant = app.merchant
    assert app.state == Application.State.APPROVED and merchant is not None
    assert merchant.state == Merchant.State.PROBATION
    assert merchant.probation_until.date() == (timezone.now() + timedelta(days=30)).date()
    assert (merchant.offer.rate_bp, merchant.offer.cap_fen) == (1200, 3000)
    assert merchant.daily_capacity == 40
    assert MerchantStaff.objects.get(merchant=merchant).user == app.owner
    assert merchant.opening_slots.count() == 7
    kinds = list(Notification.objects.filter(user=app.owner).values_list("kind", flat=True))
    assert sorted(kinds) == ["curation.approve", "curation.request_changes"]
    assert len(mail.outbox) == 1 and app.owner.email in mail.outbox[0].to
    assert list(app.decisions.values_list("kind", flat=True)) == ["approve", "request_changes"]


def test_approving_over_a_failed_rule_needs_a_written_reason(open_city, curator):
    app = ApplicationFactory(city=open_city, external_rating="4.2", state=Application.State.IN_REVIEW)
    with pytest.raises(DomainError) as info:
        services.application_approve(application=app, actor=curator, override_reason="  ")
    assert info.value.code == "override_reason_required"
    assert info.value.params["failed"] == ["min_rating"]
    app.refresh_from_db()
    assert app.state == Application.State.IN_REVIEW and app.merchant is None
    services.application_approve(application=app, actor=curator, override_reason="点评分数被刷低，实地探访 5 分")
    decision = app.decisions.get()
    assert decision.overridden_rules == ["min_rating"] and decision.override_reason.startswith("点评")


@pytest.mark.parametrize("state", ["draft", "submitted", "approved", "rejected", "withdrawn", "changes_requested"])
def test_a_decision_on_an_application_in_the_wrong_state_is_refused(open_city, curator, state):
    app = ApplicationFactory(city=open_city, state=state)
    for decide in (services.application_approve, services.application_reject, services.application_request_changes):
        kwargs = {"message": "x", "reason_code": "other"}
        with pytest.raises(DomainError) as info:
            decide(application=app, actor=curator, **kwargs)
        assert info.value.code == "invalid_transition"
    assert not Decision.objects.exists() and not Merchant.objects.exists()


def test_reject_needs_a_message_and_a_known_reason(open_city, curator):
    app = ApplicationFactory(city=open_city, state=Application.State.IN_REVIEW)
    with pytest.raises(DomainError) as info:
        services.application_reject(application=app, actor=curator, reason_code="quality", message="")
    assert info.value.code == "decision_message_required"
    with pytest.raises(DomainError) as info:
        services.application_reject(application=app, actor=curator, reason_code="nonsense", message="no")
    assert _codes(info.value) == {"reason_code": "reason_invalid"}
    services.application_reject(application=app, actor=curator, reason_code="quality", message="口味不达标")
    assert app.state == Application.State.REJECTED
    assert Notification.objects.get(user=app.owner).kind == "curation.reject"


def test_only_curators_decide(open_city):
    app = ApplicationFactory(city=open_city, state=Application.State.IN_REVIEW)
    with pytest.raises(DomainError) as info:
        services.application_approve(application=app, actor=app.owner)
    assert info.value.code == "permission_denied"


def test_rules_flag_closed_category_full_city_and_recent_removal(open_city, curator):
    closed = CategoryFactory(code="bar", name_en="Bar", spend_min_fen=10000, spend_max_fen=30000)
    removed = MerchantFactory(city=open_city, uscc=valid_uscc(4242), state=Merchant.State.REMOVED)
    Merchant.objects.filter(pk=removed.pk).update(removed_at=timezone.now() - timedelta(days=20))
    open_city.seat_quota = 1
    open_city.save()
    MerchantFactory(city=open_city)
    app = ApplicationFactory(
        city=open_city, category=closed, uscc=valid_uscc(4242), average_spend_fen=5000, dine_in=False
    )
    results = {r.kind: r.outcome for r in services.rules_evaluate(application=app, actor=curator)}
    assert results["category_open"] == "fail"
    assert results["seats_left"] == "fail"
    assert results["not_recently_removed"] == "fail"
    assert results["spend_in_band"] == "fail"
    assert results["dine_in"] == "fail"
    assert results["unique_licence"] == "pass"


def test_withdraw_is_refused_after_a_decision(open_city, curator):
    app = ApplicationFactory(city=open_city, state=Application.State.IN_REVIEW)
    services.application_reject(application=app, actor=curator, reason_code="quality", message="x")
    with pytest.raises(DomainError) as info:
        services.application_withdraw(application=app, actor=app.owner)
    assert info.value.code == "invalid_transition"
