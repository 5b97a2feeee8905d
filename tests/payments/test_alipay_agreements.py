"""Alipay 周期扣款 agreements kept in step with Alipay: ``alipay.user.agreement.query`` settles agreements
stuck in pending (the signature notice lost), ``alipay.user.agreement.unsign`` ends one when the member
switches auto-renew off (retried by reconciliation when Alipay cannot be reached), against the local gateway."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from members.models import PaymentAgreement, Subscription
from members.services.agreements import agreement_sign_start, agreements_reconcile, auto_renew_switch
from tests.payments.test_alipay import active, agreement_notify

LATER = timedelta(minutes=15)


def pending_agreement(alipay) -> PaymentAgreement:
    payment = active(alipay)
    assert alipay.open(agreement_sign_start(user=payment.subscription.user)) == 200
    return PaymentAgreement.objects.get()


def test_a_signed_agreement_whose_notice_was_lost_is_activated_from_the_query(alipay):
    agreement = pending_agreement(alipay)
    assert agreements_reconcile(now=timezone.now() + LATER) == {"pending": 1}  # TEMP: not signed yet
    alipay.sign_agreement(str(agreement.public_id))  # signed; the notice never arrives
    assert agreements_reconcile(now=timezone.now() + LATER) == {"signed": 1}
    assert agreements_reconcile(now=timezone.now() + LATER) == {}
    agreement.refresh_from_db()
    assert agreement.state == "active"
    assert agreement.agreement_no == alipay.agreements[str(agreement.public_id)]["agreement_no"]
    queries = alipay.calls_of("alipay.user.agreement.query")
    assert len(queries) == 2 and queries[0]["external_agreement_no"] == str(agreement.public_id)
    assert queries[0]["personal_product_code"] == "CYCLE_PAY_AUTH_P" and alipay.rejected == []


def test_an_agreement_never_signed_is_given_up_after_a_day(alipay):
    agreement = pending_agreement(alipay)
    assert agreements_reconcile(now=timezone.now() + timedelta(days=2)) == {"abandoned": 1}
    agreement.refresh_from_db()
    assert agreement.state == "ended"
    assert Subscription.objects.get(user=agreement.user).auto_renew is True  # nothing the member ended


def test_switching_auto_renew_off_unsigns_the_agreement_at_alipay(alipay, client):
    agreement = pending_agreement(alipay)
    assert agreement_notify(alipay.sign_agreement(str(agreement.public_id))).content == b"success"
    agreement.refresh_from_db()
    client.force_login(agreement.user)
    assert 'id="agreement-in-force"' in client.get("/membership/").content.decode()
    assert client.post("/membership/auto-renew/", {}).status_code == 302
    (unsign,) = alipay.calls_of("alipay.user.agreement.unsign")
    assert unsign["agreement_no"] == agreement.agreement_no and unsign["personal_product_code"] == "CYCLE_PAY_AUTH_P"
    assert alipay.agreements[str(agreement.public_id)]["status"] == "UNSIGN"
    agreement.refresh_from_db()
    assert agreement.state == "ended" and Subscription.objects.get(user=agreement.user).auto_renew is False
    # Alipay's dut_user_unsign notice follows and changes nothing
    assert agreement_notify(alipay.agreement_notice(str(agreement.public_id))).content == b"success"
    assert 'id="agreement-in-force"' not in client.get("/membership/").content.decode()


def test_an_unsign_alipay_did_not_take_is_sent_again_by_reconciliation(alipay):
    agreement = pending_agreement(alipay)
    agreement_notify(alipay.sign_agreement(str(agreement.public_id)))
    alipay.faults["alipay.user.agreement.unsign"] = "5xx"
    auto_renew_switch(user=agreement.user, auto_renew=False)
    agreement.refresh_from_db()
    assert agreement.state == "active" and agreement.end_requested_at is not None
    alipay.faults.clear()
    assert agreements_reconcile(now=timezone.now()) == {"ended": 1}
    assert agreements_reconcile(now=timezone.now()) == {}
    agreement.refresh_from_db()
    assert agreement.state == "ended" and alipay.agreements[str(agreement.public_id)]["status"] == "UNSIGN"


def test_switching_auto_renew_back_on_before_alipay_confirmed_keeps_the_agreement(alipay):
    agreement = pending_agreement(alipay)
    agreement_notify(alipay.sign_agreement(str(agreement.public_id)))
    alipay.faults["alipay.user.agreement.unsign"] = "5xx"
    auto_renew_switch(user=agreement.user, auto_renew=False)
    alipay.faults.clear()
    auto_renew_switch(user=agreement.user, auto_renew=True)
    assert agreements_reconcile(now=timezone.now()) == {}
    agreement.refresh_from_db()
    assert agreement.state == "active" and agreement.end_requested_at is None
    assert alipay.agreements[str(agreement.public_id)]["status"] == "NORMAL"
