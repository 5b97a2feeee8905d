import re

import pytest
from django.contrib.auth.models import Group

from core.demo import DEMO_PASSWORD
from members import selectors
from members.models import Payment, Programme, Refund, SandboxOrder, Subscription
from members.services.refunds import subscription_refund
from members.services.subscriptions import subscription_savings_add
from tests.factories import UserFactory
from tests.factories.members import paid_subscription

pytestmark = pytest.mark.django_db


def test_join_pay_active_cancel_undo_in_pages(plans, client):
    user = UserFactory()
    client.force_login(user)
    page = client.get("/membership/join/")
    assert page.status_code == 200 and "¥168" in page.content.decode()
    response = client.post("/membership/join/", {"plan": "annual"})
    checkout_url = response["Location"]
    assert checkout_url.startswith("/membership/sandbox/checkout/")
    checkout = client.get(checkout_url)
    assert "¥168" in checkout.content.decode()
    back = client.post(checkout_url, {"action": "pay"})
    assert back["Location"].startswith("/membership/join/return/")
    landed = client.get(back["Location"], follow=True)
    assert landed.redirect_chain[-1][0] == "/r/card/"  # paid: straight to the card at the counter
    html = client.get("/membership/").content.decode()
    assert "本年已省 ¥0 / 年费 ¥168" in html
    assert Subscription.objects.get(user=user).state == "active"

    client.post("/membership/cancel/")
    assert Subscription.objects.get(user=user).state == "cancel_at_period_end"
    assert "撤销取消" in client.get("/membership/").content.decode()
    client.post("/membership/undo-cancel/")
    assert Subscription.objects.get(user=user).state == "active"
    client.post("/membership/auto-renew/", {})
    assert Subscription.objects.get(user=user).auto_renew is False


def test_declined_then_abandoned_checkout(plans, client):
    user = UserFactory()
    client.force_login(user)
    checkout_url = client.post("/membership/join/", {"plan": "annual"})["Location"]
    declined = client.post(checkout_url, {"action": "decline"}, follow=True)
    assert "拒绝" in declined.content.decode()
    abandoned = client.post(checkout_url, {"action": "abandon"})
    pending = client.get(abandoned["Location"])
    assert pending.status_code == 200 and 'http-equiv="refresh"' in pending.content.decode()
    assert Subscription.objects.get(user=user).state == "pending_payment"


def test_someone_elses_checkout_page_is_not_found(plans, client):
    user = UserFactory()
    client.force_login(user)
    checkout_url = client.post("/membership/join/", {"plan": "annual"})["Location"]
    client.force_login(UserFactory())
    assert client.get(checkout_url).status_code == 404


def test_membership_page_shows_savings_payments_and_refunds(plans, client, django_assert_max_num_queries):
    subscription = paid_subscription()
    subscription_savings_add(subscription_id=subscription.pk, amount_fen=21240)
    client.force_login(subscription.user)
    html = client.get("/membership/").content.decode()
    assert "本年已省 ¥212.40 / 年费 ¥168" in html
    assert "meter-10" in html
    subscription_refund(subscription_id=subscription.pk, mode="full", reason="搬家", actor="op")
    with django_assert_max_num_queries(15):
        html = client.get("/membership/").content.decode()
    assert "−¥168" in html and "搬家" in html


def test_membership_page_in_english(plans, client):
    subscription = paid_subscription()
    client.force_login(subscription.user)
    html = client.get("/membership/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Saved ¥0 this year / fee ¥168" in html


def test_page_has_no_inline_script_or_style(plans, client):
    subscription = paid_subscription()
    client.force_login(subscription.user)
    html = client.get("/membership/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "style=" not in html and " onclick=" not in html


def test_home_section_links_to_membership(plans, client):
    subscription = paid_subscription()
    client.force_login(subscription.user)
    assert "/membership/" in client.get("/").content.decode()


def test_join_page_when_sales_are_closed(plans, client):
    Programme.objects.update_or_create(pk=1, defaults={"sales_open": False})
    client.force_login(UserFactory())
    html = client.get("/membership/join/").content.decode()
    assert "暂停" in html or "not selling" in html
    response = client.post("/membership/join/", {"plan": "annual"}, follow=True)
    assert Subscription.objects.count() == 0 and response.status_code == 200


@pytest.fixture
def operator_client(client, db):
    operator = UserFactory(is_staff=True)
    operator.groups.add(Group.objects.get(name="operator"))
    client.force_login(operator)
    return client


def test_admin_refund_action_asks_for_a_reason_first(plans, operator_client):
    subscription = paid_subscription()
    url = "/admin/members/subscription/"
    page = operator_client.post(url, {"action": "refund_prorated", "_selected_action": [subscription.pk]})
    assert page.status_code == 200 and "reason" in page.content.decode()
    assert Refund.objects.count() == 0
    missing = operator_client.post(
        url, {"action": "refund_full", "_selected_action": [subscription.pk], "apply": "1", "reason": ""}
    )
    assert missing.status_code == 200 and Refund.objects.count() == 0
    done = operator_client.post(
        url, {"action": "refund_full", "_selected_action": [subscription.pk], "apply": "1", "reason": "客诉"}
    )
    assert done.status_code == 302
    assert Refund.objects.get().reason == "客诉"
    assert selectors.ledger_discrepancies() == []


def test_admin_extend_and_lists(plans, operator_client):
    subscription = paid_subscription()
    end = subscription.period_end
    operator_client.post(
        "/admin/members/subscription/",
        {"action": "extend", "_selected_action": [subscription.pk], "apply": "1", "days": "7", "reason": "补偿"},
    )
    subscription.refresh_from_db()
    assert (subscription.period_end - end).days == 7
    for url in (
        "/admin/members/subscription/?state__exact=active",
        f"/admin/members/subscription/{subscription.pk}/change/",
        "/admin/members/payment/",
        "/admin/members/refund/",
        "/admin/members/flaggedpayment/",
        "/admin/members/plan/",
        "/admin/members/programme/",
    ):
        assert operator_client.get(url).status_code == 200, url


def test_flagged_payments_have_their_own_view(plans, operator_client):
    flagged = paid_subscription().payments.get()
    Payment.objects.filter(pk=flagged.pk).update(flag_reason="amount_mismatch", flagged_at=flagged.created_at)
    other = paid_subscription().payments.get()
    html = operator_client.get("/admin/members/flaggedpayment/").content.decode()
    assert str(flagged.public_id) in html and str(other.public_id) not in html


def test_admin_programme_suspension_previews_then_needs_the_name_typed(plans, operator_client):
    subscription = paid_subscription()
    url = "/admin/members/programme/suspend/"
    page = operator_client.get(url)
    assert page.status_code == 200 and "1" in page.content.decode()
    settings_ = {"effective_date": "2026-01-01", "refund_mode": "full", "reason": "暂停"}
    preview = operator_client.post(url, {**settings_, "step": "preview"})
    html = preview.content.decode()
    assert preview.status_code == 200 and 'id="suspend-preview"' in html
    assert preview.context["preview"].refunded_count == 1 and "¥168.00" in html  # who and how much
    assert Programme.objects.get().sales_open  # a dry run changes nothing
    subscription.refresh_from_db()
    assert subscription.state == "active"
    for wrong in ({"confirm": "on"}, {"confirm": "on", "typed_name": "小红"}, {"typed_name": "小红卡"}):
        refused = operator_client.post(url, {**settings_, "step": "suspend", **wrong})
        assert refused.status_code == 200 and Programme.objects.get().sales_open, wrong
    done = operator_client.post(url, {**settings_, "step": "suspend", "typed_name": " 小红卡 ", "confirm": "on"})
    assert done.status_code == 302
    programme = Programme.objects.get()
    assert not programme.sales_open and programme.last_report["refunded_count"] == 1
    subscription.refresh_from_db()
    assert subscription.state == "refunded"


def test_curator_cannot_refund(plans, client):
    curator = UserFactory(is_staff=True)
    curator.groups.add(Group.objects.get(name="curator"))
    client.force_login(curator)
    subscription = paid_subscription()
    assert client.get("/admin/members/subscription/").status_code == 200
    client.post(
        "/admin/members/subscription/",
        {"action": "refund_full", "_selected_action": [subscription.pk], "apply": "1", "reason": "x"},
    )
    assert Refund.objects.count() == 0


def test_demo_seed_creates_members_in_each_state(db):
    out: list = []
    from core.demo import seed as core_seed
    from members.demo import seed

    core_seed([])
    seed(out)
    seed([])  # idempotent
    states = set(Subscription.objects.values_list("state", flat=True))
    assert {
        "active",
        "cancel_at_period_end",
        "refunded",
        "expired",
        "trialing",
        "pending_payment",
        "payment_failed",
    } <= states
    assert ("member (active card)", "member@redcard.local", DEMO_PASSWORD) in out
    assert any(email == "nocard@redcard.local" for _role, email, _pw in out)
    assert Refund.objects.count() == 1
    assert SandboxOrder.objects.exists()
    assert selectors.ledger_discrepancies() == []


def test_trial_member_upgrades_in_one_tap_from_the_membership_page(plans, client):
    from members.services.subscriptions import trial_start

    trial = trial_start(user=UserFactory())
    client.force_login(trial.user)
    page = client.get("/membership/").content.decode()
    assert 'id="upgrade"' in page and 'name="plan" value="annual"' in page
    response = client.post("/membership/join/", {"plan": "annual"})
    checkout_url = response["Location"]
    assert checkout_url.startswith("/membership/sandbox/checkout/")
    back = client.post(checkout_url, {"action": "pay"})
    landed = client.get(back["Location"], follow=True)
    assert landed.redirect_chain[-1][0] == "/r/card/"
    assert 'id="rc-trial"' not in landed.content.decode()  # no longer a trial card
    trial.refresh_from_db()
    assert trial.state == "active" and trial.periods.count() == 2
    assert 'id="upgrade"' not in client.get("/membership/").content.decode()


def test_membership_page_lists_payments_and_refunds_with_state_method_and_receipt(plans, client):
    subscription = paid_subscription()
    payment = Payment.objects.get(subscription=subscription)
    subscription_refund(subscription_id=subscription.pk, mode="prorated", reason="moving away", actor="test")
    client.force_login(subscription.user)
    html = client.get("/membership/").content.decode()
    receipt_url = f"/membership/receipt/{payment.public_id}/"
    assert receipt_url in html
    assert 'class="payment-row" data-state="paid"' in html and 'class="refund-row" data-state="succeeded"' in html
    assert "沙箱" in html  # the payment method, in the member's language
    receipt = client.get(receipt_url)
    assert receipt.status_code == 200
    text = receipt.content.decode()
    assert str(payment.public_id) in text and payment.provider_txn_id in text and "¥168" in text
    assert 'data-state="succeeded"' in text
    client.force_login(UserFactory())
    assert client.get(receipt_url).status_code == 404  # someone else's receipt does not exist for them
