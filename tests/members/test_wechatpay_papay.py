"""WeChat Pay 委托代扣 (APIv3, ordinary merchant, a 预约扣费 template) through the real SDK against the local
gateway (tests/members/wechatpay_gateway.py): the member signs a contract (pre-sign), the ENTRUST.* notices
activate and end it, the renewal is booked the day before (Beijing [08:00, 19:30) only) and applied on the day,
its TRANSACTION.* notice settles the renewal once (duplicated, forged, wrong amount), the member's switch-off
ends it at the gateway, and a gateway fault during the debit is settled by reconciliation, once."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone
from rest_framework.test import APIClient

from members.models import Payment, PaymentAgreement, Subscription, WeChatOpenid
from members.payments.wechatpay import schedule_window_open
from members.services.agreements import (
    agreement_sign_start,
    agreements_reconcile,
    auto_renew_switch,
    charge_day,
    renewals_book,
)
from members.services.checkout import RENEWAL_LEAD, payments_reconcile, renewals_charge

from .test_wechatpay import DESKTOP, PHONE, WECHAT, deliver, paid_payment
from .wechatpay_gateway import APPID, PLAN_ID, FakeWeChatPay, Notice

pytestmark = pytest.mark.django_db
AGREEMENT_NOTIFY = "/api/v1/payments/agreements/notify/wechatpay/"
BEIJING = ZoneInfo("Asia/Shanghai")


def deliver_contract(notice: Notice) -> tuple[int, str]:
    response = APIClient().post(
        AGREEMENT_NOTIFY, data=notice.body, content_type="application/json", headers=notice.headers
    )
    data = response.json()
    return response.status_code, data.get("outcome") or data.get("code")


def signed(gateway: FakeWeChatPay) -> tuple[Subscription, PaymentAgreement]:
    """A paid WeChat Pay member who signed the 委托代扣 contract (its notice delivered)."""
    payment = paid_payment(gateway)
    subscription = Subscription.objects.get(pk=payment.subscription_id)
    agreement_sign_start(user=subscription.user)
    agreement = PaymentAgreement.objects.get(user=subscription.user)
    assert deliver_contract(gateway.sign_contract(str(agreement.public_id))) == (200, "signed")
    agreement.refresh_from_db()
    return subscription, agreement


def booking_time(subscription: Subscription, hour: int = 10, minute: int = 0) -> datetime:
    """``hour:minute`` Beijing time on the day before the renewal's deduction day."""
    assert subscription.period_end is not None
    day = charge_day(subscription.period_end) - timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BEIJING)


def charged(gateway: FakeWeChatPay, subscription: Subscription) -> tuple[Payment, datetime]:
    """Booked the day before and applied on the deduction day: the renewal order, accepted by WeChat Pay."""
    gateway.clock = lambda: booking_time(subscription)
    assert renewals_book(now=booking_time(subscription)) == {"booked": 1}
    assert subscription.period_end is not None
    at = subscription.period_end - RENEWAL_LEAD
    gateway.clock = lambda: at
    assert renewals_charge(now=at) == 1
    return Payment.objects.get(kind=Payment.Kind.RENEWAL, subscription=subscription), at


def test_the_booking_window_is_beijing_eight_to_half_past_seven():
    utc = ZoneInfo("UTC")
    assert not schedule_window_open(datetime(2026, 3, 1, 23, 59, tzinfo=utc))  # 07:59 Beijing
    assert schedule_window_open(datetime(2026, 3, 2, 0, 0, tzinfo=utc))  # 08:00
    assert schedule_window_open(datetime(2026, 3, 2, 11, 29, tzinfo=utc))  # 19:29
    assert not schedule_window_open(datetime(2026, 3, 2, 11, 30, tzinfo=utc))  # 19:30
    assert not schedule_window_open(datetime(2026, 3, 2, 16, 0, tzinfo=utc))  # midnight in Shanghai


def test_member_signs_the_contract_and_the_renewal_is_booked_the_day_before_and_charged_once(gateway, client):
    payment = paid_payment(gateway)
    subscription = Subscription.objects.get(pk=payment.subscription_id)
    client.force_login(subscription.user)
    assert 'action="/membership/agreement/"' in client.get("/membership/").content.decode()
    response = client.post("/membership/agreement/", headers={"user-agent": DESKTOP})
    agreement = PaymentAgreement.objects.get()
    assert agreement.state == "pending"
    ((_, path, body),) = gateway.requests_to("papay_sign")  # signed by us, the answer verified by the SDK
    assert path == "/v3/papay/scheduled-deduct-sign/contracts/pre-entrust-sign/jsapi"
    assert body["appid"] == APPID and body["plan_id"] == PLAN_ID
    assert body["out_contract_code"] == agreement.public_id.hex
    assert body["contract_notify_url"].endswith(AGREEMENT_NOTIFY)
    assert subscription.period_end is not None
    assert body["deduct_schedule"]["estimated_deduct_date"] == charge_day(subscription.period_end).isoformat()
    assert body["deduct_schedule"]["estimated_deduct_amount"] == {"total": 16800, "currency": "CNY"}
    page = client.get(response["Location"])  # on a desktop: WeChat Pay's signing page as a QR code
    assert page.status_code == 200 and b"<svg" in page.content

    notice = gateway.sign_contract(str(agreement.public_id))
    assert deliver_contract(notice) == (200, "signed")
    assert deliver_contract(notice) == (200, "unchanged")  # WeChat Pay re-sends until acknowledged
    agreement.refresh_from_db()
    contract = gateway.contract_of(str(agreement.public_id))
    assert agreement.state == "active" and agreement.agreement_no == contract.contract_id
    page = client.get("/membership/").content.decode()
    assert 'id="agreement-in-force"' in page and 'action="/membership/agreement/"' not in page

    # booked only inside Beijing [08:00, 19:30) of the day before: too early is not even sent
    early = booking_time(subscription, 7, 30)
    assert renewals_book(now=early) == {"payment_gateway_refused": 1} and gateway.requests_to("papay_schedule") == []
    renewal, at = charged(gateway, subscription)
    assert renewals_book(now=booking_time(subscription, 11)) == {}  # booked once
    ((_, path, body),) = gateway.requests_to("papay_schedule")
    assert path == f"/v3/papay/pay/schedules/contract-id/{contract.contract_id}/schedule"
    assert body == {"appid": APPID, "schedule_amount": {"total": 16800, "currency": "CNY"}}
    assert renewals_charge(now=at + timedelta(hours=1)) == 0  # one renewal order per period
    ((_, _, body),) = gateway.requests_to("papay_apply")
    assert body["contract_id"] == contract.contract_id and body["out_trade_no"] == renewal.public_id.hex
    assert body["amount"] == {"total": 16800, "currency": "CNY"}

    paid, ended = gateway.deduct(str(renewal.public_id))
    assert deliver(paid) == (200, "renewed")
    assert deliver(paid) == (200, "duplicate")
    assert ended is not None and deliver_contract(ended) == (200, "fulfilled")
    subscription.refresh_from_db()
    agreement.refresh_from_db()
    assert subscription.periods.count() == 2 and subscription.auto_renew is True
    assert agreement.state == "ended"  # its one debit paid: the next year's contract is offered
    assert 'action="/membership/agreement/"' in client.get("/membership/").content.decode()


def test_signing_on_a_phone_opens_wechat_pays_page_and_inside_wechat_names_the_member(gateway, client):
    payment = paid_payment(gateway)
    client.force_login(Subscription.objects.get(pk=payment.subscription_id).user)
    response = client.post("/membership/agreement/", headers={"user-agent": PHONE})
    assert response["Location"].startswith("https://payapp.weixin.qq.com/papay/entrustweb?session_id=")
    WeChatOpenid.objects.create(user=payment.subscription.user, app_id=APPID, openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    response = client.post("/membership/agreement/", headers={"user-agent": WECHAT})
    assert response["Location"].startswith("https://payapp.weixin.qq.com/papay/entrustweb?session_id=")
    (h5, jsapi) = gateway.requests_to("papay_sign")
    assert h5[1].endswith("/pre-entrust-sign/h5") and "openid" not in h5[2]
    assert jsapi[1].endswith("/pre-entrust-sign/jsapi") and jsapi[2]["openid"] == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert len({body["out_contract_code"] for _, _, body in (h5, jsapi)}) == 2  # a number per attempt


@pytest.mark.parametrize(
    "bought_at",
    # the card bought just before and just at midnight in Shanghai: the deduction day is Beijing's
    [datetime(2026, 12, 31, 15, 59, 59, tzinfo=ZoneInfo("UTC")), datetime(2026, 12, 31, 16, tzinfo=ZoneInfo("UTC"))],
)
def test_forged_and_duplicated_deduction_notices_settle_the_renewal_once(gateway, bought_at):
    with time_machine.travel(bought_at, tick=False):
        subscription, _agreement = signed(gateway)
    assert subscription.period_end is not None
    assert charge_day(subscription.period_end) == (bought_at + timedelta(days=364)).astimezone(BEIJING).date()
    renewal, _at = charged(gateway, subscription)
    paid, _ended = gateway.deduct(str(renewal.public_id))
    forged = Notice(
        {**paid.headers, **gateway.signed_headers(paid.body, key=rsa.generate_private_key(65537, 2048))}, paid.body
    )
    assert deliver(forged) == (401, "notification_signature_invalid")
    renewal.refresh_from_db()
    assert renewal.state == "pending"
    assert deliver(paid) == (200, "renewed")
    assert deliver(paid) == (200, "duplicate")
    again = gateway.notice("TRANSACTION.SUCCESS", "transaction", gateway.order_of(str(renewal.public_id)).resource())
    assert deliver(again) == (200, "already_paid")
    subscription.refresh_from_db()
    assert subscription.periods.count() == 2


def test_deduction_notice_with_another_amount_is_refused_and_flagged(gateway):
    subscription, _agreement = signed(gateway)
    renewal, _at = charged(gateway, subscription)
    gateway.deduct(str(renewal.public_id))
    resource = {**gateway.order_of(str(renewal.public_id)).resource(), "amount": {"total": 1, "currency": "CNY"}}
    assert deliver(gateway.notice("TRANSACTION.SUCCESS", "transaction", resource)) == (409, "payment_amount_mismatch")
    renewal.refresh_from_db()
    subscription.refresh_from_db()
    assert renewal.state == "pending" and renewal.flag_reason == "amount_mismatch"
    assert subscription.periods.count() == 1


def test_termination_notice_turns_auto_renew_off_and_nothing_is_booked_or_charged(gateway):
    subscription, agreement = signed(gateway)
    assert deliver_contract(gateway.terminate_contract(str(agreement.public_id))) == (200, "ended")
    subscription.refresh_from_db()
    agreement.refresh_from_db()
    assert subscription.auto_renew is False and agreement.state == "ended"
    assert renewals_book(now=booking_time(subscription)) == {}
    assert subscription.period_end is not None
    assert renewals_charge(now=subscription.period_end - RENEWAL_LEAD) == 0
    assert gateway.requests_to("papay_schedule") == [] and gateway.requests_to("papay_apply") == []


def test_a_contract_notice_for_another_merchant_or_forged_is_refused(gateway):
    subscription, agreement = signed(gateway)
    contract = gateway.contract_of(str(agreement.public_id))
    contract.state, contract.termination_mode = "TERMINATED", "USER_TERMINATE"
    other = gateway.notice("ENTRUST.TERMINATE", "entrust", {**contract.resource(), "mchid": "1900000109"})
    assert deliver_contract(other) == (409, "payment_merchant_mismatch")
    good = gateway.contract_notice(contract)
    forged = Notice(gateway.signed_headers(good.body, key=rsa.generate_private_key(65537, 2048)), good.body)
    assert deliver_contract(forged) == (401, "notification_signature_invalid")
    agreement.refresh_from_db()
    subscription.refresh_from_db()
    assert agreement.state == "active" and subscription.auto_renew is True


def test_switching_auto_renew_off_ends_the_contract_at_the_gateway(gateway, client):
    subscription, agreement = signed(gateway)
    client.force_login(subscription.user)
    response = client.post("/membership/auto-renew/", {}, headers={"user-agent": PHONE})
    assert response.status_code == 302
    ((_, path, body),) = gateway.requests_to("papay_terminate")
    assert path == f"/v3/papay/sign/contracts/plan-id/{PLAN_ID}/out-contract-code/{agreement.public_id.hex}/terminate"
    assert body["contract_termination_remark"]
    contract = gateway.contract_of(str(agreement.public_id))
    assert contract.state == "TERMINATED" and contract.termination_mode == "MCH_API_TERMINATE"
    agreement.refresh_from_db()
    subscription.refresh_from_db()
    assert agreement.state == "ended" and subscription.auto_renew is False
    assert deliver_contract(gateway.contract_notice(contract)) == (200, "unchanged")  # its notice follows
    assert 'id="agreement-in-force"' not in client.get("/membership/").content.decode()


def test_an_end_the_gateway_did_not_confirm_is_retried_by_reconciliation(gateway):
    subscription, agreement = signed(gateway)
    gateway.faults["papay_terminate"] = "5xx"
    auto_renew_switch(user=subscription.user, auto_renew=False)
    agreement.refresh_from_db()
    assert agreement.state == "active" and agreement.end_requested_at is not None
    assert renewals_book(now=booking_time(subscription)) == {}  # auto-renew is off: nothing is booked
    gateway.faults.clear()
    assert agreements_reconcile(now=timezone.now()) == {"ended": 1}
    assert agreements_reconcile(now=timezone.now()) == {}
    agreement.refresh_from_db()
    assert agreement.state == "ended" and gateway.contract_of(str(agreement.public_id)).state == "TERMINATED"


def test_a_pending_contract_whose_notice_was_lost_is_settled_from_the_query(gateway):
    payment = paid_payment(gateway)
    user = Subscription.objects.get(pk=payment.subscription_id).user
    agreement_sign_start(user=user)
    agreement = PaymentAgreement.objects.get()
    later = timezone.now() + timedelta(minutes=15)
    assert agreements_reconcile(now=later) == {"pending": 1}  # not signed yet: the query answers 404
    gateway.sign_contract(str(agreement.public_id))  # signed; the notice never arrives
    assert agreements_reconcile(now=later) == {"signed": 1}
    agreement.refresh_from_db()
    assert agreement.state == "active" and agreement.agreement_no
    assert len(gateway.requests_to("papay_contract")) == 2


def test_a_contract_never_signed_is_given_up_after_a_day(gateway):
    payment = paid_payment(gateway)
    agreement_sign_start(user=Subscription.objects.get(pk=payment.subscription_id).user)
    assert agreements_reconcile(now=timezone.now() + timedelta(days=2)) == {"abandoned": 1}
    assert PaymentAgreement.objects.get().state == "ended"


@pytest.mark.parametrize("fault", ["5xx", "timeout"])
def test_gateway_fault_during_the_deduction_is_settled_by_reconciliation_once(gateway, fault):
    subscription, _agreement = signed(gateway)
    gateway.clock = lambda: booking_time(subscription)
    assert renewals_book(now=booking_time(subscription)) == {"booked": 1}
    assert subscription.period_end is not None
    at = subscription.period_end - RENEWAL_LEAD
    gateway.clock = lambda: at
    gateway.faults["papay_apply"] = fault
    assert renewals_charge(now=at) == 0  # the outcome is unknown: the order stays pending
    gateway.faults.clear()
    renewal = Payment.objects.get(kind=Payment.Kind.RENEWAL)
    assert renewal.state == "pending"
    soon = timezone.now() + timedelta(minutes=10)
    # 5xx: the gateway never saw it, reconciliation applies it again under the same number; timeout: it did
    assert payments_reconcile(now=soon) == {"pending": 1}
    assert list(gateway.orders).count(renewal.public_id.hex) == 1
    paid, _ended = gateway.deduct(str(renewal.public_id))  # deducted; the notice is lost
    assert payments_reconcile(now=soon) == {"renewed": 1}
    assert payments_reconcile(now=soon) == {}
    assert deliver(paid) == (200, "already_paid")  # the late notice changes nothing
    subscription.refresh_from_db()
    assert subscription.periods.count() == 2
    assert len(gateway.requests_to("papay_apply")) == (2 if fault == "5xx" else 1)


def test_a_template_id_that_is_not_a_number_is_named_by_the_deploy_check(gateway, settings):
    from members.checks import sandbox_not_deployed

    settings.WECHATPAY_PAPAY_PLAN_ID = "plan-12535"
    (error,) = sandbox_not_deployed()
    assert "WECHATPAY_PAPAY_PLAN_ID" in error.msg
