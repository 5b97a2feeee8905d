"""The confirm's lean path (``core.api.lean``): a partner POS's bearer-token confirm is answered without DRF, with
exactly what the DRF view answers; everything the lean path does not take goes to the DRF view, counted once."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.urls import reverse

from merchants.models import PartnerGrant
from redemptions.counter import api
from redemptions.models import Redemption
from tests.factories.redemptions import code_of, member_with_card, shop

pytestmark = pytest.mark.django_db

URL = "/api/v1/redemptions/confirm/"


@pytest.fixture
def drf_calls(monkeypatch):
    """The requests the DRF view served (the lean path never calls ``ConfirmView.post``)."""
    calls: list[object] = []
    post = api.ConfirmView.post

    def counted(self, request):
        calls.append(request)
        return post(self, request)

    monkeypatch.setattr(api.ConfirmView, "post", counted)
    return calls


@pytest.fixture
def pos(partner_client):
    """A partner POS with the confirm scope, granted at a shop: (client, shop)."""
    client, app = partner_client("redemptions:write")
    merchant = shop()
    PartnerGrant.objects.create(merchant=merchant, application=app, scopes="redemptions:write")
    return client, merchant


def _body(merchant, member, bill=8650):
    return {"merchant": str(merchant.public_id), "code": code_of(member).qr, "bill_fen": bill}


def _same_shape(lean, drf):
    """The two answers are the same but for what differs between two redemptions (ids, members, times)."""
    assert lean.status_code == drf.status_code
    for header in ("Content-Type", "Allow", "Vary", "Content-Language"):
        assert lean.get(header) == drf.get(header), header
    one, other = lean.json(), drf.json()
    assert one.keys() == other.keys()
    for key in one.keys() - {"id", "member", "confirmed_at", "local_date", "detail"}:
        assert one[key] == other[key], key


def test_a_partner_confirm_is_served_by_the_lean_path_with_the_drf_answer(pos, drf_calls):
    client, merchant = pos
    lean = client.post(URL, _body(merchant, member_with_card()), format="json")
    assert lean.status_code == 201, lean.content
    assert drf_calls == []
    # An Idempotency-Key sends the same request through DRF (its mixin stores the answer).
    drf = client.post(URL, _body(merchant, member_with_card()), format="json", HTTP_IDEMPOTENCY_KEY="till-7")
    assert drf.status_code == 201 and len(drf_calls) == 1
    _same_shape(lean, drf)
    assert lean["Allow"] == "POST, OPTIONS" and lean["Content-Type"] == "application/json"
    assert Redemption.objects.filter(channel="partner_pos").count() == 2


def test_refusals_are_the_drf_view_s_problem_json(pos, drf_calls):
    client, merchant = pos
    member = member_with_card()
    body = _body(merchant, member)
    assert client.post(URL, body, format="json").status_code == 201
    lean = client.post(URL, body, format="json")
    drf = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="till-8")
    assert lean.json()["code"] == "code_already_used" and len(drf_calls) == 1
    _same_shape(lean, drf)
    assert lean["Content-Type"] == "application/problem+json"
    assert lean.json() == drf.json()

    unknown = {**_body(merchant, member_with_card()), "merchant": "0b5e8f8e-2d55-4a2c-9b0a-5b6f0f6f3a11"}
    lean = client.post(URL, unknown, format="json")
    drf = client.post(URL, unknown, format="json", HTTP_IDEMPOTENCY_KEY="till-9")
    assert lean.status_code == 404 and lean.json() == drf.json()

    bad_bill = _body(merchant, member_with_card(), bill="abc")
    lean = client.post(URL, bad_bill, format="json")
    assert lean.status_code == 422 and lean.json()["code"] == "bill_invalid"
    assert len(drf_calls) == 2  # the bill is the service's to judge, on either path


def test_what_the_lean_path_does_not_take_goes_to_drf_unchanged(pos, partner_client, drf_calls):
    client, merchant = pos
    missing_bill = {"merchant": str(merchant.public_id), "code": code_of(member_with_card()).qr}
    answer = client.post(URL, missing_bill, format="json")
    assert answer.status_code == 400 and answer.json()["fields"]["bill_fen"][0]["code"] == "required"
    numeric_code = {**_body(merchant, member_with_card()), "code": 12345678}
    assert client.post(URL, numeric_code, format="json").json()["code"] == "code_invalid"
    assert client.post(URL, _body(merchant, member_with_card()), HTTP_ACCEPT="text/html").status_code == 406
    too_long = {**_body(merchant, member_with_card()), "code": "1" * 301}
    answer = client.post(URL, too_long, format="json")
    assert answer.status_code == 400 and answer.json()["fields"]["code"][0]["code"] == "max_length"
    assert len(drf_calls) == 3  # the 406 is refused by DRF's negotiation before the view's handler

    other, _ = partner_client("members:read")
    assert other.post(URL, _body(merchant, member_with_card()), format="json").status_code == 403
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    refused = client.post(URL, _body(merchant, member_with_card()), format="json")
    assert refused.status_code == 401 and refused.json()["code"] == "not_authenticated"
    assert "WWW-Authenticate" in refused
    assert not Redemption.objects.exists()


def test_a_body_declared_utf_8_takes_the_lean_path_and_another_charset_goes_to_drf(pos, drf_calls):
    client, merchant = pos
    body = json.dumps(_body(merchant, member_with_card()))
    declared = client.post(URL, body, content_type="application/json; charset=UTF-8")
    assert declared.status_code == 201 and drf_calls == []
    other = json.dumps(_body(merchant, member_with_card()))
    latin = client.post(URL, other, content_type="application/json; charset=latin-1")
    assert latin.status_code == 201 and len(drf_calls) == 1  # DRF decodes it with the charset it declares


def test_the_staff_scanner_s_session_goes_through_drf(staff_client, merchant, member, drf_calls):
    body = {"merchant": str(merchant.public_id), "code": code_of(member).qr, "bill_fen": 8650}
    answer = staff_client.post(reverse("api-redemption-confirm"), body)
    assert answer.status_code == 201 and len(drf_calls) == 1


def test_each_request_is_counted_once_against_the_partner_s_rate(pos, settings, drf_calls):
    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "client": "3/min"},
    }
    client, merchant = pos
    assert client.post(URL, _body(merchant, member_with_card()), format="json").status_code == 201  # lean: 1
    missing_bill = {"merchant": str(merchant.public_id), "code": code_of(member_with_card()).qr}
    assert client.post(URL, missing_bill, format="json").status_code == 400  # handed to DRF: 2
    assert client.post(URL, _body(merchant, member_with_card()), format="json").status_code == 201  # lean: 3
    throttled = client.post(URL, _body(merchant, member_with_card()), format="json")  # lean: 4, over
    assert throttled.status_code == 429, throttled.content
    assert throttled.json()["code"] == "throttled" and int(throttled["Retry-After"]) >= 1
    assert throttled["Content-Type"] == "application/problem+json"
    assert Redemption.objects.count() == 2 and len(drf_calls) == 1
