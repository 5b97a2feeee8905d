"""The console: redemption lists with filters, void with a reason, refused scans, clearing a surge flag."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.errors import DomainError
from merchants.services import merchant_set_promotion_hold
from redemptions.counter import services
from redemptions.models import Redemption, RefusedScan, SurgeFlag
from tests.factories import UserFactory
from tests.factories.redemptions import code_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    person = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(person)
    return person


def test_redemption_list_filters_and_void_with_a_reason(client, operator, merchant, counter, member):
    redemption = services.redemption_confirm(merchant=merchant, counter=counter, bill=5000, code=code_of(member).qr)
    url = reverse("admin:redemptions_redemption_changelist")
    for query in (
        "",
        f"?merchant__city__id__exact={merchant.city_id}",
        "?channel__exact=staff_scan",
        "?status__exact=confirmed",
    ):
        response = client.get(url + query)
        assert response.status_code == 200 and str(redemption.merchant) in response.content.decode()
    asked = client.post(url, {"action": "void", "_selected_action": [redemption.pk]})
    assert asked.status_code == 200 and b'name="reason"' in asked.content
    client.post(
        url, {"action": "void", "_selected_action": [redemption.pk], "apply": "1", "reason": "member complaint"}
    )
    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.VOIDED and redemption.void_reason == "member complaint"


def test_refused_scans_are_listed(client, operator, merchant, counter):
    with pytest.raises(DomainError):
        services.redemption_prepare(code="RCNOPE", merchant=merchant, counter=counter)
    assert RefusedScan.objects.count() == 1
    response = client.get(reverse("admin:redemptions_refusedscan_changelist") + "?reason=code_invalid")
    assert response.status_code == 200 and b"code_invalid" in response.content


def test_curator_clears_a_surge_flag_and_the_shop_is_promoted_again(client, operator, merchant):
    merchant_set_promotion_hold(merchant=merchant, hold=True, actor="system:test", reason="surge")
    flag = SurgeFlag.objects.create(merchant=merchant, hour_count=40, baseline=2.5)
    url = reverse("admin:redemptions_surgeflag_changelist")
    client.post(url, {"action": "clear", "_selected_action": [flag.pk], "apply": "1", "reason": "called the shop"})
    flag.refresh_from_db()
    merchant.refresh_from_db()
    assert flag.cleared_by == operator and not merchant.promotion_hold


def test_a_curator_hides_a_note_with_a_reason_and_it_leaves_the_leaderboard(client, merchant):
    from django.contrib.auth.models import Group

    from core.models import AuditEntry
    from core.roles import sync_role_groups
    from redemptions.attribution.selectors import Period, leaderboard
    from redemptions.models.attribution import Note
    from tests.factories.attribution import NoteFactory, redeem, touch
    from tests.factories.redemptions import member_with_card

    sync_role_groups()
    curator = UserFactory(is_staff=True)
    curator.groups.add(Group.objects.get(name="curator"))
    client.force_login(curator)
    note = NoteFactory(title="探店：超值套餐")
    note.merchants.add(merchant)
    member = member_with_card()
    touch(note, member)
    visit = redeem(merchant, member)
    period = Period(visit.local_date, visit.local_date)
    assert [row.title for row in leaderboard(merchant=merchant, period=period, model="last")] == ["探店：超值套餐"]

    url = reverse("admin:redemptions_note_changelist")
    listed = client.get(url)
    assert listed.status_code == 200 and "探店：超值套餐" in listed.content.decode()
    assert client.get(reverse("admin:redemptions_note_change", args=[note.pk])).status_code == 200
    assert client.get(reverse("admin:redemptions_attributioncredit_changelist")).status_code == 200
    asked = client.post(url, {"action": "hide", "_selected_action": [note.pk]})
    assert asked.status_code == 200 and b'name="reason"' in asked.content
    client.post(url, {"action": "hide", "_selected_action": [note.pk], "apply": "1", "reason": "paid post, no visit"})
    assert Note.objects.get(pk=note.pk).hidden_at is not None
    assert leaderboard(merchant=merchant, period=period, model="last") == []
    assert AuditEntry.objects.filter(action="redemptions.note_moderate_hide", reason="paid post, no visit").exists()
    assert client.get(url + "?hidden_at__isempty=0").content.decode().count("探店：超值套餐") >= 1
