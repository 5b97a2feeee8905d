"""Alipay (支付宝开放平台, RSA2) through ``python-alipay-sdk`` (decision 0017).

* Checkout: PC page pay (``alipay.trade.page.pay``) on a desktop, mobile web pay
  (``alipay.trade.wap.pay``) in a phone's browser; the signed request is the hosted page's URL. The
  order expires at Alipay after :data:`CHECKOUT_EXPIRES` (``time_expire``), so an order our
  reconciliation closes cannot be paid later.
* Notifications: Alipay POSTs a form (``application/x-www-form-urlencoded``) signed with its RSA2 key
  over the sorted ``key=value`` pairs less ``sign`` and ``sign_type``; the endpoint answers the text
  ``success``. A refund is announced the same way: a ``trade_status_sync`` notice whose ``out_biz_no``
  is our refund number and which carries ``gmt_refund``/``refund_fee``.
* Trade query and close, refund (``out_request_no`` = our refund number: a repeated number refunds
  once) and refund query, the daily trade bill (a zip of GBK CSV files).
* Every synchronous answer is verified against Alipay's public key by the SDK; an answer that cannot
  be trusted (no signature, a bad one, a 5xx, a timeout) is ``payment_gateway_unavailable``: the
  caller keeps its record and retries with the same numbers, or reconciliation settles it.

Settings (environment; the keys are files outside the repository): ``ALIPAY_APP_ID``,
``ALIPAY_APP_PRIVATE_KEY_PATH``, ``ALIPAY_PUBLIC_KEY_PATH``, ``ALIPAY_SELLER_ID`` (required);
``ALIPAY_NOTIFY_URL`` (default: this site's notify endpoint), ``ALIPAY_GATEWAY``, ``ALIPAY_TIMEOUT``.
"""

from __future__ import annotations

import base64
import csv
import io
import logging
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from alipay import AliPay, AliPayConfig
from alipay.exceptions import AliPayException, AliPayValidationError
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from core.errors import DomainError

from ..models import PaymentAgreement
from .base import (
    CHANNEL_DESKTOP,
    CHANNEL_MOBILE,
    AgreementNotice,
    BillLine,
    Checkout,
    Notification,
    PaymentProvider,
    RefundRequest,
    RefundResult,
    Transaction,
)

logger = logging.getLogger(__name__)

CODE = "alipay"
#: Alipay's times ("yyyy-MM-dd HH:mm:ss") and bills are China Standard Time.
ALIPAY_TZ = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: An order opened at Alipay can be paid for this long (our reconciliation closes it after the same time).
CHECKOUT_EXPIRES = timedelta(minutes=30)
#: The settings a deployment with Alipay cannot run without (``check --deploy`` names the missing ones).
REQUIRED_SETTINGS = ("ALIPAY_APP_ID", "ALIPAY_APP_PRIVATE_KEY_PATH", "ALIPAY_PUBLIC_KEY_PATH", "ALIPAY_SELLER_ID")
#: The answer Alipay expects from our notify endpoint (anything else and it sends the notice again).
ACK = "success"

_TRADE_STATE = {
    "WAIT_BUYER_PAY": "pending",
    "TRADE_SUCCESS": "paid",
    "TRADE_FINISHED": "paid",
    "TRADE_CLOSED": "closed",
}
#: Refund refusals that are final (the refund will never be made under that number).
_REFUND_EXCEEDS = frozenset({"ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "ACQ.REASON_TRADE_REFUND_FEE_ERR"})
_REFUND_NOT_PAID = frozenset(
    {"ACQ.TRADE_NOT_EXIST", "ACQ.TRADE_STATUS_ERROR", "ACQ.TRADE_HAS_CLOSE", "ACQ.TRADE_NOT_ALLOW_REFUND"}
)
#: The 周期扣款 product and scene of our agreements (signing, query and unsign name them).
AGREEMENT_PRODUCT = "CYCLE_PAY_AUTH_P"
AGREEMENT_SCENE = "INDUSTRY|DIGITAL_MEDIA"
BILL_DETAIL_SUFFIX = "业务明细.csv"
BILL_TRADE = "交易"
BILL_REFUND = "退款"


def missing_settings() -> list[str]:
    """The required settings that are empty, or whose key file cannot be read."""
    missing = []
    for name in REQUIRED_SETTINGS:
        value = str(getattr(settings, name, "") or "")
        if not value or (name.endswith("_PATH") and not Path(value).is_file()):
            missing.append(name)
    return missing


def configured() -> bool:
    return not missing_settings()


def yuan(fen: int) -> str:
    """Alipay's amounts are yuan with two decimals."""
    return f"{fen // 100}.{fen % 100:02d}"


def fen(amount: Any) -> int:
    """``"168.00"`` → 16800; anything that is not a whole number of fen is malformed."""
    try:
        value = Decimal(str(amount).strip()) * 100
    except InvalidOperation as exc:
        raise ValueError(f"amount {amount!r}") from exc
    if value != value.to_integral_value():
        raise ValueError(f"amount {amount!r}")
    return int(value)


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(str(value).strip(), TIME_FORMAT).replace(tzinfo=ALIPAY_TZ)


def _load_key(path: str) -> str | bytes:
    """A key file as Alipay's tools write it: PEM, or the bare base64 of the DER key."""
    text = Path(path).read_text().strip()
    if "-----BEGIN" in text:
        return text
    return base64.b64decode("".join(text.split()))


class _Client(AliPay):
    """The SDK's client with the gateway and timeout from our settings (the SDK picks its gateway
    from ``debug=``; Alipay's sandbox and the tests' local gateway are other URLs) and the request
    timestamp in China Standard Time, as Alipay reads it (the SDK writes the server's local time)."""

    def __init__(self, *, gateway: str, timeout: float, **kwargs: Any) -> None:
        super().__init__(config=AliPayConfig(timeout=timeout), **kwargs)
        self._gateway = gateway

    def build_body(self, method: str, biz_content: Any = None, **kwargs: Any) -> dict:
        data = super().build_body(method, biz_content, **kwargs)
        data["timestamp"] = timezone.now().astimezone(ALIPAY_TZ).strftime(TIME_FORMAT)
        return data


@dataclass(frozen=True)
class AlipaySettings:
    app_id: str
    seller_id: str
    private_key_path: str
    public_key_path: str
    notify_url: str
    agreement_notify_url: str
    gateway: str
    timeout: float

    @classmethod
    def from_settings(cls) -> AlipaySettings:
        missing = missing_settings()
        if missing:
            logger.error("Alipay is not configured: %s missing or unreadable", ", ".join(missing))
            raise DomainError("payments_unavailable")
        notify_url = settings.ALIPAY_NOTIFY_URL or settings.SITE_URL + reverse(
            "api-members-payment-notify", args=[CODE]
        )
        return cls(
            app_id=str(settings.ALIPAY_APP_ID),
            seller_id=str(settings.ALIPAY_SELLER_ID),
            private_key_path=str(settings.ALIPAY_APP_PRIVATE_KEY_PATH),
            public_key_path=str(settings.ALIPAY_PUBLIC_KEY_PATH),
            notify_url=notify_url,
            agreement_notify_url=settings.ALIPAY_AGREEMENT_NOTIFY_URL
            or settings.SITE_URL + reverse("api-members-agreement-notify", args=[CODE]),
            gateway=str(settings.ALIPAY_GATEWAY),
            timeout=float(settings.ALIPAY_TIMEOUT),
        )


class AlipayProvider(PaymentProvider):
    code = CODE
    ack = ACK
    signs_agreements = True

    def __init__(self, config: AlipaySettings | None = None) -> None:
        self.config = config or AlipaySettings.from_settings()
        self.app_id = self.config.app_id
        self.merchant_id = self.config.seller_id
        self.client = _Client(
            appid=self.config.app_id,
            app_notify_url=self.config.notify_url,
            app_private_key_string=_load_key(self.config.private_key_path),
            alipay_public_key_string=_load_key(self.config.public_key_path),
            sign_type="RSA2",
            gateway=self.config.gateway,
            timeout=self.config.timeout,
        )

    # --- calls -------------------------------------------------------------------------------

    def _call(self, method: str, biz_content: dict[str, Any], **params: Any) -> dict[str, Any]:
        """One openapi call, its answer verified by the SDK. Returns the answer of a handled call
        (``code`` 10000) or of a business refusal (40004, with ``sub_code``); anything else (no
        answer, a 5xx, an unsigned or badly signed answer, Alipay busy) is ``payment_gateway_unavailable``."""
        try:
            answer = self.client.server_api(method, biz_content=biz_content, **params)
        except AliPayValidationError:
            logger.exception("alipay %s: the answer's signature is not Alipay's", method)
            raise DomainError("payment_gateway_unavailable") from None
        except (AliPayException, OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("alipay %s: %s", method, exc)
            raise DomainError("payment_gateway_unavailable") from exc
        code = str(answer.get("code", ""))
        if code in ("10000", "40004"):
            return dict(answer)
        logger.error("alipay %s answered %s %s %s", method, code, answer.get("sub_code"), answer.get("sub_msg"))
        raise DomainError("payment_gateway_unavailable")

    def create_checkout(
        self,
        *,
        out_trade_no: str,
        amount_fen: int,
        currency: str,
        description: str,
        return_url: str,
        payer_id: int,
        channel: str = CHANNEL_DESKTOP,
        client_ip: str = "",
        openid: str = "",
    ) -> Checkout:
        """The signed request of the hosted page: mobile web pay for a phone, PC page pay otherwise.
        Alipay creates the trade when the payer opens it (until then a query finds no trade)."""
        if currency != "CNY":
            raise DomainError("validation_failed")
        biz = {
            "out_trade_no": out_trade_no,
            "total_amount": yuan(amount_fen),
            "subject": description[:128],
            "time_expire": (timezone.now() + CHECKOUT_EXPIRES).astimezone(ALIPAY_TZ).strftime(TIME_FORMAT),
        }
        absolute_return = return_url if "://" in return_url else settings.SITE_URL + return_url
        if channel == CHANNEL_MOBILE:
            biz["product_code"] = "QUICK_WAP_WAY"
            biz["quit_url"] = absolute_return
            method = "alipay.trade.wap.pay"
        else:
            biz["product_code"] = "FAST_INSTANT_TRADE_PAY"
            method = "alipay.trade.page.pay"
        signed = self.client.client_api(method, biz_content=biz, return_url=absolute_return)
        return Checkout(url=f"{self.config.gateway}?{signed}")

    def agreement_sign(
        self,
        *,
        external_agreement_no: str,
        amount_fen: int,
        period_days: int,
        first_charge_on: date,
        description: str,
        return_url: str,
        channel: str = CHANNEL_DESKTOP,
        openid: str = "",
    ) -> Checkout:
        """``alipay.user.agreement.page.sign`` (周期扣款, personal product ``CYCLE_PAY_AUTH_P``): the
        signed request of Alipay's signing page; the signature arrives as a ``dut_user_sign`` notice at
        the agreement notify URL."""
        biz = {
            "personal_product_code": AGREEMENT_PRODUCT,
            "product_code": "GENERAL_WITHHOLDING",
            "sign_scene": AGREEMENT_SCENE,
            "external_agreement_no": external_agreement_no,
            "access_params": {"channel": "ALIPAYAPP" if channel == CHANNEL_MOBILE else "QRCODE"},
            "period_rule_params": {
                "period_type": "DAY",
                "period": period_days,
                "execute_time": first_charge_on.isoformat(),
                "single_amount": yuan(amount_fen),
            },
            "external_logon_id": description[:100],
        }
        absolute_return = return_url if "://" in return_url else settings.SITE_URL + return_url
        signed = self.client.client_api(
            "alipay.user.agreement.page.sign",
            biz_content=biz,
            return_url=absolute_return,
            notify_url=self.config.agreement_notify_url,
        )
        return Checkout(url=f"{self.config.gateway}?{signed}")

    def _agreement_biz(self, external_agreement_no: str, agreement_no: str) -> dict[str, str]:
        biz = {
            "personal_product_code": AGREEMENT_PRODUCT,
            "sign_scene": AGREEMENT_SCENE,
            "external_agreement_no": external_agreement_no,
        }
        if agreement_no:
            biz["agreement_no"] = agreement_no
        return biz

    def agreement_query(self, *, external_agreement_no: str, agreement_no: str = "") -> AgreementNotice | None:
        """``alipay.user.agreement.query``: ``NORMAL`` is in force, ``STOP`` ended; ``TEMP`` (the member has
        not finished signing) or no such agreement is ``None``."""
        answer = self._call("alipay.user.agreement.query", self._agreement_biz(external_agreement_no, agreement_no))
        if answer["code"] != "10000":
            if "NOT_EXIST" in str(answer.get("sub_code", "")):
                return None
            logger.warning("alipay agreement query %s refused: %s", external_agreement_no, answer.get("sub_code"))
            raise DomainError("payment_gateway_unavailable")
        status = str(answer.get("status", ""))
        if status not in ("NORMAL", "STOP"):
            return None
        try:
            return AgreementNotice(
                external_agreement_no=str(answer.get("external_agreement_no") or external_agreement_no),
                agreement_no=str(answer["agreement_no"]),
                state="active" if status == "NORMAL" else "ended",
                at=parse_time(answer.get("sign_time") if status == "NORMAL" else answer.get("invalid_time")),
                app_id=self.app_id,
                payload=dict(answer),
            )
        except (KeyError, ValueError) as exc:
            raise DomainError("payment_gateway_unavailable") from exc

    def agreement_unsign(self, *, external_agreement_no: str, agreement_no: str) -> None:
        """``alipay.user.agreement.unsign`` (the member switched auto-renew off); an agreement Alipay no
        longer has is already ended. Alipay then sends the ``dut_user_unsign`` notice."""
        answer = self._call("alipay.user.agreement.unsign", self._agreement_biz(external_agreement_no, agreement_no))
        sub_code = str(answer.get("sub_code", ""))
        if answer["code"] == "10000" or "NOT_EXIST" in sub_code:
            return
        logger.warning("alipay unsign of %s refused: %s", external_agreement_no, sub_code)
        raise DomainError("payment_gateway_refused", reason=sub_code)

    def charge_agreement(
        self, *, out_trade_no: str, amount_fen: int, currency: str, description: str, payer_id: int
    ) -> None:
        """``alipay.trade.pay`` under the payer's active agreement (product ``CYCLE_PAY_AUTH``). The
        outcome arrives as a trade notification (or the reconciliation job's query); a payer without an
        agreement, or whose agreement Alipay no longer honours, is ``payment_agreement_missing``."""
        agreement = PaymentAgreement.objects.filter(
            user_id=payer_id, provider=CODE, state=PaymentAgreement.State.ACTIVE
        ).first()
        if agreement is None or not agreement.agreement_no or currency != "CNY":
            raise DomainError("payment_agreement_missing")
        answer = self._call(
            "alipay.trade.pay",
            {
                "out_trade_no": out_trade_no,
                "total_amount": yuan(amount_fen),
                "subject": description[:128],
                "product_code": "CYCLE_PAY_AUTH",
                "agreement_params": {"agreement_no": agreement.agreement_no},
            },
        )
        sub_code = str(answer.get("sub_code", ""))
        if answer["code"] != "10000" and "AGREEMENT" in sub_code:
            logger.warning("alipay agreement %s refused: %s", agreement.agreement_no, sub_code)
            raise DomainError("payment_agreement_missing")
        if answer["code"] != "10000":
            logger.warning("alipay renewal %s declined: %s", out_trade_no, sub_code)

    def parse_agreement_notification(self, *, headers: Mapping[str, str], body: bytes) -> AgreementNotice:
        """``dut_user_sign`` (status ``NORMAL``) or ``dut_user_unsign`` (``UNSIGN``: the member ended
        it in Alipay, or we did), signed as trade notices are."""
        fields = self._verified_form(body)
        try:
            notify_type = fields["notify_type"]
            if notify_type not in ("dut_user_sign", "dut_user_unsign"):
                raise ValueError(f"notify_type {notify_type!r}")
            signed = notify_type == "dut_user_sign" and fields.get("status", "NORMAL") == "NORMAL"
            return AgreementNotice(
                external_agreement_no=fields["external_agreement_no"],
                agreement_no=fields["agreement_no"],
                state="active" if signed else "ended",
                at=parse_time(fields.get("sign_time") if signed else fields.get("unsign_time")),
                app_id=fields.get("app_id", ""),
                payload=fields,
            )
        except (KeyError, ValueError) as exc:
            raise DomainError("notification_malformed") from exc

    def query(self, *, out_trade_no: str) -> Transaction:
        answer = self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        if answer["code"] != "10000":
            if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                raise DomainError("payment_unknown")
            logger.error("alipay query %s refused: %s", out_trade_no, answer.get("sub_code"))
            raise DomainError("payment_gateway_unavailable")
        return self._transaction(answer, out_trade_no)

    def _transaction(self, answer: Mapping[str, Any], out_trade_no: str) -> Transaction:
        """A query's answer. It is signed by Alipay for the application that asked, about that
        application's own order: the app and seller are ours by construction."""
        try:
            return Transaction(
                out_trade_no=str(answer.get("out_trade_no") or out_trade_no),
                state=_TRADE_STATE.get(str(answer.get("trade_status")), "pending"),
                amount_fen=fen(answer["total_amount"]),
                currency=str(answer.get("trans_currency") or "CNY"),
                transaction_id=answer.get("trade_no") or None,
                paid_at=parse_time(answer.get("send_pay_date")),
                app_id=self.app_id,
                merchant_id=self.merchant_id,
            )
        except (KeyError, ValueError) as exc:
            logger.exception("alipay query %s: unreadable answer", out_trade_no)
            raise DomainError("payment_gateway_unavailable") from exc

    def close(self, *, out_trade_no: str) -> Transaction:
        """Close an unpaid trade. A trade the payer never opened does not exist at Alipay
        (``payment_unknown``; its ``time_expire`` stops it from being paid later); one that is
        already paid or closed answers its state (a query)."""
        answer = self._call("alipay.trade.close", {"out_trade_no": out_trade_no})
        if answer["code"] == "10000":
            return self.query(out_trade_no=out_trade_no)
        if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            raise DomainError("payment_unknown")
        if answer.get("sub_code") == "ACQ.TRADE_STATUS_ERROR":
            return self.query(out_trade_no=out_trade_no)
        logger.error("alipay close %s refused: %s", out_trade_no, answer.get("sub_code"))
        raise DomainError("payment_gateway_unavailable")

    def refund(self, *, request: RefundRequest) -> RefundResult:
        """``alipay.trade.refund`` under our refund number. ``fund_change=Y``: refunded now; ``N``: this
        number was refunded before (or is on its way): its state is asked (refund query)."""
        answer = self._call(
            "alipay.trade.refund",
            {
                "out_trade_no": request.out_trade_no,
                "out_request_no": request.out_refund_no,
                "refund_amount": yuan(request.amount_fen),
            },
        )
        if answer["code"] != "10000":
            sub_code = str(answer.get("sub_code", ""))
            if sub_code in _REFUND_EXCEEDS:
                raise DomainError("refund_exceeds_paid")
            if sub_code in _REFUND_NOT_PAID:
                raise DomainError("subscription_not_paid")
            logger.warning("alipay refund %s not taken: %s", request.out_refund_no, sub_code)
            raise DomainError("payment_gateway_unavailable")
        if answer.get("fund_change") == "Y":
            return RefundResult(
                out_refund_no=request.out_refund_no,
                state="succeeded",
                provider_refund_id=str(answer.get("trade_no", "")),
                provider_state="REFUND_SUCCESS",
                amount_fen=request.amount_fen,
                settled_at=parse_time(answer.get("gmt_refund_pay")),
            )
        try:
            return self.refund_query(out_trade_no=request.out_trade_no, out_refund_no=request.out_refund_no)
        except DomainError as exc:
            if exc.code != "refund_unknown":
                raise
            return RefundResult(out_refund_no=request.out_refund_no, state="processing", provider_state="ACCEPTED")

    def refund_many(self, *, requests: Sequence[RefundRequest]) -> list[RefundResult]:
        """One call per refund (Alipay has no batch refund for trades); a final refusal of one is
        that refund's ``failed`` answer, an unreachable gateway stops the batch (the rest stay
        requested and are sent again under their numbers)."""
        results = []
        for request in requests:
            try:
                results.append(self.refund(request=request))
            except DomainError as exc:
                if exc.code not in ("refund_exceeds_paid", "subscription_not_paid"):
                    raise
                results.append(RefundResult(request.out_refund_no, "failed", provider_state=exc.code))
        return results

    def refund_query(self, *, out_trade_no: str, out_refund_no: str) -> RefundResult:
        """``alipay.trade.fastpay.refund.query``. An answer without the refund means Alipay never
        took it (or refused it): ``refund_unknown``, and the caller may send it again under the
        same number."""
        answer = self._call(
            "alipay.trade.fastpay.refund.query",
            {"out_trade_no": out_trade_no, "out_request_no": out_refund_no, "query_options": ["gmt_refund_pay"]},
        )
        if answer["code"] != "10000":
            if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                raise DomainError("refund_unknown")
            raise DomainError("payment_gateway_unavailable")
        if not answer.get("refund_amount"):
            raise DomainError("refund_unknown")
        status = str(answer.get("refund_status") or "REFUND_SUCCESS")
        try:
            amount = fen(answer["refund_amount"])
        except ValueError as exc:
            raise DomainError("payment_gateway_unavailable") from exc
        return RefundResult(
            out_refund_no=out_refund_no,
            state="succeeded" if status == "REFUND_SUCCESS" else "processing",
            provider_refund_id=str(answer.get("trade_no", "")),
            provider_state=status,
            amount_fen=amount,
            settled_at=parse_time(answer.get("gmt_refund_pay")),
        )

    # --- notifications -----------------------------------------------------------------------

    def parse_notification(self, *, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify the RSA2 signature of Alipay's form (sorted ``key=value`` pairs, empty values and
        ``sign``/``sign_type`` left out), then decode it. Alipay sends the same notice again until it
        reads ``success``; a replay is harmless (each notice is applied once)."""
        fields = self._verified_form(body)
        try:
            return self._notification(fields)
        except (KeyError, ValueError) as exc:
            raise DomainError("notification_malformed") from exc

    def _verified_form(self, body: bytes) -> dict[str, str]:
        """The notice's form once its RSA2 signature is Alipay's (else ``notification_signature_invalid``)."""
        fields = _form(body)
        signature = fields.pop("sign", "")
        sign_type = fields.pop("sign_type", "")
        if not signature or sign_type != "RSA2":
            raise DomainError("notification_signature_invalid")
        signed = {k: v for k, v in fields.items() if v != ""}
        try:
            valid = self.client.verify(dict(signed), signature)
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise DomainError("notification_signature_invalid")
        return fields

    def _notification(self, fields: dict[str, str]) -> Notification:
        if fields.get("notify_type") != "trade_status_sync":
            raise ValueError(f"notify_type {fields.get('notify_type')!r}")
        status = fields["trade_status"]
        refund = None
        event_type = f"trade_status_sync:{status}"
        if fields.get("out_biz_no") and (fields.get("gmt_refund") or fields.get("refund_fee")):
            refund = RefundResult(
                out_refund_no=fields["out_biz_no"],
                state="succeeded",
                provider_refund_id=fields.get("trade_no", ""),
                provider_state="REFUND_SUCCESS",
                settled_at=parse_time(fields.get("gmt_refund")),
            )
            event_type = "trade_status_sync:REFUND"
        txn = Transaction(
            out_trade_no=fields["out_trade_no"],
            state="paid" if refund is not None else _TRADE_STATE[status],
            amount_fen=fen(fields["total_amount"]),
            currency=fields.get("trans_currency") or "CNY",
            transaction_id=fields.get("trade_no") or None,
            paid_at=parse_time(fields.get("gmt_payment")),
            app_id=fields.get("app_id") or "",
            merchant_id=fields.get("seller_id") or "",
        )
        return Notification(
            notify_id=fields["notify_id"], event_type=event_type, transaction=txn, payload=fields, refund=refund
        )

    # --- the daily bill ----------------------------------------------------------------------

    def trade_bill(self, *, day: date) -> list[BillLine]:
        """``alipay.data.dataservice.bill.downloadurl.query`` (bill type ``trade``), then the zip it
        names: the detail file (``…业务明细.csv``, GBK) has one line per payment (业务类型 交易) and per
        refund (退款, with our refund number in 退款批次号/请求号). A bill not published yet is
        ``payment_gateway_unavailable`` (the job tries again)."""
        answer = self._call(
            "alipay.data.dataservice.bill.downloadurl.query", {"bill_type": "trade", "bill_date": day.isoformat()}
        )
        url = answer.get("bill_download_url")
        if answer["code"] != "10000" or not url:
            logger.warning("alipay bill %s not available: %s", day, answer.get("sub_code"))
            raise DomainError("payment_gateway_unavailable")
        try:
            with urllib.request.urlopen(str(url), timeout=self.config.timeout) as response:  # noqa: S310
                archive = response.read()
            return parse_bill(archive)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            logger.warning("alipay bill %s not read: %s", day, exc)
            raise DomainError("payment_gateway_unavailable") from exc


def _form(body: bytes) -> dict[str, str]:
    """The notification's form, decoded in the charset it names (we ask for utf-8)."""
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
        charset = dict(pairs).get("charset", "utf-8").lower()
        if charset not in ("utf-8", "utf8"):
            pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict")
    except (UnicodeDecodeError, LookupError, ValueError) as exc:
        raise DomainError("notification_malformed") from exc
    return dict(pairs)


def parse_bill(archive: bytes) -> list[BillLine]:
    """The lines of Alipay's trade bill zip (its detail CSV, GBK, ``#`` comment lines around a header;
    cells padded with tabs). A refund line carries the refunded amount, negative, in 订单金额（元）; both
    kinds are read as positive amounts, as the ledger holds them."""
    with zipfile.ZipFile(io.BytesIO(archive), metadata_encoding="gbk") as bundle:
        names = [n for n in bundle.namelist() if n.endswith(BILL_DETAIL_SUFFIX) and "汇总" not in n]
        if len(names) != 1:
            raise ValueError(f"bill files {bundle.namelist()!r}")
        text = bundle.read(names[0]).decode("gb18030")
    rows = [row for row in csv.reader(io.StringIO(text)) if row and not row[0].startswith("#")]
    header = [cell.strip() for cell in rows[0]]
    if "商户订单号" not in header:
        raise ValueError("bill header")
    column = {name: header.index(name) for name in header}
    lines = []
    for row in rows[1:]:
        cells = [cell.strip() for cell in row]
        kind = cells[column["业务类型"]]
        if kind not in (BILL_TRADE, BILL_REFUND):
            continue
        amount = abs(fen(cells[column["订单金额（元）"]]))
        if kind == BILL_TRADE:
            lines.append(BillLine("payment", cells[column["商户订单号"]], amount, "CNY"))
        else:
            lines.append(
                BillLine("refund", cells[column["商户订单号"]], amount, "CNY", cells[column["退款批次号/请求号"]])
            )
    return lines
