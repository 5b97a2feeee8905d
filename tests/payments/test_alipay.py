"""The Alipay adapter: python-alipay-sdk's own code runs for real against Alipay's openapi gateway
answered on 127.0.0.1 (tests/payments/alipay_gateway.py), with RSA2 keys made in the test: checkout
(PC page and mobile web), notifications (duplicated, reordered, forged, mismatched), faults during
checkout and refund settled once by reconciliation, a crash between "refunded" and "recorded", and
the daily bill against the ledger."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from core.errors import DomainError
from members.checks import sandbox_not_deployed
from members.models import EventRefund, Payment, PaymentNotification, ReconciliationIssue, Refund, Subscription
from members.payments import get_provider
from members.payments.alipay import AlipayProvider, parse_bill
from members.payments.base import CHANNEL_MOBILE, RefundRequest, channel_of
from members.services.checkout import checkout_start, payment_sync, payments_reconcile
from members.services.reconciliation import bill_reconcile
from members.services.refunds import refunds_reconcile, subscription_refund
from tests.factories import UserFactory
from tests.payments.alipay_gateway import CST, new_key, rsa2_sign, sign_content
from tests.payments.conftest import APP_ID, NOTIFY_PATH

pytestmark = pytest.mark.django_db
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"


def notify(fields: dict[str, str]):
    """Alipay POSTs the notice to our notify URL as a form."""
    return APIClient().post(NOTIFY_PATH, data=urlencode(fields), content_type="application/x-www-form-urlencoded")


def opened(alipay, user=None, channel: str = "desktop") -> Payment:
    """A member checked out and opened Alipay's page (Alipay now has the trade)."""
    payment = checkout_start(user=user or UserFactory(), plan_code="annual", channel=channel)
    assert alipay.open(payment.checkout_url) == 200
    return payment


def paid(alipay, user=None) -> tuple[Payment, dict[str, str]]:
    """Paid at Alipay, its notification not delivered yet."""
    payment = opened(alipay, user)
    return payment, alipay.pay(str(payment.public_id))


def active(alipay) -> Payment:
    payment, note = paid(alipay)
    assert notify(note).content == b"success"
    payment.refresh_from_db()
    assert payment.state == Payment.State.PAID
    return payment


# --- checkout ---------------------------------------------------------------------------------


def test_desktop_checkout_is_a_signed_page_pay_request(alipay, settings):
    payment = checkout_start(user=UserFactory(), plan_code="annual")
    query = dict(parse_qsl(urlsplit(payment.checkout_url).query))
    assert payment.checkout_url.startswith(alipay.url + "?")
    assert query["method"] == "alipay.trade.page.pay" and query["sign_type"] == "RSA2" and query["app_id"] == APP_ID
    assert query["notify_url"] == "http://testserver" + NOTIFY_PATH
    assert query["return_url"] == f"{settings.SITE_URL}/membership/join/return/{payment.public_id}/"
    assert alipay.open(payment.checkout_url) == 200
    assert alipay.rejected == []
    (biz,) = alipay.calls_of("alipay.trade.page.pay")
    assert biz["product_code"] == "FAST_INSTANT_TRADE_PAY"
    assert biz["out_trade_no"] == str(payment.public_id) and biz["total_amount"] == "168.00"
    trade = alipay.trades[str(payment.public_id)]
    assert trade.amount_fen == 16800 and trade.status == "WAIT_BUYER_PAY"


def test_a_phone_gets_mobile_web_pay_from_the_join_page(alipay, client):
    user = UserFactory()
    client.force_login(user)
    response = client.post("/membership/join/", {"plan": "annual"}, HTTP_USER_AGENT=IPHONE)
    assert response.status_code == 302
    url = response["Location"]
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["method"] == "alipay.trade.wap.pay"
    assert alipay.open(url) == 200 and alipay.rejected == []
    (biz,) = alipay.calls_of("alipay.trade.wap.pay")
    assert biz["product_code"] == "QUICK_WAP_WAY" and biz["quit_url"] == query["return_url"]
    assert channel_of(IPHONE) == CHANNEL_MOBILE


def test_a_tampered_checkout_request_is_refused_by_the_gateway(alipay):
    payment = checkout_start(user=UserFactory(), plan_code="annual")
    assert "168.00" in payment.checkout_url
    assert alipay.open(payment.checkout_url.replace("168.00", "1.68")) == 200  # Alipay answers its error page
    assert alipay.rejected == ["alipay.trade.page.pay: isv.invalid-signature"]
    assert alipay.trades == {}


# --- notifications ----------------------------------------------------------------------------


def test_notification_activates_once_and_is_answered_success(alipay):
    payment, note = paid(alipay)
    first = notify(note)
    assert first.status_code == 200 and first.content == b"success"
    assert first["Content-Type"].startswith("text/plain")
    payment.refresh_from_db()
    assert payment.state == "paid" and payment.subscription.state == "active"
    assert payment.provider_txn_id == alipay.trades[str(payment.public_id)].trade_no
    assert notify(note).content == b"success"  # Alipay's retry of the same notice
    assert PaymentNotification.objects.get().outcome == "activated"
    again = alipay.notice(str(payment.public_id))  # another notice of the same trade
    assert notify(again).content == b"success"
    assert PaymentNotification.objects.filter(outcome="already_paid").count() == 1
    assert Subscription.objects.get(pk=payment.subscription_id).periods.count() == 1


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda note, key: {**note, "total_amount": "0.01"}, id="tampered-after-signing"),
        pytest.param(
            lambda note, key: {
                **note,
                "sign": rsa2_sign(key, sign_content(note, leave_out=("sign", "sign_type"))),
            },
            id="signed-by-another-key",
        ),
        pytest.param(lambda note, key: {k: v for k, v in note.items() if k != "sign"}, id="unsigned"),
        pytest.param(lambda note, key: {**note, "sign_type": "RSA"}, id="weaker-sign-type"),
    ],
)
def test_forged_notifications_are_refused(alipay, forge):
    payment, note = paid(alipay)
    response = notify(forge(note, new_key()))
    assert response.status_code == 401
    assert response.json()["code"] == "notification_signature_invalid"
    payment.refresh_from_db()
    assert payment.state == "pending" and payment.flagged_at is None
    assert not PaymentNotification.objects.exists()


@pytest.mark.parametrize(
    ("override", "code", "flag"),
    [
        ({"total_amount": "1.68"}, "payment_amount_mismatch", "amount_mismatch"),
        ({"app_id": "2021000000000001"}, "payment_merchant_mismatch", "merchant_mismatch"),
        ({"seller_id": "2088000000000001"}, "payment_merchant_mismatch", "merchant_mismatch"),
        ({"trans_currency": "USD"}, "payment_amount_mismatch", "amount_mismatch"),
    ],
)
def test_a_notice_naming_another_amount_app_or_seller_is_refused_and_flagged(alipay, override, code, flag):
    payment, _note = paid(alipay)
    response = notify(alipay.notice(str(payment.public_id), **override))  # signed by Alipay
    assert response.status_code == 409 and response.json()["code"] == code
    payment.refresh_from_db()
    assert payment.state == "pending" and payment.flag_reason == flag
    assert payment.subscription.state == "pending_payment"


def test_refund_notice_before_the_pay_notice(alipay):
    """The pay notice is late: the card was settled by the return page, refunded (the refund's answer
    lost), the refund notice came, then the pay notice. Each settles once; Alipay refunded once."""
    payment, pay_note = paid(alipay)
    assert payment_sync(payment=payment) == "activated"
    alipay.faults["alipay.trade.refund"] = "timeout"
    (refund,) = subscription_refund(
        subscription_id=payment.subscription_id, mode="full", reason="member asked", actor="system:test"
    )
    assert refund.state == Refund.State.REQUESTED and refund.last_error == "payment_gateway_unavailable"
    alipay.faults.clear()
    refund_note = alipay.notice(str(payment.public_id), refund_no=str(refund.public_id))
    assert refund_note["trade_status"] == "TRADE_CLOSED" and "gmt_refund" in refund_note
    assert notify(refund_note).content == b"success"
    assert notify(pay_note).content == b"success"
    refund.refresh_from_db()
    assert refund.state == Refund.State.SUCCEEDED
    outcomes = list(PaymentNotification.objects.order_by("pk").values_list("outcome", flat=True))
    assert outcomes == ["refund_succeeded", "already_paid"]
    assert refunds_reconcile(now=timezone.now() + timedelta(minutes=5)) == {}
    assert len(alipay.trades[str(payment.public_id)].refunds) == 1
    assert Payment.objects.get(pk=payment.pk).refunded_fen == 16800


# --- faults during checkout -------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["5xx", "timeout"])
def test_query_fault_on_the_return_page_then_reconciliation_settles_once(alipay, client, fault):
    payment, late_note = paid(alipay)
    client.force_login(payment.subscription.user)
    alipay.faults["alipay.trade.query"] = fault
    page = client.get(f"/membership/join/return/{payment.public_id}/")
    assert page.status_code == 200  # "confirming", not an error page
    payment.refresh_from_db()
    assert payment.state == "pending"
    assert payments_reconcile(now=timezone.now() + timedelta(minutes=6)) == {"payment_gateway_unavailable": 1}
    alipay.faults.clear()
    assert payments_reconcile(now=timezone.now() + timedelta(minutes=6)) == {"activated": 1}
    assert payments_reconcile(now=timezone.now() + timedelta(minutes=8)) == {}
    assert notify(late_note).content == b"success"
    assert PaymentNotification.objects.get().outcome == "already_paid"
    assert Subscription.objects.get(pk=payment.subscription_id).periods.count() == 1


def test_an_order_never_opened_or_never_paid_is_closed_after_the_timeout(alipay):
    never_opened = checkout_start(user=UserFactory(), plan_code="annual")
    not_paid = opened(alipay)
    later = timezone.now() + timedelta(minutes=31)
    alipay.faults["alipay.trade.close"] = "5xx"
    assert payments_reconcile(now=later) == {"payment_gateway_unavailable": 2}
    alipay.faults.clear()
    assert payments_reconcile(now=later) == {"failed": 2}
    never_opened.refresh_from_db()
    not_paid.refresh_from_db()
    assert never_opened.state == not_paid.state == "failed"
    assert alipay.trades[str(not_paid.public_id)].status == "TRADE_CLOSED"
    # the signed page of the closed order has expired at Alipay by then
    with time_machine.travel(later):
        assert alipay.open(never_opened.checkout_url) == 400


# --- refunds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "calls"), [("5xx", 2), ("timeout", 1)])
def test_refund_fault_is_settled_once_by_reconciliation(alipay, fault, calls):
    payment = active(alipay)
    alipay.faults["alipay.trade.refund"] = fault
    (refund,) = subscription_refund(
        subscription_id=payment.subscription_id, mode="full", reason="member asked", actor="system:test"
    )
    assert refund.state == Refund.State.REQUESTED
    assert len(alipay.trades[str(payment.public_id)].refunds) == (1 if fault == "timeout" else 0)
    alipay.faults.clear()
    later = timezone.now() + timedelta(minutes=2)
    assert refunds_reconcile(now=later) == {"succeeded": 1}
    assert refunds_reconcile(now=later) == {}
    refund.refresh_from_db()
    assert refund.state == Refund.State.SUCCEEDED and refund.settled_at is not None
    assert len(alipay.calls_of("alipay.trade.refund")) == calls
    refunds = alipay.trades[str(payment.public_id)].refunds
    assert list(refunds) == [str(refund.public_id)] and refunds[str(refund.public_id)][0] == 16800


def test_a_crash_between_refunded_and_recorded_refunds_once(alipay, monkeypatch):
    payment = active(alipay)

    def crash(**kwargs):
        raise RuntimeError("worker killed after the gateway answered")

    monkeypatch.setattr("members.services.refunds.refunds_record", crash)
    with pytest.raises(RuntimeError):
        subscription_refund(
            subscription_id=payment.subscription_id, mode="full", reason="member asked", actor="system:test"
        )
    monkeypatch.undo()
    refund = Refund.objects.get()
    assert refund.state == Refund.State.REQUESTED
    assert len(alipay.trades[str(payment.public_id)].refunds) == 1  # Alipay refunded
    assert refunds_reconcile(now=timezone.now() + timedelta(minutes=2)) == {"succeeded": 1}
    refund.refresh_from_db()
    assert refund.state == Refund.State.SUCCEEDED
    assert len(alipay.calls_of("alipay.trade.refund")) == 1
    assert Payment.objects.get(pk=payment.pk).refunded_fen == 16800  # the ledger balances


def test_a_repeated_refund_number_is_refunded_once(alipay):
    payment = active(alipay)
    provider = get_provider("alipay")
    request = RefundRequest(str(payment.public_id), str(uuid.uuid4()), 5000, "CNY")
    first = provider.refund(request=request)
    second = provider.refund(request=request)
    assert first.state == second.state == "succeeded" and second.amount_fen == 5000
    assert alipay.trades[str(payment.public_id)].refunded_fen == 5000
    too_much = RefundRequest(str(payment.public_id), str(uuid.uuid4()), 16800, "CNY")
    (refused,) = provider.refund_many(requests=[too_much])
    assert refused.state == "failed" and refused.provider_state == "refund_exceeds_paid"
    with pytest.raises(DomainError) as unknown:
        provider.refund_query(out_trade_no=str(payment.public_id), out_refund_no=str(uuid.uuid4()))
    assert unknown.value.code == "refund_unknown"


# --- the daily bill ---------------------------------------------------------------------------


def test_bill_lines_against_the_ledger_both_ways(alipay):
    matched = active(alipay)
    missing_from_bill = active(alipay)
    subscription_refund(
        subscription_id=matched.subscription_id, mode="prorated", reason="member asked", actor="system:test"
    )
    refund = Refund.objects.get()
    assert refund.state == Refund.State.SUCCEEDED
    matched.refresh_from_db()
    day = matched.paid_at.astimezone(CST).date()
    stranger = str(uuid.uuid4())
    alipay.bill_left_out.add(str(missing_from_bill.public_id))
    alipay.bill_extra.append(
        ["2026120322001400001", stranger, "交易", "?", f"{day} 10:00:00", f"{day} 10:00:05"]
        + ["", "", "", "", "x", "99.00", "99.00"]
        + ["0.00"] * 5
        + ["", "0.00", "0.00", "", "0.00", "0.00", ""]
    )
    with pytest.raises(DomainError):  # the day's bill is published the next day
        get_provider("alipay").trade_bill(day=day)
    with time_machine.travel(matched.paid_at + timedelta(days=1), tick=True):
        lines = get_provider("alipay").trade_bill(day=day)
        counts = bill_reconcile(day=day, provider_codes=["alipay"])
    assert {(line.kind, line.out_trade_no, line.out_refund_no, line.amount_fen) for line in lines} == {
        ("payment", str(matched.public_id), "", 16800),
        ("refund", str(matched.public_id), str(refund.public_id), refund.amount_fen),
        ("payment", stranger, "", 9900),
    }
    assert counts == {"matched": 2, "not_in_ledger": 1, "not_in_bill": 1}
    issues = {(i.kind, i.out_trade_no) for i in ReconciliationIssue.objects.all()}
    assert issues == {("not_in_ledger", stranger), ("not_in_bill", str(missing_from_bill.public_id))}


def test_bill_parser_reads_alipays_gbk_zip(alipay):
    payment = active(alipay)
    day = payment.paid_at.astimezone(CST).date()
    lines = parse_bill(alipay.bill_zip(day))
    assert [(line.kind, line.out_trade_no, line.amount_fen) for line in lines] == [
        ("payment", str(payment.public_id), 16800)
    ]


def test_bill_parser_reads_refund_lines_as_alipay_documents_them(alipay):
    """Alipay's 业务明细 has no refund column: a refund is its own line of 业务类型 退款 whose 订单金额（元）
    and 商家实收（元） are negative, naming the order (商户订单号) and our refund number (退款批次号/请求号,
    the ``out_request_no`` we sent). Two partial refunds of one order are two lines; the ledger holds them
    as positive amounts."""
    payment = active(alipay)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for number, amount in ((first, 5000), (second, 1234)):  # two partial refunds through the SDK
        request = RefundRequest(str(payment.public_id), number, amount, "CNY")
        assert get_provider("alipay").refund(request=request).state == "succeeded"
    day = payment.paid_at.astimezone(CST).date()
    archive = alipay.bill_zip(day)
    lines = parse_bill(archive)
    assert [(line.kind, line.out_trade_no, line.amount_fen, line.out_refund_no) for line in lines] == [
        ("payment", str(payment.public_id), 16800, ""),
        ("refund", str(payment.public_id), 5000, first),
        ("refund", str(payment.public_id), 1234, second),
    ]
    with zipfile.ZipFile(io.BytesIO(archive), metadata_encoding="gbk") as bundle:
        (name,) = [n for n in bundle.namelist() if n.endswith("_业务明细.csv")]
        text = bundle.read(name).decode("gbk")
    refund_rows = [row for row in text.splitlines() if ",退款\t," in row]
    assert len(refund_rows) == 2 and all(",-50.00\t,-50.00\t," in r or ",-12.34\t,-12.34\t," in r for r in refund_rows)


# --- no gateway call inside a transaction -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_gateway_call_runs_inside_a_database_transaction(alipay):
    caller = connections["default"]
    seen: list[tuple[str, bool]] = []
    alipay.observer = lambda method: seen.append((method, caller.in_atomic_block))
    payment = opened(alipay)
    payment_sync(payment=payment)
    alipay.pay(str(payment.public_id))
    payment_sync(payment=payment)
    subscription_refund(subscription_id=payment.subscription_id, mode="full", reason="asked", actor="system:test")
    other = opened(alipay)
    payments_reconcile(now=timezone.now() + timedelta(minutes=31))
    methods = [method for method, _ in seen]
    assert "alipay.trade.query" in methods and "alipay.trade.refund" in methods and "alipay.trade.close" in methods
    assert [method for method, atomic in seen if atomic] == []
    other.refresh_from_db()
    assert other.state == "failed"


# --- configuration ----------------------------------------------------------------------------


def test_provider_and_deploy_check_name_missing_settings(alipay, settings):
    assert isinstance(get_provider(), AlipayProvider)
    assert sandbox_not_deployed() == []
    settings.ALIPAY_SELLER_ID = ""
    settings.ALIPAY_PUBLIC_KEY_PATH = "/nonexistent/alipay_public_key.pem"
    with pytest.raises(DomainError) as refused:
        get_provider()
    assert refused.value.code == "payments_unavailable"
    (error,) = sandbox_not_deployed()
    assert error.id == "members.E003"
    assert "ALIPAY_PUBLIC_KEY_PATH" in error.msg and "ALIPAY_SELLER_ID" in error.msg


def test_production_refuses_alipay_without_its_settings():
    from tests.members.test_production_payments import production_check

    refused = production_check(MEMBERS_PAYMENT_PROVIDER="alipay", ALIPAY_APP_ID=APP_ID)
    assert refused.returncode != 0
    assert "MEMBERS_PAYMENT_PROVIDER=alipay needs" in refused.stderr
    assert "ALIPAY_SELLER_ID" in refused.stderr and "ALIPAY_APP_ID" not in refused.stderr.split("needs")[1]


def test_a_card_without_an_agreement_is_reminded_not_charged_and_a_stale_one_turns_auto_renew_off(alipay):
    from core.models import Notification as Notice
    from members.models import PaymentAgreement
    from members.services.checkout import renewals_charge
    from members.services.subscriptions import reminders_send

    never_signed, stale = active(alipay), active(alipay)
    PaymentAgreement.objects.create(
        user=stale.subscription.user, provider="alipay", state="active", agreement_no="20265703000000000000"
    )  # Alipay no longer knows it
    end = Subscription.objects.get(pk=never_signed.subscription_id).period_end
    assert reminders_send(now=end - timedelta(days=6)) == 2
    bodies = dict(Notice.objects.filter(kind="members.expiry_reminder").values_list("user_id", "url"))
    assert bodies[never_signed.subscription.user_id].endswith("#renew")  # "renew to keep your discounts"
    assert not bodies[stale.subscription.user_id].endswith("#renew")  # "it renews automatically"
    assert renewals_charge(now=end - timedelta(hours=2)) == 0
    assert renewals_charge(now=end - timedelta(hours=1)) == 0
    (renewal,) = Payment.objects.filter(kind=Payment.Kind.RENEWAL)
    assert renewal.subscription_id == stale.subscription_id and renewal.state == "failed"
    assert Subscription.objects.get(pk=stale.subscription_id).auto_renew is False
    assert Subscription.objects.get(pk=never_signed.subscription_id).auto_renew is True
    assert [biz["agreement_params"] for biz in alipay.calls_of("alipay.trade.pay")] == [
        {"agreement_no": "20265703000000000000"}
    ]


def test_event_orders_on_the_bill_are_matched_and_one_missing_is_flagged(alipay, django_capture_on_commit_callbacks):
    """Paid event places share the gateway account: their bill lines are the events' ledger's, not
    unknown money, and an event payment the bill lacks is flagged."""
    from members.events import services as event_services
    from tests.factories.events import EventFactory, member

    event = EventFactory(price_fen=8800, member_price_fen=6800, capacity=5)
    paid_places = []
    for person in (member(), member()):
        registration = event_services.registration_create(event=event, user=person)
        payment = registration.payments.get()
        assert alipay.open(payment.checkout_url) == 200
        assert notify(alipay.pay(str(payment.public_id))).content == b"success"
        payment.refresh_from_db()
        assert payment.state == "paid"
        paid_places.append((person, registration, payment))
    (person, registration, kept), (_, _, left_out) = paid_places
    with django_capture_on_commit_callbacks(execute=True):
        event_services.registration_cancel(registration=registration, actor=person)
    (refund,) = EventRefund.objects.all()
    assert refund.state == EventRefund.State.SUCCEEDED
    assert list(alipay.trades[str(kept.public_id)].refunds) == [str(refund.public_id)]
    alipay.bill_left_out.add(str(left_out.public_id))
    day = kept.paid_at.astimezone(CST).date()
    with time_machine.travel(kept.paid_at + timedelta(days=1), tick=True):
        counts = bill_reconcile(day=day)
    assert counts == {"matched": 2, "not_in_bill": 1}
    (issue,) = ReconciliationIssue.objects.all()
    assert (issue.kind, issue.out_trade_no) == ("not_in_bill", str(left_out.public_id))


# --- the recurring agreement (周期扣款) ----------------------------------------------------------

AGREEMENT_NOTIFY = "/api/v1/payments/agreements/notify/alipay/"


def agreement_notify(fields: dict[str, str]):
    return APIClient().post(AGREEMENT_NOTIFY, data=urlencode(fields), content_type="application/x-www-form-urlencoded")


def test_the_agreement_is_signed_renews_the_card_and_its_end_turns_auto_renew_off(alipay, client):
    from members.models import PaymentAgreement
    from members.services.checkout import renewals_charge

    payment = active(alipay)
    user = payment.subscription.user
    client.force_login(user)
    assert "/membership/agreement/" in client.get("/membership/").content.decode()
    response = client.post("/membership/agreement/")
    assert response.status_code == 302
    query = dict(parse_qsl(urlsplit(response["Location"]).query))
    assert query["method"] == "alipay.user.agreement.page.sign"
    assert query["notify_url"].endswith(AGREEMENT_NOTIFY)
    assert alipay.open(response["Location"]) == 200 and alipay.rejected == []
    (biz,) = alipay.calls_of("alipay.user.agreement.page.sign")
    assert biz["period_rule_params"]["single_amount"] == "168.00" and biz["period_rule_params"]["period"] == 365
    agreement = PaymentAgreement.objects.get()
    assert agreement.state == "pending" and biz["external_agreement_no"] == str(agreement.public_id)

    signed = alipay.sign_agreement(str(agreement.public_id))
    assert agreement_notify(signed).content == b"success"
    assert agreement_notify(signed).content == b"success"  # Alipay's retry changes nothing
    agreement.refresh_from_db()
    assert (
        agreement.state == "active"
        and agreement.agreement_no == alipay.agreements[str(agreement.public_id)]["agreement_no"]
    )
    assert "/membership/agreement/" not in client.get("/membership/").content.decode()

    end = Subscription.objects.get(pk=payment.subscription_id).period_end
    assert renewals_charge(now=end - timedelta(hours=2)) == 1
    renewal = Payment.objects.get(kind=Payment.Kind.RENEWAL)
    (charge,) = alipay.calls_of("alipay.trade.pay")
    assert charge["agreement_params"] == {"agreement_no": agreement.agreement_no}
    assert charge["out_trade_no"] == str(renewal.public_id) and charge["product_code"] == "CYCLE_PAY_AUTH"
    assert notify(alipay.notice(str(renewal.public_id))).content == b"success"
    renewal.refresh_from_db()
    assert renewal.state == "paid"
    subscription = Subscription.objects.get(pk=payment.subscription_id)
    assert subscription.periods.count() == 2 and subscription.period_end == end + timedelta(days=365)

    assert agreement_notify(alipay.unsign_agreement(str(agreement.public_id))).content == b"success"
    agreement.refresh_from_db()
    assert agreement.state == "ended" and agreement.ended_at is not None
    assert Subscription.objects.get(pk=payment.subscription_id).auto_renew is False

    operator = UserFactory(is_staff=True)
    operator.groups.add(Group.objects.get(name="operator"))
    client.force_login(operator)
    listing = client.get("/admin/members/paymentagreement/?state__exact=ended")
    assert listing.status_code == 200 and agreement.agreement_no in listing.content.decode()


def test_paying_with_alipay_leads_to_signing_auto_renewal(alipay, client):
    from django.contrib.messages import get_messages

    payment, _note = paid(alipay)
    client.force_login(payment.subscription.user)
    response = client.get(f"/membership/join/return/{payment.public_id}/")
    assert response.status_code == 302
    texts = [str(message) for message in get_messages(response.wsgi_request)]
    assert any("自动续费" in text for text in texts), texts
    page = client.get("/membership/").content.decode()
    assert 'action="/membership/agreement/"' in page


def test_forged_or_unknown_agreement_notices_are_refused(alipay):
    from members.models import PaymentAgreement
    from members.services.agreements import agreement_sign_start

    payment = active(alipay)
    url = agreement_sign_start(user=payment.subscription.user)
    assert alipay.open(url) == 200
    agreement = PaymentAgreement.objects.get()
    signed = alipay.sign_agreement(str(agreement.public_id))
    tampered = {**signed, "external_agreement_no": str(uuid.uuid4())}
    assert agreement_notify(tampered).status_code == 401
    other_app = alipay.agreement_notice(str(agreement.public_id), app_id="2021000000000001")
    assert agreement_notify(other_app).json()["code"] == "payment_merchant_mismatch"
    unknown = alipay.agreement_notice(str(agreement.public_id), external_agreement_no=str(uuid.uuid4()))
    assert agreement_notify(unknown).json()["code"] == "payment_unknown"
    agreement.refresh_from_db()
    assert agreement.state == "pending"
    reasons = sorted(i.detail["reason"] for i in ReconciliationIssue.objects.all())
    assert reasons == ["merchant_mismatch", "unknown_agreement"]
