"""The redemption API: staff sessions and partner POS apps, problem+json refusals, OpenAPI examples."""

from __future__ import annotations

import pytest
from django.urls import reverse

from merchants.models import PartnerGrant
from redemptions.counter.errors import REFUSAL_CODES
from redemptions.models import Redemption
from tests.factories.redemptions import code_of, member_with_card, shop

pytestmark = pytest.mark.django_db


def test_staff_prepares_then_confirms_with_the_token(staff_client, merchant, member):
    code = code_of(member).qr
    prepared = staff_client.post(reverse("api-redemption-prepare"), {"merchant": str(merchant.public_id), "code": code})
    assert prepared.status_code == 200, prepared.content
    body = prepared.json()
    assert body["member"] == member.masked_name and body["rate_bp"] == 1200 and body["capacity_remaining"] == 50
    confirmed = staff_client.post(
        reverse("api-redemption-confirm"),
        {"merchant": str(merchant.public_id), "token": body["token"], "bill_fen": 8650},
        HTTP_IDEMPOTENCY_KEY="till-1-0001",
    )
    assert confirmed.status_code == 201, confirmed.content
    assert (confirmed.json()["discount_fen"], confirmed.json()["charge_fen"]) == (1038, 7612)
    # A retry with the same Idempotency-Key returns the first answer, not code_already_used.
    retry = staff_client.post(
        reverse("api-redemption-confirm"),
        {"merchant": str(merchant.public_id), "token": body["token"], "bill_fen": 8650},
        HTTP_IDEMPOTENCY_KEY="till-1-0001",
    )
    assert retry.status_code == 201 and retry.json()["id"] == confirmed.json()["id"]
    assert Redemption.objects.count() == 1


@pytest.mark.parametrize("bill", [0, -1, "abc", "８６", 1.5, 10**12, None])
def test_bad_bills_answer_bill_invalid_as_problem_json(staff_client, merchant, member, bill):
    response = staff_client.post(
        reverse("api-redemption-confirm"),
        {"merchant": str(merchant.public_id), "code": code_of(member).qr, "bill_fen": bill},
        format="json",
    )
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "bill_invalid"


def test_used_code_answers_409_in_chinese_and_english(staff_client, merchant, member):
    payload = {"merchant": str(merchant.public_id), "code": code_of(member).qr, "bill_fen": 5000}
    assert staff_client.post(reverse("api-redemption-confirm"), payload).status_code == 201
    again = staff_client.post(reverse("api-redemption-confirm"), payload)
    assert again.status_code == 409 and again.json()["code"] == "code_already_used"
    assert again.json()["detail"] == "此码已被使用。"
    english = staff_client.post(reverse("api-redemption-confirm"), payload, HTTP_ACCEPT_LANGUAGE="en")
    assert english.json()["detail"] == "This code has already been used."


def test_member_cannot_redeem_at_a_shop_they_do_not_staff(merchant, member):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(member)
    response = client.post(
        reverse("api-redemption-confirm"),
        {"merchant": str(merchant.public_id), "code": code_of(member).qr, "bill_fen": 5000},
    )
    assert response.status_code == 403 and response.json()["code"] == "staff_not_authorized"


def test_partner_pos_redeems_only_where_granted(partner_client, member):
    granted, other = shop(), shop()
    client, app = partner_client("redemptions:write")
    PartnerGrant.objects.create(merchant=granted, application=app, scopes="redemptions:write")
    ok = client.post(
        reverse("api-redemption-confirm"),
        {"merchant": str(granted.public_id), "code": code_of(member).qr, "bill_fen": 5000},
    )
    assert ok.status_code == 201, ok.content
    assert Redemption.objects.get().channel == "partner_pos"
    refused = client.post(
        reverse("api-redemption-confirm"),
        {"merchant": str(other.public_id), "code": code_of(member_with_card()).qr, "bill_fen": 5000},
    )
    assert refused.status_code == 403 and refused.json()["code"] == "partner_not_granted"


def test_partner_without_the_scope_is_turned_away(partner_client, member):
    client, app = partner_client("members:read")
    merchant = shop()
    PartnerGrant.objects.create(merchant=merchant, application=app, scopes="redemptions:write")
    response = client.post(
        reverse("api-redemption-confirm"),
        {"merchant": str(merchant.public_id), "code": code_of(member).qr, "bill_fen": 5000},
    )
    assert response.status_code == 403


def test_staff_lists_today_and_voids(staff_client, merchant, member, django_assert_max_num_queries):
    for _ in range(3):
        other = member_with_card()
        staff_client.post(
            reverse("api-redemption-confirm"),
            {"merchant": str(merchant.public_id), "code": code_of(other).qr, "bill_fen": 5000},
        )
    with django_assert_max_num_queries(6):
        listed = staff_client.get(reverse("api-redemption-day"), {"merchant": str(merchant.public_id)})
    assert listed.status_code == 200 and len(listed.json()["results"]) == 3
    target = listed.json()["results"][0]["id"]
    voided = staff_client.post(reverse("api-redemption-void", args=[target]), {"reason": "wrong amount"})
    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    again = staff_client.post(reverse("api-redemption-void", args=[target]), {"reason": "again"})
    assert again.status_code == 409 and again.json()["code"] == "already_voided"


def test_member_reads_their_card_and_redemptions(merchant, counter, member):
    from rest_framework.test import APIClient

    from redemptions.counter import services

    services.redemption_confirm(merchant=merchant, counter=counter, bill=10000, code=code_of(member).qr)
    client = APIClient()
    client.force_login(member)
    card = client.get(reverse("api-redemption-card")).json()
    assert card["entitled"] and len(card["codes"]) == 4 and card["savings"]["saved_fen"] == 1200
    assert card["codes"][0]["svg"].startswith("<svg")
    mine = client.get(reverse("api-redemption-mine")).json()
    assert mine["results"][0]["discount_fen"] == 1200 and mine["savings"]["saved_fen"] == 1200


def test_public_keys_are_public(api_client):
    keys = api_client.get(reverse("api-redemption-keys")).json()
    assert keys["keys"] and keys["rotate_seconds"] == 30


def test_openapi_has_an_example_for_every_refusal_code(api_client, settings):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    text = str({p: v for p, v in schema["paths"].items() if p.startswith("/api/v1/redemptions/")})
    missing = [code for code in REFUSAL_CODES if f"'code': '{code}'" not in text]
    assert not missing


def test_partner_granted_at_the_shop_gets_the_redemption_webhooks(
    partner_client, member, django_capture_on_commit_callbacks
):
    from core.models import WebhookDelivery, WebhookEndpoint
    from redemptions.counter import services
    from redemptions.counter.outbox import outbox_catch_up
    from redemptions.counter.selectors import merchant_by_public_id
    from tests.factories import PartnerApplicationFactory

    merchant = merchant_by_public_id(public_id=shop().public_id)
    _client, pos = partner_client("redemptions:write")
    PartnerGrant.objects.create(merchant=merchant, application=pos, scopes="redemptions:write")
    listening = WebhookEndpoint.objects.create(application=pos, url="https://pos.example/hooks")
    stranger = WebhookEndpoint.objects.create(application=PartnerApplicationFactory(), url="https://other.example/h")
    counter = services.Counter(partner=pos)
    with django_capture_on_commit_callbacks(execute=False):
        redemption = services.redemption_confirm(merchant=merchant, counter=counter, bill=5000, code=code_of(member).qr)
        services.redemption_void(redemption=redemption, actor=counter.actor, reason="test")
    # The webhooks leave the money transactions through the outbox (deliveries themselves stay queued here).
    assert not WebhookDelivery.objects.exists()
    assert outbox_catch_up() == 2
    events = list(
        WebhookDelivery.objects.filter(endpoint=listening).order_by("pk").values_list("event__type", flat=True)
    )
    assert events == ["redemption.confirmed", "redemption.voided"]
    assert not WebhookDelivery.objects.filter(endpoint=stranger).exists()


def test_staff_register_tags_through_the_api(staff_client, merchant, member):
    from rest_framework.test import APIClient

    url = reverse("api-redemption-tags")
    zero = "0" * 32
    made = staff_client.post(
        url,
        {
            "merchant": str(merchant.public_id),
            "label": "till 1",
            "kind": "sun",
            "meta_read_key": zero,
            "file_read_key": zero,
        },
    )
    assert made.status_code == 201, made.content
    assert "meta_read_key" not in made.json() and "&picc=" in made.json()["url"]
    bad = staff_client.post(
        url, {"merchant": str(merchant.public_id), "label": "x", "kind": "sun", "meta_read_key": "zz"}
    )
    assert bad.status_code == 400 and bad.json()["code"] == "validation_failed"
    listed = staff_client.get(url, {"merchant": str(merchant.public_id)}).json()["results"]
    assert [t["label"] for t in listed] == ["till 1"]
    outsider = APIClient()
    outsider.force_login(member)
    assert outsider.get(url, {"merchant": str(merchant.public_id)}).json()["code"] == "staff_not_authorized"


def test_the_scanner_holds_the_keys_offer_and_state_of_its_shop(staff_client, client, merchant, staff, member):
    from merchants.services import merchant_pause_today
    from redemptions.counter import codes

    url = reverse("api-redemption-counter") + f"?merchant={merchant.public_id}"
    body = staff_client.get(url).json()
    assert body["keys"] == codes.public_keys() and body["offer"]["rate_bp"] == 1200
    assert (body["refusal"], body["full"], body["offline"]["enabled"]) == (None, False, True)
    assert body["offline"]["max_age_seconds"] == 24 * 3600
    merchant_pause_today(merchant=merchant, actor=staff, paused=True)
    assert staff_client.get(url).json()["refusal"] == "merchant_paused"
    client.force_login(member)
    assert client.get(url).json()["code"] == "staff_not_authorized"
    keys = client.get(reverse("api-redemption-keys"))
    assert keys["Cache-Control"] == "public, max-age=300" and keys.json()["keys"] == codes.public_keys()


def test_the_cards_status_poll_is_cheap_and_names_the_used_code(client, merchant, counter, member):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from redemptions.counter import services

    client.force_login(member)
    url = reverse("api-redemption-card-status")
    assert client.get(url).json()["last"] is None
    code = code_of(member)
    services.redemption_confirm(merchant=merchant, counter=counter, bill=16066, code=code.qr)
    with CaptureQueriesContext(connection) as queries:
        body = client.get(url).json()
    # Session, user, the newest redemption, the savings meter (and, for a trial card, the fee it runs against).
    assert len(queries) <= 5, "\n".join(q["sql"][:150] for q in queries.captured_queries)
    assert body["last"]["code_id"] == f"{member.public_id.hex}.{code.window}"
    assert (body["last"]["discount_fen"], body["last"]["status"]) == (1928, "confirmed")
    assert body["savings"]["saved_fen"] == 1928 and body["paid_back"] is False  # ¥19.28 of the ¥168 fee
    card = client.get(reverse("api-redemption-card")).json()
    assert card["codes"][0]["code_id"].startswith(member.public_id.hex)
