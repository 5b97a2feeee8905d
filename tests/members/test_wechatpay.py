"""WeChat Pay (APIv3) through the real SDK (wechatpayv3) against a local gateway answering as the
documentation specifies (tests/members/wechatpay_gateway.py): checkout per device, signed and encrypted
notifications (duplicated, reordered, forged, stale, wrong amount / app / merchant), asynchronous refunds,
faults during checkout and refund settled by reconciliation exactly once, a crash between "gateway
refunded" and "database recorded", and the daily bill against the ledger."""

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone
from rest_framework.test import APIClient

from core.errors import DomainError
from members import selectors
from members.checks import sandbox_not_deployed
from members.models import Payment, ReconciliationIssue, Refund
from members.payments import get_provider
from members.payments.base import CHANNEL_DESKTOP, CHANNEL_MOBILE, CHANNEL_WECHAT, channel_of
from members.payments.wechatpay import parse_trade_bill
from members.services import refunds as refund_services
from members.services.checkout import checkout_start, payment_sync, payments_reconcile
from members.services.reconciliation import BILL_TZ, bill_reconcile
from members.services.refunds import refunds_reconcile, subscription_refund
from tests.factories import UserFactory

from .test_production_payments import production_check
from .wechatpay_gateway import APPID, MCHID, FakeWeChatPay, Notice

pytestmark = pytest.mark.django_db
NOTIFY = "/api/v1/payments/notify/wechatpay/"
LATER = timedelta(minutes=2)
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
WECHAT = PHONE + " MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"


def deliver(notice: Notice) -> tuple[int, str]:
    """POST a notification to our notify endpoint as WeChat Pay does; (status, outcome or refusal code)."""
    response = APIClient().post(NOTIFY, data=notice.body, content_type="application/json", headers=notice.headers)
    data = response.json()
    return response.status_code, data.get("outcome") or data.get("code")


def paid_payment(gateway: FakeWeChatPay, user=None) -> Payment:
    payment = checkout_start(user=user or UserFactory(), plan_code="annual")
    assert deliver(gateway.pay(str(payment.public_id))) == (200, "activated")
    payment.refresh_from_db()
    return payment


def refund_all(payment: Payment) -> Refund:
    (refund,) = subscription_refund(subscription_id=payment.subscription_id, mode="full", reason="test", actor="test")
    return refund


def test_channel_follows_the_user_agent():
    assert channel_of(WECHAT) == CHANNEL_WECHAT
    assert channel_of(PHONE) == CHANNEL_MOBILE
    assert channel_of("Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36") == CHANNEL_MOBILE
    assert channel_of(DESKTOP) == CHANNEL_DESKTOP
    assert channel_of("") == CHANNEL_DESKTOP


def test_desktop_checkout_is_a_signed_native_order_shown_as_a_qr_code(gateway, client):
    user = UserFactory()
    client.force_login(user)
    response = client.post("/membership/join/", {"plan": "annual"}, headers={"user-agent": DESKTOP})
    assert response.status_code == 302
    payment = Payment.objects.get(subscription__user=user)
    (request,) = gateway.requests_to("checkout")
    method, path, body = request
    assert (method, path) == ("POST", "/v3/pay/transactions/native")  # the gateway verified its signature
    assert body["appid"] == APPID and body["mchid"] == MCHID
    assert body["out_trade_no"] == payment.public_id.hex and len(body["out_trade_no"]) == 32
    assert body["amount"] == {"total": 16800, "currency": "CNY"}
    assert body["notify_url"] == "https://redcard.example/api/v1/payments/notify/wechatpay/"
    assert response["Location"] == payment.checkout_url
    assert payment.checkout_url.startswith(f"/membership/wechatpay/checkout/{payment.public_id}/?t=")
    page = client.get(payment.checkout_url)
    assert page.status_code == 200 and b"<svg" in page.content
    # the page's token is ours and names this order: anything else is not found
    assert client.get(payment.checkout_url + "x").status_code == 404
    other = f"/membership/wechatpay/checkout/{Payment().public_id}/?t={payment.checkout_url.split('?t=')[1]}"
    assert client.get(other).status_code == 404


def test_mobile_checkout_is_an_h5_order_that_returns_to_our_page(gateway, client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        "/membership/join/", {"plan": "annual"}, headers={"user-agent": PHONE}, REMOTE_ADDR="203.0.113.9"
    )
    payment = Payment.objects.get(subscription__user=user)
    ((_, path, body),) = gateway.requests_to("checkout")
    assert path == "/v3/pay/transactions/h5"
    assert body["scene_info"] == {"payer_client_ip": "203.0.113.9", "h5_info": {"type": "Wap"}}
    location = urlsplit(response["Location"])
    assert (location.scheme, location.netloc) == ("https", "wx.tenpay.com")
    back = parse_qs(location.query)["redirect_url"][0]
    assert back.endswith(f"/membership/join/return/{payment.public_id}/")


def test_pay_notice_activates_once_and_forged_or_stale_notices_are_refused(gateway):
    payment = checkout_start(user=UserFactory(), plan_code="annual")
    notice = gateway.pay(str(payment.public_id))
    forged = Notice(
        {**notice.headers, **gateway.signed_headers(notice.body, key=rsa.generate_private_key(65537, 2048))},
        notice.body,
    )
    assert deliver(forged) == (401, "notification_signature_invalid")
    tampered = Notice(notice.headers, notice.body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.CLOSED"'))
    assert deliver(tampered) == (401, "notification_signature_invalid")
    stale = Notice(gateway.signed_headers(notice.body, at=int(timezone.now().timestamp()) - 600), notice.body)
    assert deliver(stale) == (401, "notification_stale")
    unsigned = Notice({"Wechatpay-Serial": gateway.public_key_id}, notice.body)
    assert deliver(unsigned) == (401, "notification_signature_invalid")
    payment.refresh_from_db()
    assert payment.state == "pending"
    assert deliver(notice) == (200, "activated")
    assert deliver(notice) == (200, "duplicate")  # WeChat Pay re-sends until acknowledged
    again = gateway.notice("TRANSACTION.SUCCESS", "transaction", gateway.order_of(str(payment.public_id)).resource())
    assert deliver(again) == (200, "already_paid")  # another notice id for the same payment
    payment.refresh_from_db()
    assert payment.state == "paid" and payment.provider_txn_id.startswith("42000")
    assert payment.subscription.state == "active" and payment.subscription.periods.count() == 1


@pytest.mark.parametrize(
    ("change", "code", "flag"),
    [
        ({"amount": {"total": 1, "payer_total": 1, "currency": "CNY"}}, "payment_amount_mismatch", "amount_mismatch"),
        ({"amount": {"total": 16800, "currency": "USD"}}, "payment_amount_mismatch", "amount_mismatch"),
        ({"appid": "wx-another-app"}, "payment_merchant_mismatch", "merchant_mismatch"),
        ({"mchid": "1900000109"}, "payment_merchant_mismatch", "merchant_mismatch"),
    ],
)
def test_notice_with_another_amount_app_or_merchant_is_refused_and_flagged(gateway, change, code, flag):
    payment = checkout_start(user=UserFactory(), plan_code="annual")
    gateway.pay(str(payment.public_id))
    resource = {**gateway.order_of(str(payment.public_id)).resource(), **change}
    assert deliver(gateway.notice("TRANSACTION.SUCCESS", "transaction", resource)) == (409, code)
    payment.refresh_from_db()
    assert payment.state == "pending" and payment.flag_reason == flag
    assert payment.subscription.state == "pending_payment"
    if flag == "merchant_mismatch":
        assert ReconciliationIssue.objects.filter(kind="notification_refused").count() == 1


def test_refund_is_processing_until_its_notice_and_settles_once(gateway):
    payment = paid_payment(gateway)
    refund = refund_all(payment)
    assert refund.state == "processing" and refund.provider_state == "PROCESSING"  # asynchronous at WeChat Pay
    ((_, _, body),) = gateway.requests_to("refund")
    assert body["out_refund_no"] == str(refund.public_id) and body["out_trade_no"] == payment.public_id.hex
    assert body["amount"] == {"refund": 16800, "total": 16800, "currency": "CNY"}
    notice = gateway.settle_refund(str(refund.public_id))
    assert deliver(notice) == (200, "refund_succeeded")
    assert deliver(notice) == (200, "duplicate")
    refund.refresh_from_db()
    assert refund.state == "succeeded" and refund.settled_at is not None
    assert refunds_reconcile(now=timezone.now() + LATER) == {}
    assert len(gateway.requests_to("refund")) == 1 and selectors.ledger_discrepancies() == []


def test_refund_notice_for_another_amount_is_refused_and_flagged(gateway):
    payment = paid_payment(gateway)
    refund = refund_all(payment)
    notice = gateway.settle_refund(str(refund.public_id))
    data = gateway.refunds[str(refund.public_id)].resource()
    resource = {
        **{k: data[k] for k in ("out_trade_no", "transaction_id", "out_refund_no", "refund_id", "success_time")},
        "mchid": MCHID,
        "refund_status": "SUCCESS",
        "amount": {"total": 16800, "refund": 100, "payer_total": 16800, "payer_refund": 100},
    }
    assert deliver(gateway.notice("REFUND.SUCCESS", "refund", resource)) == (409, "payment_amount_mismatch")
    refund.refresh_from_db()
    assert refund.state == "processing"
    issue = ReconciliationIssue.objects.get(out_refund_no=str(refund.public_id))
    assert issue.detail == {"reason": "amount_mismatch", "expected": 16800, "received": 100}
    assert deliver(notice) == (200, "refund_succeeded")  # the true notice still settles it


def test_refund_notice_before_the_pay_notice(gateway):
    payment = checkout_start(user=UserFactory(), plan_code="annual")
    held_pay_notice = gateway.pay(str(payment.public_id))
    assert payment_sync(payment=payment) == "activated"  # the return page asked the gateway
    refund = refund_all(Payment.objects.get(pk=payment.pk))
    assert deliver(gateway.settle_refund(str(refund.public_id))) == (200, "refund_succeeded")
    assert deliver(held_pay_notice) == (200, "already_paid")
    payment.refresh_from_db()
    refund.refresh_from_db()
    assert payment.state == "paid" and payment.refunded_fen == 16800 and refund.state == "succeeded"
    assert payment.subscription.state == "refunded" and payment.subscription.periods.count() == 1


def test_refund_closed_at_the_gateway_is_released_and_flagged(gateway):
    payment = paid_payment(gateway)
    refund = refund_all(payment)
    assert deliver(gateway.settle_refund(str(refund.public_id), "ABNORMAL")) == (200, "refund_failed")
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.state == "failed" and refund.provider_state == "ABNORMAL" and payment.refunded_fen == 0
    assert ReconciliationIssue.objects.get(kind="refund_failed").out_refund_no == str(refund.public_id)
    assert refunds_reconcile(now=timezone.now() + LATER) == {}  # final: never sent again


def test_checkout_5xx_order_is_failed_by_reconciliation_once(gateway):
    user = UserFactory()
    gateway.faults["checkout"] = "5xx"
    with pytest.raises(DomainError) as refusal:
        checkout_start(user=user, plan_code="annual")
    assert refusal.value.code == "payment_gateway_unavailable"
    gateway.faults.clear()
    payment = Payment.objects.get(subscription__user=user)
    assert payment.state == "pending" and payment.checkout_url == "" and gateway.orders == {}
    assert payments_reconcile(now=timezone.now() + timedelta(minutes=10)) == {"pending": 1}
    assert payments_reconcile(now=timezone.now() + timedelta(hours=1)) == {"failed": 1}
    assert payments_reconcile(now=timezone.now() + timedelta(hours=2)) == {}
    payment.refresh_from_db()
    assert payment.state == "failed" and payment.subscription.state == "payment_failed"


def test_checkout_timeout_keeps_the_number_and_the_paid_order_is_settled_by_reconciliation_once(gateway):
    user = UserFactory()
    gateway.faults["checkout"] = "timeout"
    with pytest.raises(DomainError) as refusal:
        checkout_start(user=user, plan_code="annual")
    assert refusal.value.code == "payment_gateway_unavailable"
    gateway.faults.clear()
    payment = Payment.objects.get(subscription__user=user)
    assert list(gateway.orders) == [payment.public_id.hex]  # the gateway made the order; the answer was lost
    again = checkout_start(user=user, plan_code="annual")
    assert again.pk == payment.pk and again.checkout_url and len(gateway.orders) == 1
    gateway.pay(str(payment.public_id))  # paid; the notice never arrives
    assert payments_reconcile(now=timezone.now() + timedelta(minutes=10)) == {"activated": 1}
    assert payments_reconcile(now=timezone.now() + timedelta(hours=1)) == {}
    payment.refresh_from_db()
    assert payment.state == "paid" and payment.subscription.state == "active"


def test_unpaid_order_is_closed_at_the_gateway_after_the_timeout(gateway):
    payment = checkout_start(user=UserFactory(), plan_code="annual")
    assert payments_reconcile(now=timezone.now() + timedelta(hours=1)) == {"failed": 1}
    assert gateway.order_of(str(payment.public_id)).state == "CLOSED"
    assert len(gateway.requests_to("close")) == 1


@pytest.mark.parametrize("fault", ["5xx", "timeout"])
def test_refund_fault_is_settled_by_reconciliation_exactly_once(gateway, fault):
    payment = paid_payment(gateway)
    gateway.faults["refund"] = fault
    refund = refund_all(payment)
    assert refund.state == "requested" and refund.last_error == "payment_gateway_unavailable"
    gateway.faults.clear()
    # 5xx: the gateway never saw it, so it is sent again; timeout: the query finds it. Both: processing
    assert refunds_reconcile(now=timezone.now() + LATER) == {"processing": 1}
    gateway.settle_refund(str(refund.public_id))  # its notice is lost too
    assert refunds_reconcile(now=timezone.now() + LATER) == {"succeeded": 1}
    assert refunds_reconcile(now=timezone.now() + LATER) == {}
    refund.refresh_from_db()
    assert refund.state == "succeeded"
    assert list(gateway.refunds) == [str(refund.public_id)]
    assert gateway.order_of(str(payment.public_id)).refunded == 16800
    # sent once after a timeout (the query found it), twice after a 5xx (the first never arrived)
    assert len(gateway.requests_to("refund")) == (2 if fault == "5xx" else 1)


def test_crash_between_gateway_refunded_and_database_recorded_refunds_once(gateway, monkeypatch):
    payment = paid_payment(gateway)

    def crash(**kwargs):
        raise RuntimeError("process killed after the gateway answered")

    monkeypatch.setattr(refund_services, "refunds_record", crash)
    with pytest.raises(RuntimeError):
        refund_all(payment)
    monkeypatch.undo()
    refund = Refund.objects.get()
    assert refund.state == "requested" and list(gateway.refunds) == [str(refund.public_id)]
    with pytest.raises(DomainError) as refusal:  # an operator's retry cannot refund again
        refund_all(payment)
    assert refusal.value.code == "subscription_already_refunded"
    assert refunds_reconcile(now=timezone.now() + LATER) == {"processing": 1}
    assert deliver(gateway.settle_refund(str(refund.public_id))) == (200, "refund_succeeded")
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.state == "succeeded" and payment.refunded_fen == 16800
    assert len(gateway.requests_to("refund")) == 1 and gateway.order_of(str(payment.public_id)).refunded == 16800


def test_daily_bill_matches_the_ledger_and_differences_are_flagged_both_ways(gateway):
    payment = paid_payment(gateway)
    refund = refund_all(payment)
    deliver(gateway.settle_refund(str(refund.public_id)))
    day = timezone.now().astimezone(BILL_TZ).date()
    assert bill_reconcile(day=day) == {"matched": 2}
    # a payment the gateway booked that the ledger lacks ...
    stray = checkout_start(user=UserFactory(), plan_code="annual")
    gateway.pay(str(stray.public_id))  # paid at the gateway, the notice lost, the ledger still pending
    # ... and a ledger payment the bill lacks (the gateway booked it on another day)
    missing = paid_payment(gateway)
    gateway.order_of(str(missing.public_id)).success_time -= timedelta(days=3)
    counts = bill_reconcile(day=day)
    assert counts == {"matched": 2, "not_in_ledger": 1, "not_in_bill": 1}
    issues = {(i.kind, i.out_trade_no) for i in ReconciliationIssue.objects.all()}
    assert issues == {("not_in_ledger", str(stray.public_id)), ("not_in_bill", str(missing.public_id))}
    assert bill_reconcile(day=day) == {"matched": 2}  # each difference is flagged once
    assert bill_reconcile(day=day - timedelta(days=30)) == {}  # no trades that day: NO_STATEMENT_EXIST


def test_trade_bill_parser_reads_backtick_fields_and_skips_the_summary():
    text = (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
        "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
        "手续费,费率,订单金额,申请退款金额,费率备注\r\n"
        "`2026-01-05 10:00:00,`wx1,`1900009191,`0,`,`4200001,`0b8f3c551f0e4f4f8f436a2d2d3f1c90,`o1,`NATIVE,`SUCCESS,"
        "`OTHERS,`CNY,`168.00,`0.00,`0,`0,`0.00,`0.00,`,`,`年卡,`,`1.00800,`0.60%,`168.00,`0.00,`\r\n"
        "`2026-01-05 11:00:00,`wx1,`1900009191,`0,`,`4200001,`0b8f3c551f0e4f4f8f436a2d2d3f1c90,`o1,`NATIVE,`REFUND,"
        "`OTHERS,`CNY,`0.00,`0.00,`5000,`r-1,`84.00,`0.00,`ORIGINAL,`SUCCESS,`年卡,`,`0.00000,`0.60%,`168.00,`84.00,`\r\n"
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n"
        "`2,`168.00,`84.00,`0.00,`1.00800,`168.00,`84.00\r\n"
    )
    lines = parse_trade_bill(text)
    trade_no = "0b8f3c55-1f0e-4f4f-8f43-6a2d2d3f1c90"
    assert [(line.kind, line.out_trade_no, line.amount_fen, line.out_refund_no) for line in lines] == [
        ("payment", trade_no, 16800, ""),
        ("refund", trade_no, 8400, "r-1"),
    ]


def test_without_its_settings_wechatpay_takes_no_payment_and_the_deploy_check_names_what_is_missing(settings):
    settings.MEMBERS_PAYMENT_PROVIDER = "wechatpay"
    settings.MEMBERS_SANDBOX_ENABLED = False
    for name in ("WECHATPAY_MCHID", "WECHATPAY_APIV3_KEY", "WECHATPAY_PUBLIC_KEY_PATH", "WECHATPAY_CERT_DIR"):
        setattr(settings, name, "")
    with pytest.raises(DomainError) as refusal:
        get_provider("wechatpay")
    assert refusal.value.code == "payments_unavailable"
    (error,) = sandbox_not_deployed()
    assert error.id == "members.E003" and "WECHATPAY_MCHID" in error.msg and "WECHATPAY_APIV3_KEY" in error.msg


def test_production_refuses_to_start_with_wechatpay_half_configured(gateway):
    refused = production_check(MEMBERS_PAYMENT_PROVIDER="wechatpay", WECHATPAY_MCHID=MCHID)
    assert refused.returncode != 0
    assert "WECHATPAY_APPID" in refused.stderr and "WECHATPAY_PRIVATE_KEY_PATH" in refused.stderr
    configured = production_check(MEMBERS_PAYMENT_PROVIDER="wechatpay", **gateway.settings())
    assert configured.returncode == 0, configured.stderr


def test_platform_certificate_mode_learns_a_rotated_certificate_from_the_gateway(tmp_path, settings, plans):
    fake = FakeWeChatPay(directory=tmp_path / "wechatpay", cert_mode=True)
    fake.start()
    try:
        for name, value in fake.settings().items():
            setattr(settings, name, value)
        settings.MEMBERS_PAYMENT_PROVIDER = "wechatpay"
        payment = checkout_start(user=UserFactory(), plan_code="annual")  # its answer verified with the certificate
        assert payment.checkout_url and fake.requests_to("certificates") == []
        fake.rotate()  # WeChat Pay now signs with a certificate the client has not seen
        assert deliver(fake.pay(str(payment.public_id))) == (200, "activated")
        assert len(fake.requests_to("certificates")) == 1  # fetched from the gateway, decrypted with the APIv3 key
        assert (Path(settings.WECHATPAY_CERT_DIR) / f"{fake.serial}.pem").is_file()  # and kept for the next start
        forged = Notice(fake.signed_headers(b"{}", key=rsa.generate_private_key(65537, 2048)), b"{}")
        assert deliver(forged) == (401, "notification_signature_invalid")
    finally:
        fake.stop()
