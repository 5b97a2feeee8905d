import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from members import selectors
from members.models import Refund, Subscription
from members.payments import sandbox
from tests.factories import UserFactory
from tests.factories.members import deliver_pending, paid_subscription, sandbox_order

pytestmark = pytest.mark.django_db


def test_join_pay_cancel_undo_refund_through_the_api(plans, person_client, user, partner_client):
    response = person_client.post("/api/v1/me/subscription/checkout/", {"plan": "annual"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["amount_fen"] == 16800 and "/membership/sandbox/checkout/" in body["checkout_url"]
    subscription = Subscription.objects.get(public_id=body["subscription"])
    sandbox.pay(sandbox_order(subscription.payments.get()))
    assert deliver_pending() == ["ok"]

    me = person_client.get("/api/v1/me/subscription/").json()
    assert me["subscription"]["state"] == "active" and me["entitlement"]["entitled"] is True
    assert me["savings"] == {"saved_fen": 0, "fee_fen": 16800, "currency": "CNY", "guarantee": None}
    assert len(me["payments"]) == 1 and me["payments"][0]["state"] == "paid"

    assert person_client.post("/api/v1/me/subscription/cancel/").json()["state"] == "cancel_at_period_end"
    assert person_client.post("/api/v1/me/subscription/undo-cancel/").json()["state"] == "active"
    off = person_client.post("/api/v1/me/subscription/auto-renew/", {"auto_renew": False}, format="json")
    assert off.status_code == 200 and off.json()["auto_renew"] is False

    client, _app = partner_client("members:refund")
    refund = client.post(
        f"/api/v1/subscriptions/{subscription.public_id}/refund/",
        {"mode": "full", "reason": "member asked"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="refund-1",
    )
    assert refund.status_code == 201, refund.content
    assert refund.json()[0]["amount_fen"] == 16800
    replay = client.post(
        f"/api/v1/subscriptions/{subscription.public_id}/refund/",
        {"mode": "full", "reason": "member asked"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="refund-1",
    )
    assert replay.status_code == 201 and replay.json() == refund.json()
    again = client.post(
        f"/api/v1/subscriptions/{subscription.public_id}/refund/", {"mode": "full", "reason": "x"}, format="json"
    )
    assert again.status_code == 409 and again.json()["code"] == "subscription_already_refunded"
    assert Refund.objects.count() == 1
    me = person_client.get("/api/v1/me/subscription/").json()
    assert me["subscription"]["state"] == "refunded" and me["refunds"][0]["amount_fen"] == 16800
    assert selectors.ledger_discrepancies() == []


def test_checkout_for_a_member_with_a_card_is_refused(plans, person_client, user):
    paid_subscription(user)
    response = person_client.post("/api/v1/me/subscription/checkout/", {"plan": "annual"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "subscription_already_current"
    assert response["Content-Type"].startswith("application/problem+json")


def test_trial_twice_is_refused(plans, person_client):
    assert person_client.post("/api/v1/me/subscription/trial/").status_code == 201
    Subscription.objects.update(state="expired")
    response = person_client.post("/api/v1/me/subscription/trial/")
    assert response.status_code == 409 and response.json()["code"] == "trial_already_used"


def test_refund_above_amount_via_api(plans, partner_client):
    subscription = paid_subscription()
    client, _app = partner_client("members:refund")
    response = client.post(
        f"/api/v1/subscriptions/{subscription.public_id}/refund/",
        {"mode": "full", "reason": "x", "amount_fen": 20000},
        format="json",
    )
    assert response.status_code == 409 and response.json()["code"] == "refund_exceeds_paid"


def test_refund_needs_the_scope_or_the_operator_group(plans, partner_client, person_client, user):
    subscription = paid_subscription()
    url = f"/api/v1/subscriptions/{subscription.public_id}/refund/"
    client, _app = partner_client("members:read")
    assert client.post(url, {"mode": "full", "reason": "x"}, format="json").status_code == 403
    assert person_client.post(url, {"mode": "full", "reason": "x"}, format="json").status_code == 403
    user.groups.add(Group.objects.get(name="operator"))
    response = person_client.post(url, {"mode": "prorated", "reason": "x"}, format="json")
    assert response.status_code == 201


def test_partner_entitlement_lookup(plans, partner_client, django_assert_max_num_queries):
    subscription = paid_subscription()
    client, _app = partner_client("members:read")
    url = f"/api/v1/members/{subscription.user.public_id}/entitlement/"
    response = client.get(url)
    assert response.status_code == 200
    assert response.json()["entitled"] is True and response.json()["state"] == "active"
    nobody = client.get(f"/api/v1/members/{UserFactory().public_id}/entitlement/").json()
    assert nobody == {"entitled": False, "code": "membership_inactive", "state": None, "period_end": None}
    no_scope, _app = partner_client("merchants:read")
    assert no_scope.get(url).status_code == 403
    assert APIClient().get(url).status_code in (401, 403)


def test_member_api_needs_a_person(plans):
    assert APIClient().get("/api/v1/me/subscription/").status_code in (401, 403)


def test_every_members_endpoint_is_in_the_schema(plans, admin_client):
    schema = admin_client.get("/api/v1/schema/?format=json").json()
    for path in (
        "/api/v1/me/subscription/",
        "/api/v1/me/subscription/checkout/",
        "/api/v1/me/subscription/cancel/",
        "/api/v1/me/subscription/undo-cancel/",
        "/api/v1/me/subscription/auto-renew/",
        "/api/v1/members/{member_id}/entitlement/",
        "/api/v1/subscriptions/{subscription_id}/refund/",
        "/api/v1/payments/notify/{provider}/",
    ):
        assert path in schema["paths"], path
    refund = schema["paths"]["/api/v1/subscriptions/{subscription_id}/refund/"]["post"]
    assert "subscription_already_refunded" in str(refund["responses"])
