"""Complaints, findings and operations figures through the API: members, partner apps, shop owners."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from curation.models import Appeal, Complaint, Finding
from curation.standing import services as standing
from tests.factories import MerchantFactory, UserFactory
from tests.factories.redemptions import member_with_card
from tests.factories.standing import PNG_1PX, ComplaintFactory, curator_user, history, owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    standing.removal_rules_install_defaults()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def visit():
    member = member_with_card()
    shop = MerchantFactory()
    return member, shop, history(member, shop)


def test_member_files_a_complaint_with_a_photo_and_lists_it(visit):
    member, shop, redemption = visit
    client = client_for(member)
    response = client.post(
        "/api/v1/complaints/",
        {
            "redemption": str(redemption.public_id),
            "category": "discount_not_applied",
            "text": "没有打折",
            "photo": SimpleUploadedFile("a.png", PNG_1PX),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["merchant"] == str(shop.public_id) and body["has_photo"] is True and body["state"] == "new"
    listed = client.get("/api/v1/complaints/").json()
    assert [c["id"] for c in listed["results"]] == [body["id"]]
    detail = client.get(f"/api/v1/complaints/{body['id']}/").json()
    assert detail["messages"] == []


def test_refusals_are_problem_json_with_stable_codes(visit):
    member, shop, redemption = visit
    stranger = member_with_card()
    response = client_for(stranger).post(
        "/api/v1/complaints/",
        {"redemption": str(redemption.public_id), "category": "service", "text": "x"},
        format="json",
    )
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "complaint_redemption_not_yours"
    response = client_for(stranger).post(
        "/api/v1/complaints/", {"merchant": str(shop.public_id), "category": "service", "text": "x"}, format="json"
    )
    assert response.json()["code"] == "complaint_merchant_not_visited"
    response = client_for(member).post(
        "/api/v1/complaints/",
        {"redemption": str(redemption.public_id), "category": "service", "text": "长" * 2001},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.json()["code"] == "complaint_text_too_long"
    assert not Complaint.objects.exists()


def test_idempotency_key_replays_the_first_complaint(visit):
    member, _, redemption = visit
    client = client_for(member)
    payload = {"redemption": str(redemption.public_id), "category": "service", "text": "服务差"}
    first = client.post("/api/v1/complaints/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post("/api/v1/complaints/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert Complaint.objects.count() == 1


def test_partner_files_on_behalf_of_a_member_with_scope(visit, partner_client):
    member, _, redemption = visit
    client, app = partner_client("complaints:write")
    response = client.post(
        "/api/v1/complaints/",
        {
            "member": str(member.public_id),
            "redemption": str(redemption.public_id),
            "category": "refused_card",
            "text": "拒收",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    complaint = Complaint.objects.get()
    assert complaint.partner == app and complaint.member == member
    unknown = client.post(
        "/api/v1/complaints/",
        {
            "member": str(UserFactory().public_id),
            "redemption": str(redemption.public_id),
            "category": "other",
            "text": "x",
        },
        format="json",
    )
    assert unknown.json()["code"] == "complaint_redemption_not_yours"
    nobody = client.post(
        "/api/v1/complaints/",
        {"member": str(uuid.uuid4()), "redemption": str(redemption.public_id), "category": "other", "text": "x"},
        format="json",
    )
    assert nobody.status_code == 404 and nobody.json()["code"] == "complaint_member_unknown"
    assert client.get("/api/v1/complaints/").json()["results"] == []


def test_partner_without_the_scope_is_refused(visit, partner_client):
    member, _, redemption = visit
    client, _ = partner_client("members:read")
    response = client.post(
        "/api/v1/complaints/",
        {"member": str(member.public_id), "redemption": str(redemption.public_id), "category": "other", "text": "x"},
        format="json",
    )
    assert response.status_code == 403
    assert not Complaint.objects.exists()


def test_owner_sees_complaints_about_the_shop_masked_and_answers(visit):
    member, shop, redemption = visit
    owner = owner_of(shop)
    complaint = standing.complaint_file(member=member, redemption=redemption, category="service", text="慢")
    ComplaintFactory()  # another shop's complaint stays invisible
    client = client_for(owner)
    rows = client.get(f"/api/v1/console/merchants/{shop.public_id}/complaints/").json()["results"]
    assert [r["id"] for r in rows] == [str(complaint.public_id)]
    assert rows[0]["member"].endswith("**") and member.email not in str(rows)
    answer = client.post(
        f"/api/v1/console/merchants/{shop.public_id}/complaints/{complaint.public_id}/answer/",
        {"body": "已培训员工"},
        format="json",
    )
    assert answer.status_code == 201 and answer.json()["author"] == "merchant"
    empty = client.post(
        f"/api/v1/console/merchants/{shop.public_id}/complaints/{complaint.public_id}/answer/",
        {"body": ""},
        format="json",
    )
    assert empty.json()["code"] == "complaint_message_required"
    assert client_for(UserFactory()).get(f"/api/v1/console/merchants/{shop.public_id}/complaints/").status_code == 404


def test_owner_reads_findings_with_evidence_and_appeals_once():
    shop = MerchantFactory(external_rating=Decimal("3.4"))
    owner = owner_of(shop)
    standing.removal_rules_evaluate()
    finding = Finding.objects.get(merchant=shop)
    client = client_for(owner)
    rows = client.get(f"/api/v1/console/merchants/{shop.public_id}/findings/").json()["results"]
    assert rows[0]["rule"] == "rating_floor" and rows[0]["evidence"]["external_rating"] == "3.4"
    assert "3.4" in rows[0]["summary"] and rows[0]["appeal"] is None
    url = f"/api/v1/console/merchants/{shop.public_id}/findings/{finding.public_id}/appeal/"
    first = client.post(url, {"text": "评分已更新"}, format="json")
    assert first.status_code == 201 and first.json()["appeal"]["state"] == "pending"
    second = client.post(url, {"text": "再来"}, format="json")
    assert second.status_code == 409 and second.json()["code"] == "appeal_already_filed"
    assert Appeal.objects.count() == 1


def test_ops_figures_for_operators_and_the_ops_read_scope(partner_client):
    operator = UserFactory(is_staff=True)
    from django.contrib.auth.models import Group

    operator.groups.add(Group.objects.get(name="operator"))
    body = client_for(operator).get("/api/v1/ops/overview/").json()
    assert {f["key"] for f in body["figures"]} >= {"active_members", "trial_conversion", "complaint_first_response_sla"}
    assert all(f["how"] for f in body["figures"])
    scoped_client, _ = partner_client("ops:read")
    assert scoped_client.get("/api/v1/ops/overview/").status_code == 200
    wrong, _ = partner_client("complaints:write")
    assert wrong.get("/api/v1/ops/overview/").status_code == 403
    assert client_for(UserFactory()).get("/api/v1/ops/overview/").status_code == 403


def test_complaint_lists_cost_the_same_queries_for_many_rows(django_assert_max_num_queries):
    member = member_with_card()
    shop = MerchantFactory()
    owner = owner_of(shop)
    curator = curator_user()
    for n in range(6):
        complaint = standing.complaint_file(
            member=member, redemption=history(member, shop), category="service", text=f"第{n}次"
        )
        standing.complaint_reply(complaint=complaint, actor=curator, body="收到")
    member_client, owner_client = client_for(member), client_for(owner)
    with django_assert_max_num_queries(8):
        assert len(member_client.get("/api/v1/complaints/").json()["results"]) == 6
    with django_assert_max_num_queries(10):
        rows = owner_client.get(f"/api/v1/console/merchants/{shop.public_id}/complaints/").json()["results"]
    assert len(rows) == 6 and all(len(r["messages"]) == 1 for r in rows)
