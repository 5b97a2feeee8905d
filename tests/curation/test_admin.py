import pytest
from django.urls import reverse

from core.errors import DomainError
from curation.intake import services
from curation.models import Application, SiteVisit
from merchants.models import Merchant
from tests.factories.curation import ApplicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator_client(client, curator):
    client.force_login(curator)
    return client


def _submitted(city):
    app = ApplicationFactory(city=city)
    services.application_submit(application=app, actor=app.owner)
    return app


def test_queue_filters_by_city_category_state_reviewer_and_age(curator_client, open_city, curator):
    app = _submitted(open_city)
    url = reverse("admin:curation_application_changelist")
    for query in (
        "",
        f"?city__id__exact={open_city.pk}",
        f"?category__id__exact={app.category_id}",
        "?state__exact=submitted",
        "?age=lt2",
        f"?reviewer__id__exact={curator.pk}",
    ):
        response = curator_client.get(url + query)
        assert response.status_code == 200, query
    assert app.name_zh in curator_client.get(url + "?age=lt2").content.decode()
    assert app.name_zh not in curator_client.get(url + "?age=gt7").content.decode()


def test_change_page_shows_the_checklist_and_decision_buttons(curator_client, open_city, curator):
    app = _submitted(open_city)
    services.application_assign(application=app, reviewer=curator, actor=curator)
    page = curator_client.get(reverse("admin:curation_application_change", args=[app.pk])).content.decode()
    assert "rule-checklist" in page and "outcome-pass" in page
    assert reverse("admin:curation_application_decide", args=[app.pk, "approve"]) in page


def test_assign_visit_and_approve_through_admin_pages(curator_client, open_city, curator):
    app = _submitted(open_city)
    assign_url = reverse("admin:curation_application_assign", args=[app.pk])
    assert curator_client.get(assign_url).status_code == 200
    curator_client.post(assign_url, {"apply": "1", "reviewer": curator.pk})
    app.refresh_from_db()
    assert app.state == "in_review" and app.reviewer == curator

    change_url = reverse("admin:curation_application_change", args=[app.pk])
    response = curator_client.post(
        change_url,
        {
            "visits-TOTAL_FORMS": "1",
            "visits-INITIAL_FORMS": "0",
            "visits-MIN_NUM_FORMS": "0",
            "visits-MAX_NUM_FORMS": "1000",
            "visits-0-visited_on": "2026-11-20",
            "visits-0-visitor": curator.pk,
            "visits-0-score": "5",
            "visits-0-notes": "环境整洁",
            "decisions-TOTAL_FORMS": "0",
            "decisions-INITIAL_FORMS": "0",
            "decisions-MIN_NUM_FORMS": "0",
            "decisions-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert SiteVisit.objects.get(application=app).score == 5

    decide = reverse("admin:curation_application_decide", args=[app.pk, "approve"])
    assert "reason_code" in curator_client.get(decide).content.decode()
    response = curator_client.post(decide, {"apply": "1", "reason_code": "meets_standards", "message": "欢迎！"})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.state == "approved" and Merchant.objects.get(pk=app.merchant_id).state == "probation"


def test_approve_action_over_a_failed_rule_asks_for_an_override_reason(curator_client, open_city, curator):
    app = ApplicationFactory(city=open_city, external_rating="3.9", state=Application.State.IN_REVIEW)
    services.rules_evaluate(application=app, actor=curator)
    url = reverse("admin:curation_application_changelist")
    page = curator_client.post(url, {"action": "approve", "_selected_action": [app.pk]})
    body = page.content.decode()
    assert page.status_code == 200 and "override_reason" in body and "errornote" in body  # the failed rule is shown
    refused = curator_client.post(
        url, {"action": "approve", "_selected_action": [app.pk], "apply": "1", "reason_code": "meets_standards"}
    )
    assert refused.status_code == 200  # the form is shown again with the error
    app.refresh_from_db()
    assert app.state == "in_review"
    curator_client.post(
        url,
        {
            "action": "approve",
            "_selected_action": [app.pk],
            "apply": "1",
            "reason_code": "meets_standards",
            "override_reason": "点评分低是因为新店，实地评分 5",
        },
    )
    app.refresh_from_db()
    assert app.state == "approved"


def test_reject_and_request_changes_actions_need_a_message(curator_client, open_city):
    app = ApplicationFactory(city=open_city, state=Application.State.IN_REVIEW)
    url = reverse("admin:curation_application_changelist")
    page = curator_client.post(
        url, {"action": "reject", "_selected_action": [app.pk], "apply": "1", "reason_code": "quality", "message": ""}
    )
    assert page.status_code == 200
    app.refresh_from_db()
    assert app.state == "in_review"
    curator_client.post(
        url,
        {
            "action": "request_changes",
            "_selected_action": [app.pk],
            "apply": "1",
            "reason_code": "incomplete",
            "message": "请补充营业执照照片",
        },
    )
    app.refresh_from_db()
    assert app.state == "changes_requested"


def test_merchant_state_actions_need_a_reason(curator_client, open_city):
    from tests.factories import MerchantFactory

    merchant = MerchantFactory(city=open_city)
    url = reverse("admin:merchants_merchant_changelist")
    form = curator_client.post(url, {"action": "to_warned", "_selected_action": [merchant.pk]})
    assert form.status_code == 200 and "reason" in form.content.decode()
    curator_client.post(url, {"action": "to_warned", "_selected_action": [merchant.pk], "apply": "1", "reason": "投诉"})
    merchant.refresh_from_db()
    assert merchant.state == "warned"


def test_the_checklist_reads_in_yuan_percent_and_stars_with_failed_rules_highlighted(curator_client, open_city):
    app = ApplicationFactory(city=open_city, external_rating="4.3", offer_rate_bp=1250, average_spend_fen=60_000)
    services.application_submit(application=app, actor=app.owner)
    page = curator_client.get(reverse("admin:curation_application_change", args=[app.pk])).content.decode()
    assert "评分 4.3★，至少需要 4.5★" in page and "优惠 12.5%，至少需要 10%" in page
    assert "人均消费 ¥600" in page
    assert "{'min'" not in page and "60000" not in page and "1250" not in page.split("rule-checklist")[1]
    assert 'class="outcome-fail"' in page and "项规则未通过" in page
    listing = curator_client.get(reverse("admin:curation_application_changelist")).content.decode()
    assert "外部评分不低于" in listing and "min_rating" not in listing


def test_approve_offers_approval_reasons_and_reject_offers_rejection_reasons(curator_client, open_city, curator):
    app = _submitted(open_city)
    services.application_assign(application=app, reviewer=curator, actor=curator)
    url = reverse("admin:curation_application_changelist")

    def reasons(action):
        page = curator_client.post(url, {"action": action, "_selected_action": [app.pk]})
        return [value for value, _label in page.context["form"].fields["reason_code"].choices]

    assert reasons("approve") == ["meets_standards", "other"]
    rejecting = reasons("reject")
    assert "meets_standards" not in rejecting and {"quality", "licence", "duplicate"} <= set(rejecting)
    with pytest.raises(DomainError) as refused:
        services.application_reject(application=app, actor=curator, reason_code="meets_standards", message="不行")
    assert refused.value.code == "validation_failed"
