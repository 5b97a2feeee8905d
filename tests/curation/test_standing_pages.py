"""Standing pages and console: a member complains from a redemption, the curator answers in admin within the
SLA, a shop is warned with evidence, a curator removes it and it vanishes; the owner's page answers and
appeals."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from curation.models import Appeal, Complaint, Finding
from curation.standing import services as standing
from merchants.models import Merchant
from merchants.selectors import catalogue
from tests.factories import MerchantFactory, UserFactory
from tests.factories.redemptions import member_with_card
from tests.factories.standing import PNG_1PX, ComplaintFactory, curator_user, history, owner_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _setup(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    standing.removal_rules_install_defaults()


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def no_inline_script_or_style(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert ' style="' not in html and " onclick=" not in html


def test_member_complains_from_a_redemption_with_a_photo():
    member = member_with_card()
    shop = MerchantFactory()
    redemption = history(member, shop)
    client = browser(member)
    page = client.get(f"/curation/standing/complaints/new/?redemption={redemption.public_id}")
    assert page.status_code == 200 and shop.name_zh in page.content.decode()
    no_inline_script_or_style(page.content.decode())
    response = client.post(
        "/curation/standing/complaints/new/",
        {
            "redemption": str(redemption.public_id),
            "category": "refused_card",
            "text": "店员拒收会员卡",
            "photo": SimpleUploadedFile("p.png", PNG_1PX, content_type="image/png"),
        },
    )
    complaint = Complaint.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{complaint.public_id}/")
    detail = client.get(response["Location"]).content.decode()
    assert "店员拒收会员卡" in detail


def test_complaint_form_shows_the_refusal_and_writes_nothing():
    member = member_with_card()
    redemption = history(member, MerchantFactory())
    response = browser(member).post(
        "/curation/standing/complaints/new/",
        {
            "redemption": str(redemption.public_id),
            "category": "service",
            "text": "x",
            "photo": SimpleUploadedFile("p.jpg", b"not an image", content_type="image/jpeg"),
        },
    )
    assert response.status_code == 400
    assert "JPEG" in response.content.decode()
    assert not Complaint.objects.exists()


def test_another_members_redemption_page_is_not_found():
    redemption = history(member_with_card(), MerchantFactory())
    response = browser(member_with_card()).get(f"/curation/standing/complaints/new/?redemption={redemption.public_id}")
    assert response.status_code == 404


def test_curator_answers_and_resolves_in_admin():
    member = member_with_card()
    redemption = history(member, MerchantFactory())
    complaint = standing.complaint_file(member=member, redemption=redemption, category="service", text="服务差")
    curator = curator_user()
    client = browser(curator)
    queue = client.get("/admin/curation/complaint/?sla=first_breached")
    assert queue.status_code == 200
    assert client.get("/admin/curation/complaint/").status_code == 200
    page = client.get(f"/admin/curation/complaint/{complaint.pk}/change/")
    assert page.status_code == 200 and "服务差" in page.content.decode()
    reply = client.post(f"/admin/curation/complaint/{complaint.pk}/reply/", {"body": "已联系门店"})
    assert reply.status_code == 302
    bad = client.post(f"/admin/curation/complaint/{complaint.pk}/resolve/", {"outcome": "upheld", "note": " "})
    assert bad.status_code == 200  # the form comes back with the error
    client.post(f"/admin/curation/complaint/{complaint.pk}/resolve/", {"outcome": "upheld", "note": "属实，已警告门店"})
    complaint.refresh_from_db()
    assert complaint.state == "resolved" and complaint.outcome == "upheld"
    assert not complaint_sla_breached(complaint)


def complaint_sla_breached(complaint: Complaint) -> bool:
    from curation.standing.selectors import complaint_sla

    return complaint_sla(complaint=complaint).breached


def test_breached_complaint_is_highlighted_in_the_queue():
    from datetime import timedelta

    from django.utils import timezone

    ComplaintFactory(created_at=timezone.now() - timedelta(hours=30))
    html = browser(curator_user()).get("/admin/curation/complaint/").content.decode()
    assert "sla-breach" in html


def test_warned_shop_removed_in_admin_vanishes_from_the_catalogue():
    shop = MerchantFactory(external_rating=Decimal("3.1"))
    owner = owner_of(shop)
    standing.removal_rules_evaluate()
    finding = Finding.objects.get(merchant=shop)
    client = browser(curator_user())
    page = client.get(f"/admin/curation/finding/{finding.pk}/change/").content.decode()
    assert "3.1" in page
    refused = client.post(f"/admin/curation/finding/{finding.pk}/decide/remove/", {"reason": ""})
    assert refused.status_code == 200
    shop.refresh_from_db()
    assert shop.state == Merchant.State.WARNED
    done = client.post(f"/admin/curation/finding/{finding.pk}/decide/remove/", {"reason": "评分过低且未整改"})
    assert done.status_code == 302
    shop.refresh_from_db()
    assert shop.state == Merchant.State.REMOVED and not catalogue().filter(pk=shop.pk).exists()
    assert owner.notifications.filter(kind="curation.merchant_removed").exists()


def test_owner_page_shows_findings_and_complaints_and_takes_an_appeal_and_an_answer():
    shop = MerchantFactory(external_rating=Decimal("3.3"))
    owner = owner_of(shop)
    member = member_with_card()
    complaint = standing.complaint_file(
        member=member, redemption=history(member, shop), category="hygiene", text="桌子很脏"
    )
    standing.removal_rules_evaluate()
    finding = Finding.objects.get(merchant=shop)
    client = browser(owner)
    html = client.get(f"/curation/standing/shop/{shop.public_id}/").content.decode()
    assert "桌子很脏" in html and "3.3" in html and member.email not in html
    no_inline_script_or_style(html)
    client.post(
        f"/curation/standing/shop/{shop.public_id}/complaints/{complaint.public_id}/answer/", {"body": "已清洁"}
    )
    assert complaint.messages.filter(author_role="merchant", body="已清洁").exists()
    client.post(
        f"/curation/standing/shop/{shop.public_id}/findings/{finding.public_id}/appeal/", {"text": "评分已回升"}
    )
    assert Appeal.objects.filter(finding=finding, state="pending").exists()
    assert browser(UserFactory()).get(f"/curation/standing/shop/{shop.public_id}/").status_code == 404


def test_appeal_decided_in_admin_clears_the_finding():
    shop = MerchantFactory(external_rating=Decimal("3.3"))
    owner = owner_of(shop)
    standing.removal_rules_evaluate()
    finding = Finding.objects.get(merchant=shop)
    appeal = standing.appeal_file(finding=finding, actor=owner, text="评分统计错误")
    client = browser(curator_user())
    assert "评分统计错误" in client.get("/admin/curation/appeal/?state__exact=pending").content.decode()
    client.post(f"/admin/curation/appeal/{appeal.pk}/decide/", {"accept": "1", "note": "核实无误，撤销"})
    finding.refresh_from_db()
    assert finding.state == "cleared"


def test_complaint_form_without_target_offers_the_redemption_history():
    member = member_with_card()
    shop = MerchantFactory()
    redemption = history(member, shop)
    html = browser(member).get("/curation/standing/complaints/new/").content.decode()
    assert f"?redemption={redemption.public_id}" in html and f"?merchant={shop.public_id}" in html
