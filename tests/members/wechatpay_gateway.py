"""A local WeChat Pay (APIv3) for tests: a thread serving http.server on 127.0.0.1 that answers as the
documented API does. It checks every request's ``Authorization`` (WECHATPAY2-SHA256-RSA2048, signed with
the merchant key the test generated) and signs every answer with a platform key generated here (the
"WeChat Pay public key" mode: ``Wechatpay-Serial`` = the key's id). Notifications are built as the
documentation specifies: an envelope whose resource is AEAD_AES_256_GCM-encrypted with the APIv3 key,
signed over ``timestamp\\nnonce\\nbody\\n``.

委托代扣 (a 预约扣费 template, :data:`PLAN_ID`): pre-sign (JSAPI/H5), the contract query and 申请解约 by our
contract number, 预约扣费 (only the day before the deduction day, Beijing [08:00, 19:30), the amount signed
for; :attr:`FakeWeChatPay.clock` is the gateway's time) and 受理扣款 (on the deduction day, the amount
booked); the member's side (:meth:`FakeWeChatPay.sign_contract`, :meth:`FakeWeChatPay.terminate_contract`)
and the deduction (:meth:`FakeWeChatPay.deduct`) return the ``ENTRUST.*`` / ``TRANSACTION.*`` notices.

Faults on demand: ``faults["refund"] = "5xx"`` answers 500 before acting, ``"timeout"`` acts and then
answers too late for the client's timeout.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

CST = ZoneInfo("Asia/Shanghai")
APPID = "wx8888888888888888"
MCHID = "1900009191"
PLAN_ID = 12535
#: How long a "timeout" fault holds the answer back (the client's timeout is shorter).
LATE = 1.5


def _pem_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem_public(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def _certificate(key: rsa.RSAPrivateKey) -> x509.Certificate:
    """A platform certificate (self-issued here; WeChat Pay's are issued by Tenpay's CA)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    now = datetime.now(CST)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(CST).isoformat(timespec="seconds")


@dataclass
class Order:
    out_trade_no: str
    trade_type: str
    appid: str
    mchid: str
    total: int
    currency: str
    description: str
    notify_url: str
    params: dict[str, Any]
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: datetime | None = None
    refunded: int = 0

    def resource(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": self.out_trade_no,
            "trade_type": self.trade_type,
            "trade_state": self.state,
            "trade_state_desc": self.state,
            "amount": {"total": self.total, "currency": self.currency},
        }
        if self.state in ("SUCCESS", "REFUND"):
            data.update(
                transaction_id=self.transaction_id,
                bank_type="OTHERS",
                success_time=_rfc3339(self.success_time or datetime.now(CST)),
                payer={"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
                amount={
                    "total": self.total,
                    "payer_total": self.total,
                    "currency": self.currency,
                    "payer_currency": "CNY",
                },
            )
        return data


@dataclass
class RefundRow:
    out_refund_no: str
    order: Order
    amount: int
    refund_id: str
    created: datetime
    status: str = "PROCESSING"
    success_time: datetime | None = None

    def resource(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "refund_id": self.refund_id,
            "out_refund_no": self.out_refund_no,
            "transaction_id": self.order.transaction_id,
            "out_trade_no": self.order.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": _rfc3339(self.created),
            "status": self.status,
            "amount": {
                "total": self.order.total,
                "refund": self.amount,
                "payer_total": self.order.total,
                "payer_refund": self.amount,
                "currency": self.order.currency,
            },
        }
        if self.success_time:
            data["success_time"] = _rfc3339(self.success_time)
        return data


@dataclass
class Contract:
    out_contract_code: str
    scene: str
    params: dict[str, Any]
    state: str = "UNSIGNED"  # until the member signs: the query answers 404
    contract_id: str = ""
    signed_time: datetime | None = None
    terminated_time: datetime | None = None
    termination_mode: str = ""
    schedule_state: str = "NO_SCHEDULED"
    deduct_date: str = ""

    def resource(self) -> dict[str, Any]:
        schedule = self.params["deduct_schedule"]
        amount = schedule["estimated_deduct_amount"]
        data: dict[str, Any] = {
            "mchid": MCHID,
            "contract_id": self.contract_id,
            "appid": self.params["appid"],
            "plan_id": self.params["plan_id"],
            "out_contract_code": self.out_contract_code,
            "contract_display_account": self.params["contract_display_account"],
            "contract_state": self.state,
            "contract_signed_time": _rfc3339(self.signed_time or datetime.now(CST)),
            "contract_expired_time": "2099-12-31T23:59:59+08:00",
            "openid": self.params.get("openid") or "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "deduct_schedule": {
                "estimated_deduct_date": schedule["estimated_deduct_date"],
                "estimated_deduct_amount": {"total": amount["total"], "currency": amount.get("currency", "CNY")},
                "schedule_state": self.schedule_state,
            },
        }
        if self.schedule_state in ("SCHEDULED", "PAID"):
            data["deduct_schedule"]["scheduled_amount"] = data["deduct_schedule"]["estimated_deduct_amount"]
        if self.schedule_state == "PAID":
            data["deduct_schedule"]["deduct_amount"] = data["deduct_schedule"]["estimated_deduct_amount"]
            data["deduct_schedule"]["deduct_date"] = self.deduct_date
        if self.state == "TERMINATED":
            data["contract_terminate_info"] = {
                "contract_termination_mode": self.termination_mode,
                "contract_terminated_time": _rfc3339(self.terminated_time or datetime.now(CST)),
            }
        return data


@dataclass
class Notice:
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeWeChatPay:
    directory: Path
    merchant_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    platform_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    merchant_serial: str = field(default_factory=lambda: secrets.token_hex(20).upper())
    public_key_id: str = field(default_factory=lambda: "PUB_KEY_ID_" + secrets.token_hex(12).upper())
    apiv3_key: str = field(default_factory=lambda: secrets.token_hex(16))
    orders: dict[str, Order] = field(default_factory=dict)
    refunds: dict[str, RefundRow] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    faults: dict[str, str] = field(default_factory=dict)
    bills: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base_url: str = ""
    #: Platform certificate mode (WECHATPAY_CERT_DIR) instead of the WeChat Pay public key.
    cert_mode: bool = False
    certificate: x509.Certificate | None = None
    contracts: dict[str, Contract] = field(default_factory=dict)
    #: The gateway's clock (the tests move it to the instants the 委托代扣 rules are about).
    clock: Any = None

    def now(self) -> datetime:
        return (self.clock or (lambda: datetime.now(CST)))().astimezone(CST)

    def __post_init__(self) -> None:
        if self.cert_mode:
            self.certificate = _certificate(self.platform_key)

    @property
    def serial(self) -> str:
        """What ``Wechatpay-Serial`` names: the public key's id, or the platform certificate's serial."""
        if self.certificate is not None:
            return f"{self.certificate.serial_number:X}"
        return self.public_key_id

    def rotate(self) -> None:
        """WeChat Pay signs with a new platform certificate from now on (the client learns it from
        ``/v3/certificates``, which lists it encrypted with the APIv3 key)."""
        self.platform_key = rsa.generate_private_key(65537, 2048)
        self.certificate = _certificate(self.platform_key)

    # --- serving -------------------------------------------------------------------------

    def start(self) -> None:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_GET(self) -> None:
                gateway.handle(self, "GET")

            def do_POST(self) -> None:
                gateway.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def settings(self) -> dict[str, str]:
        """The ``WECHATPAY_*`` settings of a merchant of this gateway (keys written to files)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        private = self.directory / "apiclient_key.pem"
        private.write_text(_pem_private(self.merchant_key))
        public = self.directory / "pub_key.pem"
        public.write_text(_pem_public(self.platform_key.public_key()))
        verifier = {"WECHATPAY_PUBLIC_KEY_PATH": str(public), "WECHATPAY_PUBLIC_KEY_ID": self.public_key_id}
        if self.certificate is not None:
            certificates = self.directory / "platform"
            certificates.mkdir(exist_ok=True)
            (certificates / f"{self.serial}.pem").write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
            verifier = {
                "WECHATPAY_PUBLIC_KEY_PATH": "",
                "WECHATPAY_PUBLIC_KEY_ID": "",
                "WECHATPAY_CERT_DIR": str(certificates),
            }
        return {
            "WECHATPAY_MCHID": MCHID,
            "WECHATPAY_APPID": APPID,
            "WECHATPAY_APIV3_KEY": self.apiv3_key,
            "WECHATPAY_PRIVATE_KEY_PATH": str(private),
            "WECHATPAY_CERT_SERIAL_NO": self.merchant_serial,
            **verifier,
            "WECHATPAY_NOTIFY_URL": "https://redcard.example/api/v1/payments/notify/wechatpay/",
            "WECHATPAY_API_BASE": self.base_url,
            "WECHATPAY_TIMEOUT": "0.5",
            "WECHATPAY_PAPAY_PLAN_ID": str(PLAN_ID),
        }

    def _answer(
        self, handler: BaseHTTPRequestHandler, status: int, data: Any = None, *, raw: bytes | None = None
    ) -> None:
        body = raw if raw is not None else (b"" if data is None else json.dumps(data, ensure_ascii=False).encode())
        handler.send_response(status)
        handler.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        handler.send_header("Content-Length", str(len(body)))
        if raw is None:  # the bill download is not signed (the documentation says to skip verification)
            for name, value in self.signed_headers(body).items():
                handler.send_header(name, value)
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # a "timeout" fault: the client has gone
            return

    def signed_headers(self, body: bytes, *, key: rsa.RSAPrivateKey | None = None, at: int | None = None) -> dict:
        timestamp, nonce = str(at or int(time.time())), secrets.token_hex(16)
        message = f"{timestamp}\n{nonce}\n{body.decode()}\n"
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": self.serial,
            "Wechatpay-Signature": _sign(key or self.platform_key, message),
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    def _authorized(self, method: str, target: str, body: bytes, header: str) -> bool:
        match = re.fullmatch(r"WECHATPAY2-SHA256-RSA2048 (.*)", header or "")
        if not match:
            return False
        fields = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if fields.get("mchid") != MCHID or fields.get("serial_no") != self.merchant_serial:
            return False
        if abs(time.time() - int(fields.get("timestamp", "0"))) > 300:
            return False
        message = f"{method}\n{target}\n{fields['timestamp']}\n{fields['nonce_str']}\n{body.decode()}\n"
        try:
            self.merchant_key.public_key().verify(
                base64.b64decode(fields["signature"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, KeyError, ValueError):
            return False
        return True

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        target = handler.path
        parts = urlsplit(target)
        if not self._authorized(method, target, body, handler.headers.get("Authorization", "")):
            return self._answer(handler, 401, {"code": "SIGN_ERROR", "message": "签名错误"})
        data = json.loads(body) if body else {}
        operation = self._operation(method, parts.path)
        with self.lock:
            self.requests.append((method, target, data))
        fault = self.faults.get(operation, "")
        if fault == "5xx":
            return self._answer(handler, 500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
        with self.lock:
            status, answer, raw = self._route(method, parts.path, parse_qs(parts.query), data)
        if fault == "timeout":
            time.sleep(LATE)
        if raw is not None:
            return self._answer(handler, status, raw=raw)
        return self._answer(handler, status, answer)

    @staticmethod
    def _operation(method: str, path: str) -> str:
        if path.startswith("/v3/papay/"):
            endings = {"/terminate": "papay_terminate", "/schedule": "papay_schedule", "/apply": "papay_apply"}
            ending = next((name for suffix, name in endings.items() if path.endswith(suffix)), "papay_contract")
            return "papay_sign" if "pre-entrust-sign" in path else ending
        if path.startswith("/v3/pay/transactions/out-trade-no/"):
            return "close" if path.endswith("/close") else "query"
        if path.startswith("/v3/pay/transactions/"):
            return "checkout"
        if path.startswith("/v3/refund/domestic/refunds"):
            return "refund" if method == "POST" else "refund_query"
        if path == "/v3/certificates":
            return "certificates"
        return "bill"

    def _route(self, method: str, path: str, query: dict, data: dict) -> tuple[int, Any, bytes | None]:
        routes = (
            ("POST", r"/v3/pay/transactions/(jsapi|h5|native)", lambda m: self._create(m.group(1).upper(), data)),
            ("POST", r"/v3/pay/transactions/out-trade-no/([^/]+)/close", lambda m: self._close(m.group(1))),
            ("GET", r"/v3/pay/transactions/out-trade-no/([^/]+)", lambda m: self._query(m.group(1), query)),
            ("POST", r"/v3/refund/domestic/refunds", lambda m: self._refund(data)),
            ("GET", r"/v3/refund/domestic/refunds/([^/]+)", lambda m: self._refund_query(m.group(1))),
            ("GET", r"/v3/bill/tradebill", lambda m: self._tradebill(query["bill_date"][0])),
            ("GET", r"/v3/certificates", lambda m: self._certificates()),
            (
                "POST",
                r"/v3/papay/scheduled-deduct-sign/contracts/pre-entrust-sign/(jsapi|h5)",
                lambda m: self._presign(m.group(1), data),
            ),
            (
                "GET",
                r"/v3/papay/sign/contracts/plan-id/(\d+)/out-contract-code/([^/]+)",
                lambda m: self._contract_query(int(m.group(1)), m.group(2)),
            ),
            (
                "POST",
                r"/v3/papay/sign/contracts/plan-id/(\d+)/out-contract-code/([^/]+)/terminate",
                lambda m: self._contract_terminate(int(m.group(1)), m.group(2), data),
            ),
            (
                "POST",
                r"/v3/papay/pay/schedules/contract-id/([^/]+)/schedule",
                lambda m: self._schedule(m.group(1), data),
            ),
            ("POST", r"/v3/papay/pay/transactions/apply", lambda m: self._apply(data)),
        )
        for verb, pattern, action in routes:
            if method == verb and (match := re.fullmatch(pattern, path)):
                return (*action(match), None)
        if path == "/v3/billdownload/file" and (raw := self.bills.get(query.get("token", [""])[0])) is not None:
            return 200, None, gzip.compress(raw)
        return 404, {"code": "NOT_FOUND", "message": path}, None

    # --- 委托代扣 -------------------------------------------------------------------------

    def _presign(self, scene: str, data: dict) -> tuple[int, Any]:
        required = ["appid", "plan_id", "out_contract_code", "contract_display_account", "contract_notify_url"]
        missing = [name for name in required if not data.get(name)]
        schedule = data.get("deduct_schedule") or {}
        if missing or not schedule.get("estimated_deduct_date") or not schedule.get("description"):
            return 400, {"code": "PARAM_ERROR", "message": f"参数错误 {missing}"}
        if data["appid"] != APPID or data["plan_id"] != PLAN_ID:
            return 400, {"code": "PARAM_ERROR", "message": "appid或模板ID错误"}
        if not re.fullmatch(r"[0-9A-Za-z]{1,32}", data["out_contract_code"]):
            return 400, {"code": "PARAM_ERROR", "message": "商户签约协议号只能是数字、大小写字母的组合"}
        if not (schedule.get("estimated_deduct_amount") or {}).get("total"):
            return 400, {"code": "PARAM_ERROR", "message": "预计扣费金额错误"}
        known = self.contracts.get(data["out_contract_code"])
        if known is not None and known.state != "UNSIGNED":
            return 400, {"code": "INVALID_REQUEST", "message": "商户签约协议号已使用"}
        self.contracts[data["out_contract_code"]] = Contract(data["out_contract_code"], scene.upper(), data)
        session = secrets.token_hex(12)
        return 200, {"redirect_url": f"https://payapp.weixin.qq.com/papay/entrustweb?session_id={session}"}

    def _contract_of(self, plan_id: int, code: str) -> Contract | None:
        contract = self.contracts.get(code)
        if plan_id != PLAN_ID or contract is None or contract.state == "UNSIGNED":
            return None
        return contract

    def _contract_query(self, plan_id: int, code: str) -> tuple[int, Any]:
        contract = self._contract_of(plan_id, code)
        if contract is None:
            return 404, {"code": "RESOURCE_NOT_EXISTS", "message": "签约协议不存在"}
        return 200, contract.resource()

    def _contract_terminate(self, plan_id: int, code: str, data: dict) -> tuple[int, Any]:
        contract = self._contract_of(plan_id, code)
        if contract is None:
            return 404, {"code": "RESOURCE_NOT_EXISTS", "message": "签约协议不存在"}
        if not data.get("contract_termination_remark"):
            return 400, {"code": "PARAM_ERROR", "message": "缺少解约备注"}
        if contract.state == "TERMINATED":
            return 400, {"code": "CONTRACT_TERMINATED", "message": "协议已解约"}
        contract.state, contract.termination_mode = "TERMINATED", "MCH_API_TERMINATE"
        contract.terminated_time = self.now()
        return 200, contract.resource()

    def _signed_contract(self, contract_id: str) -> Contract | None:
        return next((c for c in self.contracts.values() if c.contract_id == contract_id and c.state == "SIGNED"), None)

    def _schedule(self, contract_id: str, data: dict) -> tuple[int, Any]:
        contract = self._signed_contract(contract_id)
        if contract is None:
            return 404, {"code": "CONTRACT_NOT_EXIST", "message": "协议不存在或已解约"}
        schedule = contract.params["deduct_schedule"]
        deduct_day = datetime.fromisoformat(schedule["estimated_deduct_date"]).date()
        now = self.now()
        if now.date() != deduct_day - timedelta(days=1):
            return 400, {"code": "INVALID_REQUEST", "message": "非可预约日"}
        if not (now.time() >= datetime.strptime("08:00", "%H:%M").time() and now.strftime("%H:%M") < "19:30"):
            return 400, {"code": "INVALID_REQUEST", "message": "不在可预约时间段 [8:00,19:30)"}
        if (data.get("schedule_amount") or {}).get("total") != schedule["estimated_deduct_amount"]["total"]:
            return 400, {"code": "PARAM_ERROR", "message": "预约金额必须等于预计扣费金额"}
        if data.get("appid") != APPID:
            return 400, {"code": "PARAM_ERROR", "message": "appid错误"}
        if contract.schedule_state == "NO_SCHEDULED":
            contract.schedule_state = "SCHEDULED"
        day = deduct_day.isoformat()
        return 200, {
            "schedule_state": contract.schedule_state,
            "deduct_start_date": day,
            "deduct_end_date": day,
            "scheduled_amount": schedule["estimated_deduct_amount"],
        }

    def _apply(self, data: dict) -> tuple[int, Any]:
        required = ["appid", "out_trade_no", "description", "transaction_notify_url", "contract_id", "amount"]
        missing = [name for name in required if not data.get(name)]
        if missing or len(data["out_trade_no"]) > 32:
            return 400, {"code": "PARAM_ERROR", "message": f"参数错误 {missing}"}
        existing = self.orders.get(data["out_trade_no"])
        if existing is not None:  # the same order number: the same debit
            return 200, {"out_trade_no": existing.out_trade_no, "amount": {"total": existing.total, "currency": "CNY"}}
        contract = self._signed_contract(data["contract_id"])
        if contract is None:
            return 403, {"code": "CONTRACT_NOT_EXIST", "message": "协议不存在或已解约"}
        schedule = contract.params["deduct_schedule"]
        if contract.schedule_state != "SCHEDULED":
            return 403, {"code": "RULE_LIMIT", "message": "未预约扣费"}
        if self.now().date().isoformat() != schedule["estimated_deduct_date"]:
            return 403, {"code": "RULE_LIMIT", "message": "不在可扣费期内"}
        if data["amount"].get("total") != schedule["estimated_deduct_amount"]["total"]:
            return 400, {"code": "PARAM_ERROR", "message": "扣费金额必须等于预约扣费金额"}
        order = Order(
            out_trade_no=data["out_trade_no"],
            trade_type="PAP",
            appid=data["appid"],
            mchid=MCHID,
            total=int(data["amount"]["total"]),
            currency=data["amount"].get("currency", "CNY"),
            description=data["description"],
            notify_url=data["transaction_notify_url"],
            params={**data, "out_contract_code": contract.out_contract_code},
            state="ACCEPT",
        )
        self.orders[order.out_trade_no] = order
        return 200, {"out_trade_no": order.out_trade_no, "amount": {"total": order.total, "currency": order.currency}}

    def contract_of(self, external_agreement_no: str) -> Contract:
        return self.contracts[uuid.UUID(external_agreement_no).hex]

    def contract_notice(self, contract: Contract) -> Notice:
        event = "ENTRUST.SIGN" if contract.state == "SIGNED" else "ENTRUST.TERMINATE"
        return self.notice(event, "entrust", contract.resource())

    def sign_contract(self, external_agreement_no: str) -> Notice:
        """The member signs on WeChat Pay's page: its ENTRUST.SIGN notice."""
        with self.lock:
            contract = self.contract_of(external_agreement_no)
            contract.state, contract.contract_id = "SIGNED", "2026" + secrets.token_hex(8)
            contract.signed_time = self.now()
            return self.contract_notice(contract)

    def terminate_contract(self, external_agreement_no: str, mode: str = "USER_TERMINATE") -> Notice:
        """The member (or WeChat Pay) ends the contract: its ENTRUST.TERMINATE notice."""
        with self.lock:
            contract = self.contract_of(external_agreement_no)
            contract.state, contract.termination_mode = "TERMINATED", mode
            contract.terminated_time = self.now()
            return self.contract_notice(contract)

    def deduct(self, out_trade_no: str, *, state: str = "SUCCESS") -> tuple[Notice, Notice | None]:
        """WeChat Pay carries out an accepted debit: the order's TRANSACTION.* notice and, once paid, the
        contract's ENTRUST.TERMINATE notice (a 预约扣费 contract ends when its debit is paid)."""
        with self.lock:
            order = self.order_of(out_trade_no)
            order.state = state
            contract = self.contracts[order.params["out_contract_code"]]
            if state != "SUCCESS":
                return self.notice("TRANSACTION.PAYERROR", "transaction", order.resource()), None
            order.transaction_id = "42000" + secrets.token_hex(12)
            order.success_time = self.now()
            contract.schedule_state, contract.deduct_date = "PAID", self.now().date().isoformat()
            contract.state, contract.termination_mode = "TERMINATED", "SYSTEM_TERMINATE"
            contract.terminated_time = self.now()
            paid = self.notice("TRANSACTION.SUCCESS", "transaction", order.resource())
            return paid, self.contract_notice(contract)

    def _certificates(self) -> tuple[int, Any]:
        """The platform certificates, each encrypted with the APIv3 key (AEAD_AES_256_GCM)."""
        if self.certificate is None:
            return 404, {"code": "NOT_FOUND", "message": "平台证书不存在"}
        nonce = secrets.token_hex(6)
        pem = self.certificate.public_bytes(serialization.Encoding.PEM)
        ciphertext = AESGCM(self.apiv3_key.encode()).encrypt(nonce.encode(), pem, b"certificate")
        entry = {
            "serial_no": self.serial,
            "effective_time": _rfc3339(self.certificate.not_valid_before_utc),
            "expire_time": _rfc3339(self.certificate.not_valid_after_utc),
            "encrypt_certificate": {
                "algorithm": "AEAD_AES_256_GCM",
                "nonce": nonce,
                "associated_data": "certificate",
                "ciphertext": base64.b64encode(ciphertext).decode(),
            },
        }
        return 200, {"data": [entry]}

    def _close(self, out_trade_no: str) -> tuple[int, Any]:
        order = self.orders.get(out_trade_no)
        if order is None:
            return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
        if order.state in ("SUCCESS", "REFUND"):
            return 400, {"code": "ORDERPAID", "message": "订单已支付"}
        order.state = "CLOSED"
        return 204, None

    def _query(self, out_trade_no: str, query: dict) -> tuple[int, Any]:
        order = self.orders.get(out_trade_no)
        if order is None or query.get("mchid") != [MCHID]:
            return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
        return 200, order.resource()

    def _refund_query(self, out_refund_no: str) -> tuple[int, Any]:
        refund = self.refunds.get(out_refund_no)
        if refund is None:
            return 404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"}
        return 200, refund.resource()

    def _create(self, trade_type: str, data: dict) -> tuple[int, Any]:
        required = ["appid", "mchid", "description", "out_trade_no", "notify_url", "amount"]
        if trade_type == "JSAPI":
            required.append("payer")
        if trade_type == "H5":
            required.append("scene_info")
        missing = [name for name in required if not data.get(name)]
        if missing or not data["amount"].get("total") or len(data["out_trade_no"]) > 32:
            return 400, {"code": "PARAM_ERROR", "message": f"参数错误 {missing}"}
        if data["mchid"] != MCHID or data["appid"] != APPID:
            return 400, {"code": "PARAM_ERROR", "message": "appid和mch_id不匹配"}
        if trade_type == "H5" and not data["scene_info"].get("payer_client_ip"):
            return 400, {"code": "PARAM_ERROR", "message": "缺少 payer_client_ip"}
        existing = self.orders.get(data["out_trade_no"])
        if existing is not None and (existing.params != data or existing.trade_type != trade_type):
            return 400, {"code": "INVALID_REQUEST", "message": "201 商户订单号重复"}
        order = existing or Order(
            out_trade_no=data["out_trade_no"],
            trade_type=trade_type,
            appid=data["appid"],
            mchid=data["mchid"],
            total=int(data["amount"]["total"]),
            currency=data["amount"].get("currency", "CNY"),
            description=data["description"],
            notify_url=data["notify_url"],
            params=data,
        )
        self.orders[order.out_trade_no] = order
        prepay = "wx" + hashlib.sha256(order.out_trade_no.encode()).hexdigest()[:30]
        if trade_type == "JSAPI":
            return 200, {"prepay_id": prepay}
        if trade_type == "H5":
            return 200, {"h5_url": f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={prepay}&package=1"}
        return 200, {"code_url": f"weixin://wxpay/bizpayurl?pr={prepay[-7:]}"}

    def _refund(self, data: dict) -> tuple[int, Any]:
        if not data.get("out_refund_no") or not data.get("amount"):
            return 400, {"code": "PARAM_ERROR", "message": "参数错误"}
        known = self.refunds.get(data["out_refund_no"])
        if known is not None:  # the same refund number: the same refund
            return 200, known.resource()
        order = self.orders.get(data.get("out_trade_no", ""))
        if order is None:
            return 404, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"}
        amount = data["amount"]
        if order.state not in ("SUCCESS", "REFUND"):
            return 400, {"code": "INVALID_REQUEST", "message": "订单未支付"}
        if amount.get("total") != order.total or amount.get("currency", "CNY") != order.currency:
            return 400, {"code": "PARAM_ERROR", "message": "订单金额或币种信息不一致"}
        if order.refunded + int(amount["refund"]) > order.total:
            return 400, {"code": "INVALID_REQUEST", "message": "申请退款金额超过订单可退金额"}
        order.refunded += int(amount["refund"])
        order.state = "REFUND"
        refund = RefundRow(
            out_refund_no=data["out_refund_no"],
            order=order,
            amount=int(amount["refund"]),
            refund_id="50" + secrets.token_hex(14),
            created=datetime.now(CST),
        )
        self.refunds[refund.out_refund_no] = refund
        return 200, refund.resource()

    def _tradebill(self, bill_date: str) -> tuple[int, Any]:
        raw = self.bill(bill_date)
        if raw is None:
            return 400, {"code": "NO_STATEMENT_EXIST", "message": "该日期无对账单"}
        token = secrets.token_urlsafe(24)
        self.bills[token] = raw
        return 200, {
            "hash_type": "SHA1",
            "hash_value": hashlib.sha1(raw).hexdigest(),  # noqa: S324 (the documented digest)
            "download_url": f"{self.base_url}/v3/billdownload/file?token={token}",
        }

    # --- what the gateway does by itself -------------------------------------------------

    def bill(self, bill_date: str) -> bytes | None:
        """The ALL trade bill of a day, as documented: header, backtick-prefixed rows, summary."""
        day = datetime.fromisoformat(bill_date).date()
        header = (
            "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
            "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
            "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
        )
        rows = []
        total = refunded = 0
        for order in self.orders.values():
            if order.success_time and order.success_time.astimezone(CST).date() == day:
                yuan = f"{order.total / 100:.2f}"
                rows.append(
                    [
                        order.success_time.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S"),
                        order.appid,
                        order.mchid,
                        "0",
                        "",
                        order.transaction_id,
                        order.out_trade_no,
                        "oUpF8uMuAJO",
                        order.trade_type,
                        "SUCCESS",
                        "OTHERS",
                        order.currency,
                        yuan,
                        "0.00",
                        "0",
                        "0",
                        "0.00",
                        "0.00",
                        "",
                        "",
                        order.description,
                        "",
                        "0.00000",
                        "0.60%",
                        yuan,
                        "0.00",
                        "",
                    ]
                )
                total += order.total
        for refund in self.refunds.values():
            if refund.success_time and refund.success_time.astimezone(CST).date() == day:
                order = refund.order
                yuan = f"{refund.amount / 100:.2f}"
                rows.append(
                    [
                        refund.success_time.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S"),
                        order.appid,
                        order.mchid,
                        "0",
                        "",
                        order.transaction_id,
                        order.out_trade_no,
                        "oUpF8uMuAJO",
                        order.trade_type,
                        "REFUND",
                        "OTHERS",
                        order.currency,
                        "0.00",
                        "0.00",
                        refund.refund_id,
                        refund.out_refund_no,
                        yuan,
                        "0.00",
                        "ORIGINAL",
                        "SUCCESS",
                        order.description,
                        "",
                        "0.00000",
                        "0.60%",
                        f"{order.total / 100:.2f}",
                        yuan,
                        "",
                    ]
                )
                refunded += refund.amount
        if not rows:
            return None
        lines = [header, *(",".join("`" + cell for cell in row) for row in rows)]
        lines.append("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
        sums = [total / 100, refunded / 100, 0, 0, total / 100, refunded / 100]
        lines.append(f"`{len(rows)}," + ",".join(f"`{value:.2f}" for value in sums))
        return ("\r\n".join(lines) + "\r\n").encode()

    def order_of(self, out_trade_no: str) -> Order:
        return self.orders[uuid.UUID(out_trade_no).hex]

    def pay(self, out_trade_no: str, *, at: datetime | None = None) -> Notice:
        """The payer pays: the order succeeds and its TRANSACTION.SUCCESS notice is returned (to deliver)."""
        with self.lock:
            order = self.order_of(out_trade_no)
            order.state = "SUCCESS"
            order.transaction_id = "42000" + secrets.token_hex(12)
            order.success_time = at or datetime.now(CST)
            return self.notice("TRANSACTION.SUCCESS", "transaction", order.resource())

    def settle_refund(self, out_refund_no: str, status: str = "SUCCESS", *, at: datetime | None = None) -> Notice:
        """The refund settles at the gateway (SUCCESS, CLOSED or ABNORMAL): its REFUND.* notice."""
        with self.lock:
            refund = self.refunds[out_refund_no]
            refund.status = status
            if status == "SUCCESS":
                refund.success_time = at or datetime.now(CST)
            else:
                refund.order.refunded -= refund.amount
            resource = refund.resource()
            notice = {
                "mchid": refund.order.mchid,
                "out_trade_no": resource["out_trade_no"],
                "transaction_id": resource["transaction_id"],
                "out_refund_no": resource["out_refund_no"],
                "refund_id": resource["refund_id"],
                "refund_status": status,
                "user_received_account": resource["user_received_account"],
                "amount": {k: v for k, v in resource["amount"].items() if k != "currency"},
            }
            if "success_time" in resource:
                notice["success_time"] = resource["success_time"]
            return self.notice(f"REFUND.{status}", "refund", notice)

    def notice(self, event_type: str, original_type: str, resource: dict[str, Any], **sign: Any) -> Notice:
        """A notification as WeChat Pay sends it: the resource encrypted (AEAD_AES_256_GCM, APIv3 key)."""
        nonce, associated = secrets.token_hex(6), original_type
        ciphertext = AESGCM(self.apiv3_key.encode()).encrypt(
            nonce.encode(), json.dumps(resource, ensure_ascii=False).encode(), associated.encode()
        )
        envelope = {
            "id": str(uuid.uuid4()),
            "create_time": _rfc3339(datetime.now(CST)),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": {"TRANSACTION": "支付成功", "REFUND": "退款状态变更", "ENTRUST": "签约状态变更"}[
                event_type.split(".", maxsplit=1)[0]
            ],
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": associated,
                "nonce": nonce,
            },
        }
        body = json.dumps(envelope, ensure_ascii=False).encode()
        return Notice(self.signed_headers(body, **sign), body)

    def requests_to(self, operation: str) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if self._operation(r[0], urlsplit(r[1]).path) == operation]


def past(minutes: int) -> datetime:
    return datetime.now(CST) - timedelta(minutes=minutes)
