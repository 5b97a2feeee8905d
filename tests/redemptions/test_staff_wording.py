"""Codes owned by a lower app keep their code and status at the counter; staff read the counter's wording.

``membership_inactive`` (members) and the ``merchant_*`` codes (merchants) are registered once, by their owner,
with the member-facing message; the scanner shows the staff text given as the refusal's detail.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.errors import CODES, DomainError
from members.models import Subscription
from merchants.models import Merchant
from redemptions.counter import services
from redemptions.counter.errors import STAFF_WORDING, for_staff
from tests.factories.redemptions import code_of

pytestmark = pytest.mark.django_db


def _end_card(member):
    now = timezone.now()
    Subscription.objects.filter(user=member).update(
        period_start=now - timedelta(days=90), period_end=now - timedelta(seconds=1)
    )


def test_the_scanner_shows_staff_the_staff_text_for_an_inactive_card(staff_client, merchant, member):
    code = code_of(member).qr
    _end_card(member)
    payload = {"merchant": str(merchant.public_id), "code": code}
    chinese = staff_client.post(reverse("api-redemption-prepare"), payload)
    assert chinese.status_code == 403 and chinese.json()["code"] == "membership_inactive"
    assert chinese.json()["detail"] == "该会员的小红卡未生效。"
    english = staff_client.post(reverse("api-redemption-prepare"), payload, HTTP_ACCEPT_LANGUAGE="en")
    assert english.json()["detail"] == "This member's card is not active."
    confirm = staff_client.post(
        reverse("api-redemption-confirm"), {**payload, "bill_fen": 5000}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert confirm.status_code == 403 and confirm.json()["code"] == "membership_inactive"
    assert confirm.json()["detail"] == "This member's card is not active."


def test_the_scanner_shows_staff_the_staff_text_for_a_suspended_shop(staff_client, merchant, member):
    Merchant.objects.filter(pk=merchant.pk).update(state="suspended")
    payload = {"merchant": str(merchant.public_id), "code": code_of(member).qr}
    answer = staff_client.post(reverse("api-redemption-prepare"), payload, HTTP_ACCEPT_LANGUAGE="en")
    assert answer.status_code == 409 and answer.json()["code"] == "merchant_not_active"
    assert answer.json()["detail"] == "This shop cannot accept RedCard right now."


def test_a_member_claiming_reads_the_member_text(merchant, member):
    _end_card(member)
    with pytest.raises(DomainError) as caught:
        services.claim_create(member=member, merchant=merchant, bill="30")
    assert caught.value.code == "membership_inactive"
    assert caught.value.detail == str(CODES["membership_inactive"][1])  # the members app's own message


def test_staff_wording_keeps_code_status_and_parameters():
    for code in STAFF_WORDING:
        error = DomainError(code, fields={"x": [{"code": "y", "detail": "z"}]}, n=1)
        worded = for_staff(error)
        assert (worded.code, worded.status, worded.fields, worded.params) == (
            code,
            CODES[code][0],
            error.fields,
            {"n": 1},
        )
        assert worded.detail == str(STAFF_WORDING[code]) != str(CODES[code][1])
    own = DomainError("code_already_used")
    assert for_staff(own) is own
