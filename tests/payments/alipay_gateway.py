"""Alipay's openapi gateway, answered on 127.0.0.1 by a thread, as Alipay documents it.

* Requests (``GET /gateway.do?...``, as ``python-alipay-sdk`` sends them): the RSA2 signature over the
  sorted ``key=value`` pairs (less ``sign``, empty values left out) is checked with the application's
  public key, and ``app_id`` with the application's id; a request failing either is answered
  ``isv.invalid-signature`` / ``isv.invalid-app-id`` and recorded in :attr:`AlipayGateway.rejected`.
* Answers: ``{"<method>_response": {...}, "sign": "..."}``, signed with "Alipay's" RSA key (made here)
  over the exact JSON text of the response object.
* The payer's side (:meth:`open`, :meth:`pay`) and the asynchronous notifications (:meth:`notice`):
  a form signed over the sorted pairs less ``sign`` and ``sign_type``.
* Faults on demand (``faults[method] = "5xx"``: answered 502 before acting; ``"timeout"``: acts, then
  answers after the client has given up).
* The daily bill: ``alipay.data.dataservice.bill.downloadurl.query`` names ``/bill/<day>.zip``, a zip of
  the GBK detail and summary CSV files built from the trades and refunds of that day (China time).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CST = ZoneInfo("Asia/Shanghai")
FORMAT = "%Y-%m-%d %H:%M:%S"
SELLER_ID = "2088102177846880"
BILL_HEADER = [
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称", "操作员",
    "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）",
    "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号",
    "服务费（元）", "分润（元）", "备注",
]  # fmt: skip


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign_content(pairs: dict[str, str], *, leave_out: tuple[str, ...]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(pairs.items()) if k not in leave_out and v != "")


def rsa2_sign(key: rsa.RSAPrivateKey, text: str) -> str:
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def to_fen(amount: str) -> int:
    whole, _, part = amount.partition(".")
    return int(whole) * 100 + int((part + "00")[:2])


def now_cst() -> datetime:
    return datetime.now(CST).replace(microsecond=0)


class GbkName(zipfile.ZipInfo):
    """A zip entry named in GBK without the UTF-8 flag, as Alipay's bill archives are."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("gbk"), self.flag_bits


@dataclass
class Trade:
    out_trade_no: str
    amount_fen: int
    subject: str
    method: str
    notify_url: str
    return_url: str
    time_expire: str
    status: str = "WAIT_BUYER_PAY"
    trade_no: str = ""
    created: datetime = field(default_factory=now_cst)
    paid: datetime | None = None
    refunds: dict[str, tuple[int, datetime]] = field(default_factory=dict)

    @property
    def refunded_fen(self) -> int:
        return sum(amount for amount, _ in self.refunds.values())


class AlipayGateway:
    def __init__(self, *, app_id: str, app_public_key: Any, seller_id: str = SELLER_ID, answer_after: float = 1.5):
        self.app_id = app_id
        self.app_public_key = app_public_key
        self.seller_id = seller_id
        self.key = new_key()  # "Alipay's" key: answers and notifications are signed with it
        self.answer_after = answer_after
        self.lock = threading.Lock()
        self.reset()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        self.trades: dict[str, Trade] = {}
        self.agreements: dict[str, dict[str, Any]] = {}  # by external_agreement_no
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.rejected: list[str] = []
        self.faults: dict[str, str] = {}
        self.bill_extra: list[list[str]] = []
        self.bill_left_out: set[str] = set()
        self.observer: Any = None  # called with the method of every verified request

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/gateway.do"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [biz for name, biz in self.calls if name == method]

    # --- the payer ---------------------------------------------------------------------------

    def open(self, checkout_url: str) -> int:
        """The payer's browser opens the hosted page (Alipay creates the trade). Returns the status."""
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(checkout_url, timeout=5) as response:  # noqa: S310 - loopback
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def pay(self, out_trade_no: str) -> dict[str, str]:
        """The payer pays: the trade succeeds. Returns the notification Alipay sends."""
        with self.lock:
            trade = self.trades[out_trade_no]
            assert trade.status == "WAIT_BUYER_PAY", trade.status
            trade.status = "TRADE_SUCCESS"
            trade.trade_no = now_cst().strftime("%Y%m%d") + "22001" + uuid.uuid4().hex[:17]
            trade.paid = now_cst()
        return self.notice(out_trade_no)

    def notice(self, out_trade_no: str, *, refund_no: str = "", **override: str) -> dict[str, str]:
        """The asynchronous notification of the trade's current state (of one of its refunds with
        ``refund_no``), signed by Alipay; ``override`` changes fields before signing."""
        trade = self.trades[out_trade_no]
        fields = {
            "notify_time": now_cst().strftime(FORMAT),
            "notify_type": "trade_status_sync",
            "notify_id": uuid.uuid4().hex,
            "app_id": self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_id": "2088102177846875",
            "buyer_logon_id": "csq***@sandbox.com",
            "seller_id": self.seller_id,
            "seller_email": "merchant@example.com",
            "trade_status": trade.status,
            "total_amount": yuan(trade.amount_fen),
            "receipt_amount": yuan(trade.amount_fen),
            "buyer_pay_amount": yuan(trade.amount_fen),
            "subject": trade.subject,
            "gmt_create": trade.created.strftime(FORMAT),
            "gmt_payment": trade.paid.strftime(FORMAT) if trade.paid else "",
        }
        if refund_no:
            _amount, at = trade.refunds[refund_no]
            fields.update(out_biz_no=refund_no, refund_fee=yuan(trade.refunded_fen), gmt_refund=at.strftime(FORMAT))
        fields.update(override)
        return self._signed(fields)

    @staticmethod
    def form(fields: dict[str, str]) -> bytes:
        return urlencode(fields).encode()

    def _signed(self, fields: dict[str, str]) -> dict[str, str]:
        fields = {k: v for k, v in fields.items() if v != ""}
        fields["sign"] = rsa2_sign(self.key, sign_content(fields, leave_out=("sign", "sign_type")))
        return fields

    def sign_agreement(self, external_agreement_no: str) -> dict[str, str]:
        """The payer signs on Alipay's page: the agreement is in force. Returns the ``dut_user_sign`` notice."""
        with self.lock:
            agreement = self.agreements[external_agreement_no]
            agreement.update(status="NORMAL", agreement_no="20265703" + uuid.uuid4().hex[:12], at=now_cst())
        return self.agreement_notice(external_agreement_no)

    def unsign_agreement(self, external_agreement_no: str) -> dict[str, str]:
        """The payer ends the agreement in the Alipay app. Returns the ``dut_user_unsign`` notice."""
        with self.lock:
            self.agreements[external_agreement_no].update(status="UNSIGN", at=now_cst())
        return self.agreement_notice(external_agreement_no)

    def agreement_notice(self, external_agreement_no: str, /, **override: str) -> dict[str, str]:
        agreement = self.agreements[external_agreement_no]
        signed = agreement["status"] == "NORMAL"
        fields = {
            "notify_id": uuid.uuid4().hex,
            "notify_time": now_cst().strftime(FORMAT),
            "notify_type": "dut_user_sign" if signed else "dut_user_unsign",
            "app_id": self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "agreement_no": agreement["agreement_no"],
            "external_agreement_no": external_agreement_no,
            "personal_product_code": "CYCLE_PAY_AUTH_P",
            "sign_scene": "INDUSTRY|DIGITAL_MEDIA",
            "alipay_user_id": "2088102177846875",
            "status": agreement["status"],
            ("sign_time" if signed else "unsign_time"): agreement["at"].strftime(FORMAT),
        }
        fields.update(override)
        return self._signed(fields)

    # --- the openapi ---------------------------------------------------------------------------

    def _answer(self, method: str, body: dict[str, Any]) -> bytes:
        inner = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        key = method.replace(".", "_") + "_response"
        return f'{{"{key}":{inner},"sign":"{rsa2_sign(self.key, inner)}"}}'.encode()

    @staticmethod
    def _refusal(sub_code: str, sub_msg: str, **extra: Any) -> dict[str, Any]:
        return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg, **extra}

    def _verify(self, params: dict[str, str]) -> str:
        signature = params.get("sign", "")
        try:
            self.app_public_key.verify(
                base64.b64decode(signature),
                sign_content(params, leave_out=("sign",)).encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return "isv.invalid-signature"
        if params.get("app_id") != self.app_id:
            return "isv.invalid-app-id"
        if params.get("sign_type") != "RSA2" or params.get("charset") != "utf-8":
            return "isv.invalid-signature-type"
        return ""

    def handle(self, method: str, params: dict[str, str], biz: dict[str, Any]) -> tuple[int, str, bytes]:
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, "application/json", self._answer(method, self._refusal("isv.invalid-method", method))
        with self.lock:
            status, content_type, body = handler(method, params, biz)
        return status, content_type, body

    def _pay_page(self, method: str, params: dict[str, str], biz: dict[str, Any]) -> tuple[int, str, bytes]:
        product = {"alipay.trade.page.pay": "FAST_INSTANT_TRADE_PAY", "alipay.trade.wap.pay": "QUICK_WAP_WAY"}[method]
        problems = [
            name
            for name, ok in (
                ("product_code", biz.get("product_code") == product),
                ("total_amount", isinstance(biz.get("total_amount"), str) and to_fen(biz["total_amount"]) > 0),
                ("subject", bool(biz.get("subject"))),
                ("notify_url", params.get("notify_url", "").startswith("http")),
                ("return_url", params.get("return_url", "").startswith("http")),
                ("quit_url", method != "alipay.trade.wap.pay" or str(biz.get("quit_url", "")).startswith("http")),
                ("time_expire", bool(biz.get("time_expire"))),
            )
            if not ok
        ]
        if problems:
            return 400, "text/html; charset=utf-8", f"<p>参数错误 {problems}</p>".encode()
        out_trade_no = biz["out_trade_no"]
        trade = self.trades.get(out_trade_no)
        if trade is not None and trade.amount_fen != to_fen(biz["total_amount"]):
            return 400, "text/html; charset=utf-8", "<p>交易信息被篡改</p>".encode()
        if datetime.strptime(biz["time_expire"], FORMAT).replace(tzinfo=CST) < now_cst():
            return 400, "text/html; charset=utf-8", "<p>订单已过期</p>".encode()
        if trade is None:
            self.trades[out_trade_no] = Trade(
                out_trade_no=out_trade_no,
                amount_fen=to_fen(biz["total_amount"]),
                subject=biz["subject"],
                method=method,
                notify_url=params["notify_url"],
                return_url=params["return_url"],
                time_expire=biz["time_expire"],
            )
        return 200, "text/html; charset=utf-8", "<title>支付宝 - 网上支付 安全快速！</title>".encode()

    _alipay_trade_page_pay = _pay_page
    _alipay_trade_wap_pay = _pay_page

    def _alipay_user_agreement_page_sign(
        self, method: str, params: dict[str, str], biz: dict[str, Any]
    ) -> tuple[int, str, bytes]:
        rule = biz.get("period_rule_params") or {}
        problems = [
            name
            for name, ok in (
                ("personal_product_code", biz.get("personal_product_code") == "CYCLE_PAY_AUTH_P"),
                ("product_code", biz.get("product_code") == "GENERAL_WITHHOLDING"),
                ("sign_scene", bool(biz.get("sign_scene"))),
                ("access_params", (biz.get("access_params") or {}).get("channel") in ("ALIPAYAPP", "QRCODE")),
                ("period", rule.get("period_type") == "DAY" and int(rule.get("period", 0)) >= 7),
                ("execute_time", date.fromisoformat(str(rule.get("execute_time"))) > now_cst().date()),
                ("single_amount", to_fen(str(rule.get("single_amount", "0"))) > 0),
                ("notify_url", params.get("notify_url", "").startswith("http")),
            )
            if not ok
        ]
        if problems:
            return 400, "text/html; charset=utf-8", f"<p>参数错误 {problems}</p>".encode()
        self.agreements.setdefault(
            biz["external_agreement_no"],
            {"status": "TEMP", "agreement_no": "", "rule": rule, "notify_url": params["notify_url"], "at": now_cst()},
        )
        return 200, "text/html; charset=utf-8", "<title>支付宝 - 签约</title>".encode()

    def _agreement_of(self, biz: dict[str, Any]) -> dict[str, Any] | None:
        """The agreement a query or unsign names (by Alipay's number, else ours), of our product."""
        if biz.get("personal_product_code") != "CYCLE_PAY_AUTH_P":
            return None
        if biz.get("agreement_no"):
            return next((a for a in self.agreements.values() if a["agreement_no"] == biz["agreement_no"]), None)
        return self.agreements.get(str(biz.get("external_agreement_no", "")))

    def _alipay_user_agreement_query(
        self, method: str, params: dict[str, str], biz: dict[str, Any]
    ) -> tuple[int, str, bytes]:
        agreement = self._agreement_of(biz)
        if agreement is None or agreement["status"] == "UNSIGN":
            refusal = self._refusal("USER_AGREEMENT_NOT_EXIST", "用户协议不存在")
            return 200, "application/json", self._answer(method, refusal)
        number = next(k for k, v in self.agreements.items() if v is agreement)
        body = {
            "code": "10000",
            "msg": "Success",
            "status": agreement["status"],
            "external_agreement_no": number,
            "personal_product_code": "CYCLE_PAY_AUTH_P",
            "sign_scene": "INDUSTRY|DIGITAL_MEDIA",
        }
        if agreement["status"] == "NORMAL":
            body.update(
                agreement_no=agreement["agreement_no"],
                sign_time=agreement["at"].strftime(FORMAT),
                valid_time=agreement["at"].strftime(FORMAT),
                invalid_time="2115-02-01 00:00:00",
            )
        return 200, "application/json", self._answer(method, body)

    def _alipay_user_agreement_unsign(
        self, method: str, params: dict[str, str], biz: dict[str, Any]
    ) -> tuple[int, str, bytes]:
        agreement = self._agreement_of(biz)
        if agreement is None or agreement["status"] != "NORMAL":
            refusal = self._refusal("USER_AGREEMENT_NOT_EXIST", "用户协议不存在")
            return 200, "application/json", self._answer(method, refusal)
        agreement.update(status="UNSIGN", at=now_cst())
        return 200, "application/json", self._answer(method, {"code": "10000", "msg": "Success"})

    def _alipay_trade_pay(self, method: str, params: dict[str, str], biz: dict[str, Any]) -> tuple[int, str, bytes]:
        number = (biz.get("agreement_params") or {}).get("agreement_no")
        agreement = next((a for a in self.agreements.values() if a["agreement_no"] == number), None)
        if biz.get("product_code") != "CYCLE_PAY_AUTH" or agreement is None or agreement["status"] != "NORMAL":
            refusal = self._refusal("ACQ.AGREEMENT_NOT_EXIST", "协议不存在")
            return 200, "application/json", self._answer(method, refusal)
        amount = to_fen(biz["total_amount"])
        if amount > to_fen(agreement["rule"]["single_amount"]):
            refusal = self._refusal("ACQ.EXCEED_SINGLE_AMOUNT", "超过单笔限额")
            return 200, "application/json", self._answer(method, refusal)
        trade = Trade(
            out_trade_no=biz["out_trade_no"],
            amount_fen=amount,
            subject=biz["subject"],
            method=method,
            notify_url=params.get("notify_url", ""),
            return_url="",
            time_expire="",
            status="TRADE_SUCCESS",
            trade_no=now_cst().strftime("%Y%m%d") + "22001" + uuid.uuid4().hex[:17],
            paid=now_cst(),
        )
        self.trades.setdefault(trade.out_trade_no, trade)
        trade = self.trades[trade.out_trade_no]
        body = {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "total_amount": yuan(trade.amount_fen),
            "gmt_payment": trade.paid.strftime(FORMAT) if trade.paid else "",
        }
        return 200, "application/json", self._answer(method, body)

    def _alipay_trade_query(self, method: str, params: dict[str, str], biz: dict[str, Any]) -> tuple[int, str, bytes]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return 200, "application/json", self._answer(method, self._refusal("ACQ.TRADE_NOT_EXIST", "交易不存在"))
        body = {
            "code": "10000",
            "msg": "Success",
            "out_trade_no": trade.out_trade_no,
            "trade_status": trade.status,
            "total_amount": yuan(trade.amount_fen),
            "buyer_logon_id": "csq***@sandbox.com",
        }
        if trade.trade_no:
            body.update(trade_no=trade.trade_no, buyer_user_id="2088102177846875")
        if trade.paid:
            body["send_pay_date"] = trade.paid.strftime(FORMAT)
        return 200, "application/json", self._answer(method, body)

    def _alipay_trade_close(self, method: str, params: dict[str, str], biz: dict[str, Any]) -> tuple[int, str, bytes]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return 200, "application/json", self._answer(method, self._refusal("ACQ.TRADE_NOT_EXIST", "交易不存在"))
        if trade.status != "WAIT_BUYER_PAY":
            refusal = self._refusal("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            return 200, "application/json", self._answer(method, refusal)
        trade.status = "TRADE_CLOSED"
        body = {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no}
        return 200, "application/json", self._answer(method, body)

    def _alipay_trade_refund(self, method: str, params: dict[str, str], biz: dict[str, Any]) -> tuple[int, str, bytes]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return 200, "application/json", self._answer(method, self._refusal("ACQ.TRADE_NOT_EXIST", "交易不存在"))
        number = biz["out_request_no"]
        amount = to_fen(biz["refund_amount"])
        fund_change = "N"
        if number not in trade.refunds:
            if trade.status != "TRADE_SUCCESS":
                refusal = self._refusal("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
                return 200, "application/json", self._answer(method, refusal)
            if trade.refunded_fen + amount > trade.amount_fen:
                refusal = self._refusal("ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额无效", refund_fee="0.00")
                return 200, "application/json", self._answer(method, refusal)
            trade.refunds[number] = (amount, now_cst())
            if trade.refunded_fen == trade.amount_fen:
                trade.status = "TRADE_CLOSED"
            fund_change = "Y"
        body = {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "csq***@sandbox.com",
            "fund_change": fund_change,
            "refund_fee": yuan(trade.refunded_fen),
            "gmt_refund_pay": trade.refunds[number][1].strftime(FORMAT),
        }
        return 200, "application/json", self._answer(method, body)

    def _alipay_trade_fastpay_refund_query(
        self, method: str, params: dict[str, str], biz: dict[str, Any]
    ) -> tuple[int, str, bytes]:
        trade = self.trades.get(biz.get("out_trade_no", ""))
        body: dict[str, Any] = {"code": "10000", "msg": "Success"}
        if trade is not None and biz.get("out_request_no") in trade.refunds:
            amount, at = trade.refunds[biz["out_request_no"]]
            body.update(
                trade_no=trade.trade_no,
                out_trade_no=trade.out_trade_no,
                out_request_no=biz["out_request_no"],
                total_amount=yuan(trade.amount_fen),
                refund_amount=yuan(amount),
                refund_status="REFUND_SUCCESS",
            )
            if "gmt_refund_pay" in biz.get("query_options", []):
                body["gmt_refund_pay"] = at.strftime(FORMAT)
        return 200, "application/json", self._answer(method, body)

    def _alipay_data_dataservice_bill_downloadurl_query(
        self, method: str, params: dict[str, str], biz: dict[str, Any]
    ) -> tuple[int, str, bytes]:
        if biz.get("bill_type") != "trade" or date.fromisoformat(biz["bill_date"]) >= now_cst().date():
            # a day's bill is published the next day
            return 200, "application/json", self._answer(method, self._refusal("isp.bill_not_exist", "账单不存在"))
        url = self.url.replace("/gateway.do", f"/bill/{biz['bill_date']}.zip")
        body = {"code": "10000", "msg": "Success", "bill_download_url": url}
        return 200, "application/json", self._answer(method, body)

    def bill_zip(self, day: date) -> bytes:
        rows: list[list[str]] = []
        for trade in self.trades.values():
            if trade.out_trade_no in self.bill_left_out:
                continue
            if trade.paid and trade.paid.date() == day:
                rows.append(self._bill_row(trade, "交易", trade.amount_fen, trade.paid, ""))
            for number, (amount, at) in trade.refunds.items():
                if at.date() == day:
                    rows.append(self._bill_row(trade, "退款", -amount, at, number))
        rows.extend(self.bill_extra)
        stamp = day.strftime("%Y%m%d")
        detail = io.StringIO()
        detail.write("#支付宝业务明细查询\n")
        detail.write(f"#账号：[{self.seller_id}0156]\n")
        detail.write(f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{day:%Y年%m月%d日} 23:59:59]\n")
        detail.write("#-----------------------------------------业务明细列表----------------------------------------\n")
        writer = csv.writer(detail, lineterminator="\n")
        writer.writerow(BILL_HEADER)
        for row in rows:  # Alipay pads its cells with a tab
            writer.writerow([cell + "\t" for cell in row])
        detail.write("#-----------------------------------------业务明细列表结束------------------------------------\n")
        detail.write(
            f"#交易合计：{sum(r[2] == '交易' for r in rows)}笔，退款合计：{sum(r[2] == '退款' for r in rows)}笔\n"
        )
        detail.write(f"#导出时间：[{now_cst():%Y年%m月%d日 %H:%M:%S}]\n")
        summary = "#支付宝业务汇总查询\n门店编号,门店名称,交易订单总笔数,退款订单总笔数\n合计,,0,0\n"
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as bundle:
            for name, text in ((f"{self.seller_id}0156_{stamp}_业务明细.csv", detail.getvalue()),
                               (f"{self.seller_id}0156_{stamp}_业务明细(汇总).csv", summary)):  # fmt: skip
                info = GbkName(name, date_time=(day.year, day.month, day.day, 9, 0, 0))
                bundle.writestr(info, text.encode("gbk"))
        return archive.getvalue()

    @staticmethod
    def _bill_row(trade: Trade, kind: str, signed_fen: int, at: datetime, refund_no: str) -> list[str]:
        amount = ("-" if signed_fen < 0 else "") + yuan(abs(signed_fen))
        head = [trade.trade_no, trade.out_trade_no, kind, trade.subject, trade.created.strftime(FORMAT)]
        return [
            *head, at.strftime(FORMAT), "", "", "", "", "csq***@sandbox.com", amount, amount,
            "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", refund_no, "0.00", "0.00", "",
]  # fmt: skip

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (a timeout fault)
                    pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path.startswith("/bill/"):
                    day = date.fromisoformat(parts.path.removeprefix("/bill/").removesuffix(".zip"))
                    self._send(200, "application/zip", gateway.bill_zip(day))
                    return
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                method = params.get("method", "")
                problem = gateway._verify(params)
                if problem:
                    gateway.rejected.append(f"{method}: {problem}")
                    body = {"code": "40002", "msg": "Invalid Arguments", "sub_code": problem}
                    key = method.replace(".", "_") + "_response"
                    self._send(200, "application/json", json.dumps({key: body}).encode())
                    return
                biz = json.loads(params.get("biz_content") or "{}")
                gateway.calls.append((method, biz))
                if gateway.observer is not None:
                    gateway.observer(method)
                fault = gateway.faults.get(method, "")
                if fault == "5xx":
                    self._send(502, "text/html", b"<h1>502 Bad Gateway</h1>")
                    return
                status, content_type, body = gateway.handle(method, params, biz)
                if fault == "timeout":
                    time.sleep(gateway.answer_after)
                self._send(status, content_type, body)

        return Handler
