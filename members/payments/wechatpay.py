"""WeChat Pay (APIv3) through the maintained SDK ``wechatpayv3`` (direct merchant mode).

* Checkout by device (``channel``, :func:`~.base.channel_of`): JSAPI inside WeChat (the payer's openid is
  required: without one the member is asked to open the page in a browser), H5 in a mobile browser (the
  gateway's ``h5_url`` with our return page as ``redirect_url``), Native on a desktop (the ``code_url``
  shown as a QR code on our page, ``members:wechatpay_checkout``, whose URL carries it signed).
* Notifications: the SDK verifies ``Wechatpay-Signature`` over ``timestamp\\nnonce\\nbody\\n`` with the
  WeChat Pay public key (``Wechatpay-Serial`` = its id) or the platform certificate of that serial, and
  decrypts the resource (AEAD_AES_256_GCM with the APIv3 key); we refuse timestamps older than five
  minutes. Pay notices (``TRANSACTION.*``) and refund notices (``REFUND.*``) become
  :class:`~.base.Notification`; the services check amounts, app id, merchant id and currency.
* 委托代扣 (APIv3, ordinary merchant, a 预约扣费 template ``WECHATPAY_PAPAY_PLAN_ID``; decision 0019): the
  member signs a contract for the next renewal (pre-sign: H5 in a phone's browser, JSAPI inside WeChat,
  the JSAPI page as a QR code on a desktop); ``ENTRUST.SIGN``/``ENTRUST.TERMINATE`` notices (signed JSON,
  resource decrypted with the APIv3 key) activate and end it; the day before the deduction day the renewal
  is booked (预约扣费, Beijing time [08:00, 19:30) only), on the day it is applied (受理扣款) and its
  ``TRANSACTION.*`` notice settles the renewal as any payment; we terminate it (申请解约) when the member
  switches auto-renew off. A contract of this template covers one deduction: WeChat Pay ends it once paid.
* Order query and close, refunds (asynchronous at WeChat Pay: PROCESSING, then SUCCESS, CLOSED or
  ABNORMAL by notice or query), refund query, and the daily trade bill (``tradebill`` ->
  ``download_url`` -> the gzip'd CSV whose fields carry a leading backtick, SHA1-checked).

Our order number is the payment's UUID; WeChat Pay allows 32 characters, so it travels as the UUID's
32 hex digits and comes back in the canonical form. Keys and certificates come from the settings or the
environment (``WECHATPAY_*``, see the README), never from the repository. Gateway calls that cannot
tell the outcome (a timeout, a 5xx, an answer whose signature does not verify) raise
``payment_gateway_unavailable``; the services retry them with the same numbers.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import json
import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from core.errors import DomainError

from .base import (
    CHANNEL_DESKTOP,
    CHANNEL_MOBILE,
    CHANNEL_WECHAT,
    AgreementNotice,
    BillLine,
    Checkout,
    Notification,
    PaymentProvider,
    RefundRequest,
    RefundResult,
    Transaction,
)

CODE = "wechatpay"
DEFAULT_API_BASE = "https://api.mch.weixin.qq.com"
#: A notification signed longer ago than this (or this far ahead) is refused.
MAX_AGE_SECONDS = 300
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
#: Settings every deployment with WeChat Pay needs (from the settings module or the environment).
REQUIRED = (
    "WECHATPAY_MCHID",
    "WECHATPAY_APPID",
    "WECHATPAY_APIV3_KEY",
    "WECHATPAY_PRIVATE_KEY_PATH",
    "WECHATPAY_CERT_SERIAL_NO",
)
#: ... and one way of verifying WeChat Pay's signatures: its public key (and the key's id), or a
#: directory of platform certificates (downloaded and kept fresh by the SDK).
VERIFIER = "WECHATPAY_PUBLIC_KEY_PATH + WECHATPAY_PUBLIC_KEY_ID (or WECHATPAY_CERT_DIR)"
CHECKOUT_SALT = "members.wechatpay.checkout"
#: WeChat Pay's calendar (deduction days, the booking window) is Beijing time.
BEIJING = ZoneInfo("Asia/Shanghai")
#: 预约扣费 is accepted only within [08:00, 19:30) Beijing time, on the day before the deduction day.
SCHEDULE_OPENS, SCHEDULE_CLOSES = clock_time(8, 0), clock_time(19, 30)
#: How the contract ended (``contract_termination_mode``) when the member or WeChat Pay's staff ended it.
_CONTRACT_STATE = {"SIGNED": "active", "TERMINATED": "ended"}

_TRADE_STATE = {
    "SUCCESS": "paid",
    "REFUND": "paid",  # paid, then (partly) refunded
    "NOTPAY": "pending",
    "USERPAYING": "pending",
    "ACCEPT": "pending",  # an agreement debit accepted, not yet charged
    "PAYERROR": "failed",
    "CLOSED": "closed",
    "REVOKED": "closed",
}
_REFUND_STATE = {"SUCCESS": "succeeded", "PROCESSING": "processing", "CLOSED": "failed", "ABNORMAL": "failed"}

logger = logging.getLogger(__name__)


def setting(name: str, lookup: Callable[[str], str] | None = None) -> str:
    """A ``WECHATPAY_*`` value: ``lookup`` if given (the production settings pass the environment),
    else the Django setting, else the environment."""
    if lookup is not None:
        return str(lookup(name) or "")
    configured = getattr(settings, name, None)
    if configured not in (None, ""):
        return str(configured)
    return os.environ.get(name, "")


def missing_settings(lookup: Callable[[str], str] | None = None) -> list[str]:
    """What a deployment selecting WeChat Pay lacks, by name (empty: configured)."""

    def get(name: str) -> str:
        return setting(name, lookup)

    missing = [name for name in REQUIRED if not get(name)]
    for name in ("WECHATPAY_PRIVATE_KEY_PATH", "WECHATPAY_PUBLIC_KEY_PATH"):
        if get(name) and not Path(get(name)).is_file():
            missing.append(f"{name} (no file at {get(name)})")
    if get("WECHATPAY_APIV3_KEY") and len(get("WECHATPAY_APIV3_KEY").encode()) != 32:
        missing.append("WECHATPAY_APIV3_KEY (32 bytes)")
    if get("WECHATPAY_PAPAY_PLAN_ID") and not get("WECHATPAY_PAPAY_PLAN_ID").isdigit():
        missing.append("WECHATPAY_PAPAY_PLAN_ID (the 委托代扣 template's number)")
    has_public_key = bool(get("WECHATPAY_PUBLIC_KEY_PATH") and get("WECHATPAY_PUBLIC_KEY_ID"))
    if not has_public_key and not get("WECHATPAY_CERT_DIR"):
        missing.append(VERIFIER)
    return missing


def gateway_no(out_trade_no: str) -> str:
    """Our order number as WeChat Pay takes it (32 characters at most): a UUID's hex digits."""
    try:
        return uuid.UUID(out_trade_no).hex
    except ValueError:
        return out_trade_no


def our_no(value: str) -> str:
    """A gateway order number back in our form (the canonical UUID); others unchanged."""
    if len(value) == 32:
        try:
            return str(uuid.UUID(hex=value))
        except ValueError:
            return value
    return value


def fen(yuan: str) -> int:
    """A bill amount in yuan ("168.00") in fen."""
    return int((Decimal(yuan or "0") * 100).to_integral_value())


def _datetime(value: Any) -> datetime | None:
    return parse_datetime(str(value)) if value else None


_clients: dict[tuple[str, ...], Any] = {}
_clients_lock = threading.Lock()


def schedule_window_open(now: datetime) -> bool:
    """Whether 预约扣费 is accepted at ``now`` (Beijing time [08:00, 19:30))."""
    local = now.astimezone(BEIJING).time()
    return SCHEDULE_OPENS <= local < SCHEDULE_CLOSES


class WeChatPayProvider(PaymentProvider):
    code = CODE

    def __init__(self) -> None:
        if missing_settings():
            raise DomainError("payments_unavailable")
        self.app_id = setting("WECHATPAY_APPID")
        self.merchant_id = setting("WECHATPAY_MCHID")
        self.notify_url = setting("WECHATPAY_NOTIFY_URL") or settings.SITE_URL + reverse(
            "api-members-payment-notify", args=[CODE]
        )
        self.agreement_notify_url = setting("WECHATPAY_PAPAY_NOTIFY_URL") or settings.SITE_URL + reverse(
            "api-members-agreement-notify", args=[CODE]
        )
        # 委托代扣 needs a template (plan) granted to the merchant: without one, renewals are the reminders
        # and a one-tap renewal checkout.
        plan_id = setting("WECHATPAY_PAPAY_PLAN_ID")
        self.plan_id = int(plan_id) if plan_id.isdigit() else 0
        self.supports_agreements = self.signs_agreements = self.schedules_agreement_charges = bool(self.plan_id)
        self.api_base = (setting("WECHATPAY_API_BASE") or DEFAULT_API_BASE).rstrip("/")

    # --- the SDK client ------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The SDK's ``WeChatPay``, built on first use and shared per configuration (building it may fetch
        the platform certificates: never at import or inside a transaction)."""
        from wechatpayv3 import WeChatPay, WeChatPayType

        names = (
            "WECHATPAY_PRIVATE_KEY_PATH",
            "WECHATPAY_CERT_SERIAL_NO",
            "WECHATPAY_APIV3_KEY",
            "WECHATPAY_PUBLIC_KEY_PATH",
            "WECHATPAY_PUBLIC_KEY_ID",
            "WECHATPAY_CERT_DIR",
            "WECHATPAY_TIMEOUT",
        )
        key = (self.app_id, self.merchant_id, self.notify_url, self.api_base, *(setting(n) for n in names))
        with _clients_lock:
            client = _clients.get(key)
            if client is not None:
                return client
            public_key_path = setting("WECHATPAY_PUBLIC_KEY_PATH")
            use_public_key = bool(public_key_path and setting("WECHATPAY_PUBLIC_KEY_ID"))
            timeout = float(setting("WECHATPAY_TIMEOUT") or 10)
            try:
                client = WeChatPay(
                    wechatpay_type=WeChatPayType.NATIVE,
                    mchid=self.merchant_id,
                    private_key=Path(setting("WECHATPAY_PRIVATE_KEY_PATH")).read_text(),
                    cert_serial_no=setting("WECHATPAY_CERT_SERIAL_NO"),
                    appid=self.app_id,
                    apiv3_key=setting("WECHATPAY_APIV3_KEY"),
                    notify_url=self.notify_url,
                    cert_dir=setting("WECHATPAY_CERT_DIR") or None,
                    logger=logger,
                    timeout=(min(timeout, 5.0), timeout),
                    public_key=Path(public_key_path).read_text() if use_public_key else None,
                    public_key_id=setting("WECHATPAY_PUBLIC_KEY_ID") if use_public_key else None,
                )
            except requests.RequestException as exc:
                raise DomainError("payment_gateway_unavailable") from exc
            except Exception as exc:  # the SDK raises plain Exception (no certificate could be had)
                logger.warning("WeChat Pay client not built: %s", exc)
                raise DomainError("payment_gateway_unavailable") from exc
            # The SDK's host (an instance attribute; WECHATPAY_API_BASE points it at a test gateway).
            client._core._gate_way = self.api_base  # noqa: SLF001 (the SDK offers no setter)
            _clients[key] = client
            return client

    def _call(self, operation: str, method: Callable[..., tuple[int, Any]], **kwargs: Any) -> tuple[int, Any]:
        """One SDK call: its status and decoded answer. No answer, a 5xx, a throttle or an answer whose
        signature does not verify: ``payment_gateway_unavailable`` (the outcome is unknown)."""
        try:
            status, body = method(**kwargs)
        except requests.RequestException as exc:
            logger.warning("WeChat Pay %s: no answer (%s)", operation, type(exc).__name__)
            raise DomainError("payment_gateway_unavailable") from exc
        except Exception as exc:  # plain Exception from the SDK, e.g. 'failed to verify the signature'
            logger.warning("WeChat Pay %s: %s", operation, exc)
            raise DomainError("payment_gateway_unavailable") from exc
        if status >= 500 or status == 429:
            logger.warning("WeChat Pay %s: HTTP %s", operation, status)
            raise DomainError("payment_gateway_unavailable")
        if isinstance(body, str) and body:
            try:
                return status, json.loads(body)
            except ValueError:
                return status, {"raw": body}
        return status, body if isinstance(body, bytes) and status < 300 else {}

    @staticmethod
    def _refusal(operation: str, status: int, answer: Any) -> str:
        code = str(answer.get("code", "")) if isinstance(answer, dict) else ""
        logger.warning("WeChat Pay %s refused: HTTP %s %s %s", operation, status, code, answer)
        return code

    # --- checkout ------------------------------------------------------------------------

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
        from wechatpayv3 import WeChatPayType

        order: dict[str, Any] = {
            "description": description[:127],
            "out_trade_no": gateway_no(out_trade_no),
            "amount": {"total": amount_fen, "currency": currency},
            "attach": str(payer_id),
        }
        if channel == CHANNEL_WECHAT:
            if not openid:
                raise DomainError("wechatpay_openid_required")
            pay_type = WeChatPayType.JSAPI
            order["payer"] = {"openid": openid}
        elif channel == CHANNEL_MOBILE:
            pay_type = WeChatPayType.H5
            order["scene_info"] = {"payer_client_ip": client_ip or "127.0.0.1", "h5_info": {"type": "Wap"}}
        else:
            pay_type = WeChatPayType.NATIVE
        status, answer = self._call("pay", self.client.pay, pay_type=pay_type, **order)
        if status >= 300 or not isinstance(answer, dict):
            code = self._refusal("pay", status, answer)
            raise DomainError("payment_gateway_refused", reason=code or status)
        if pay_type == WeChatPayType.H5:
            back = settings.SITE_URL + return_url
            return Checkout(url=f"{answer['h5_url']}&redirect_url={quote(back, safe='')}")
        # Our page shows the QR code (Native) or starts the payment in WeChat (JSAPI); its URL carries
        # what it needs, signed (the gateway's answer is not kept elsewhere).
        shown = (
            {"prepay_id": answer["prepay_id"]} if pay_type == WeChatPayType.JSAPI else {"code_url": answer["code_url"]}
        )
        token = signing.dumps({**shown, "order": out_trade_no, "back": return_url}, salt=CHECKOUT_SALT, compress=True)
        return Checkout(url=f"{reverse('members:wechatpay_checkout', args=[out_trade_no])}?t={token}")

    def jsapi_parameters(self, prepay_id: str) -> dict[str, str]:
        """What ``WeixinJSBridge.invoke('getBrandWCPayRequest', ...)`` takes, signed with our key."""
        timestamp, nonce, package = str(int(time.time())), secrets.token_hex(16), f"prepay_id={prepay_id}"
        pay_sign = self.client.sign([self.app_id, timestamp, nonce, package])
        return {
            "appId": self.app_id,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": pay_sign,
        }

    # --- 委托代扣 (the recurring contract) ----------------------------------------------------

    def _papay(self, operation: str, method: str, path: str, data: dict[str, Any] | None = None) -> tuple[int, Any]:
        """A 委托代扣 call through the SDK's own signed request (its answer's signature verified by the SDK)."""
        from wechatpayv3.type import RequestType

        core = self.client._core  # noqa: SLF001 (the SDK's generic signed request; it has no papay methods)
        return self._call(operation, functools.partial(core.request, path, method=RequestType[method], data=data))

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
        """Pre-sign a 预约扣费 contract for the renewal on ``first_charge_on`` (Beijing date) of
        ``amount_fen``: H5 in a phone's browser, JSAPI inside WeChat (with the payer's openid when known); on a
        desktop the JSAPI page is shown as a QR code to scan with WeChat. The signature arrives as an
        ``ENTRUST.SIGN`` notice at the agreement notify URL."""
        if not self.plan_id:
            raise DomainError("payment_agreement_missing")
        body: dict[str, Any] = {
            "appid": self.app_id,
            "plan_id": self.plan_id,
            "out_contract_code": gateway_no(external_agreement_no),
            "contract_display_account": description[:32],
            "contract_notify_url": self.agreement_notify_url,
            "deduct_schedule": {
                "estimated_deduct_date": first_charge_on.isoformat(),
                "estimated_deduct_amount": {"total": amount_fen, "currency": "CNY"},
                "description": description[:127],
            },
        }
        scene = "h5" if channel == CHANNEL_MOBILE else "jsapi"
        if scene == "jsapi" and openid:
            body["openid"] = openid
        path = f"/v3/papay/scheduled-deduct-sign/contracts/pre-entrust-sign/{scene}"
        status, answer = self._papay("papay_sign", "POST", path, body)
        if status >= 300 or not isinstance(answer, dict) or not answer.get("redirect_url"):
            code = self._refusal("papay_sign", status, answer)
            raise DomainError("payment_gateway_refused", reason=code or status)
        if channel != CHANNEL_DESKTOP:
            return Checkout(url=str(answer["redirect_url"]))
        shown = {"code_url": str(answer["redirect_url"]), "purpose": "sign"}
        token = signing.dumps(
            {**shown, "order": external_agreement_no, "back": return_url}, salt=CHECKOUT_SALT, compress=True
        )
        return Checkout(url=f"{reverse('members:wechatpay_checkout', args=[external_agreement_no])}?t={token}")

    def _contract_path(self, external_agreement_no: str) -> str:
        return f"/v3/papay/sign/contracts/plan-id/{self.plan_id}/out-contract-code/{gateway_no(external_agreement_no)}"

    def agreement_query(self, *, external_agreement_no: str, agreement_no: str = "") -> AgreementNotice | None:
        """The contract at WeChat Pay (通过商户协议号查询): ``None`` while it is not signed (not found)."""
        status, answer = self._papay("papay_contract", "GET", self._contract_path(external_agreement_no))
        if status == 404:
            return None
        if status >= 300 or not isinstance(answer, dict):
            code = self._refusal("papay_contract", status, answer)
            raise DomainError("payment_gateway_refused", reason=code or status)
        try:
            return self._contract_notice(answer, event_type="QUERY")
        except (KeyError, ValueError, TypeError) as exc:
            raise DomainError("payment_gateway_unavailable") from exc

    def agreement_unsign(self, *, external_agreement_no: str, agreement_no: str) -> None:
        """申请解约 by our contract number. A contract already ended (or never signed) is not an error."""
        status, answer = self._papay(
            "papay_terminate",
            "POST",
            f"{self._contract_path(external_agreement_no)}/terminate",
            {"contract_termination_remark": "member switched auto-renew off"},
        )
        if status == 404 or status < 300:
            return
        code = self._refusal("papay_terminate", status, answer)
        if code in ("CONTRACT_NOT_EXIST", "CONTRACT_TERMINATED", "RESOURCE_NOT_EXISTS"):
            return
        raise DomainError("payment_gateway_refused", reason=code or status)

    def agreement_schedule(self, *, agreement_no: str, amount_fen: int, currency: str, now: datetime) -> date:
        """预约扣费: book the deduction of ``amount_fen`` under the contract; WeChat Pay tells the member and
        returns the deduction day. Only the day before the contract's deduction day, within Beijing
        [08:00, 19:30): outside that window ``payment_gateway_refused`` (the job books it later)."""
        if not schedule_window_open(now):
            raise DomainError("payment_gateway_refused", reason="SCHEDULE_WINDOW_CLOSED")
        status, answer = self._papay(
            "papay_schedule",
            "POST",
            f"/v3/papay/pay/schedules/contract-id/{agreement_no}/schedule",
            {"appid": self.app_id, "schedule_amount": {"total": amount_fen, "currency": currency}},
        )
        if status >= 300 or not isinstance(answer, dict):
            code = self._refusal("papay_schedule", status, answer)
            if code in ("CONTRACT_NOT_EXIST", "CONTRACT_TERMINATED"):
                raise DomainError("payment_agreement_missing")
            raise DomainError("payment_gateway_refused", reason=code or status)
        if answer.get("schedule_state") not in ("SCHEDULED", "PAID"):
            raise DomainError("payment_gateway_refused", reason=str(answer.get("schedule_state")))
        return date.fromisoformat(str(answer["deduct_start_date"]))

    def charge_agreement(
        self, *, out_trade_no: str, amount_fen: int, currency: str, description: str, payer_id: int
    ) -> None:
        """受理扣款 under the payer's active contract (booked the day before): WeChat Pay accepts it and
        deducts asynchronously; the outcome is a ``TRANSACTION.*`` notice (or the order query). Idempotent
        by the order number. A payer without an active contract: ``payment_agreement_missing``."""
        from ..models import PaymentAgreement

        agreement = PaymentAgreement.objects.filter(
            user_id=payer_id, provider=CODE, state=PaymentAgreement.State.ACTIVE
        ).first()
        if agreement is None or not agreement.agreement_no or currency != "CNY":
            raise DomainError("payment_agreement_missing")
        status, answer = self._papay(
            "papay_apply",
            "POST",
            "/v3/papay/pay/transactions/apply",
            {
                "appid": self.app_id,
                "out_trade_no": gateway_no(out_trade_no),
                "description": description[:127],
                "transaction_notify_url": self.notify_url,
                "contract_id": agreement.agreement_no,
                "amount": {"total": amount_fen, "currency": currency},
                "attach": str(payer_id),
            },
        )
        if status >= 300 or not isinstance(answer, dict):
            code = self._refusal("papay_apply", status, answer)
            if code in ("CONTRACT_NOT_EXIST", "CONTRACT_TERMINATED", "CONTRACT_ERROR"):
                raise DomainError("payment_agreement_missing")
            raise DomainError("payment_gateway_refused", reason=code or status)

    def parse_agreement_notification(self, *, headers: Mapping[str, str], body: bytes) -> AgreementNotice:
        """``ENTRUST.SIGN`` / ``ENTRUST.TERMINATE``: verified and decrypted as payment notices are. A contract
        that ended because its one deduction was paid (``schedule_state`` PAID) is ``fulfilled``, not ended
        by the member: the card's auto-renew stays on and the member signs the next year's contract."""
        data = self._verified(headers, body)
        try:
            event_type = str(data["event_type"])
            if event_type not in ("ENTRUST.SIGN", "ENTRUST.TERMINATE"):
                raise ValueError(f"event_type {event_type!r}")
            return self._contract_notice(data["resource"], event_type=event_type, payload=data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DomainError("notification_malformed") from exc

    def _contract_notice(
        self, contract: Mapping[str, Any], *, event_type: str, payload: Mapping[str, Any] | None = None
    ) -> AgreementNotice:
        state = _CONTRACT_STATE[str(contract["contract_state"])]
        terminated = contract.get("contract_terminate_info") or {}
        schedule = contract.get("deduct_schedule") or {}
        if state == "ended" and schedule.get("schedule_state") == "PAID":
            state = "fulfilled"
        at = contract.get("contract_signed_time") if state == "active" else terminated.get("contract_terminated_time")
        return AgreementNotice(
            external_agreement_no=our_no(str(contract["out_contract_code"])),
            agreement_no=str(contract["contract_id"]),
            state=state,
            at=_datetime(at),
            app_id=str(contract.get("appid", "")),
            payload={**(payload or {}), "event_type": event_type, "contract": dict(contract)},
            merchant_id=str(contract.get("mchid", "")),
        )

    # --- notifications -------------------------------------------------------------------

    def _verified(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """The notice's envelope with its resource decrypted, once ``Wechatpay-Signature`` verifies and the
        timestamp is fresh (else ``notification_signature_invalid`` / ``notification_stale``)."""
        lower = {str(k).lower(): str(v) for k, v in headers.items()}
        timestamp = lower.get("wechatpay-timestamp", "")
        canonical = {
            "Wechatpay-Signature": lower.get("wechatpay-signature", ""),
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": lower.get("wechatpay-nonce", ""),
            "Wechatpay-Serial": lower.get("wechatpay-serial", ""),
            "Wechatpay-Signature-Type": lower.get("wechatpay-signature-type", SIGNATURE_TYPE),
        }
        if not all(canonical.values()) or not timestamp.isdigit():
            raise DomainError("notification_signature_invalid")
        try:
            data = self.client.callback(canonical, body)
        except requests.RequestException as exc:  # fetching the platform certificate of an unknown serial
            raise DomainError("payment_gateway_unavailable") from exc
        except Exception as exc:  # unsupported algorithm, a serial that is not hex, a body that is not JSON
            raise DomainError("notification_signature_invalid") from exc
        if not data:  # the signature did not verify or the resource did not decrypt
            raise DomainError("notification_signature_invalid")
        if abs(time.time() - int(timestamp)) > MAX_AGE_SECONDS:
            raise DomainError("notification_stale")
        return dict(data)

    def parse_notification(self, *, headers: Mapping[str, str], body: bytes) -> Notification:
        data = self._verified(headers, body)
        try:
            resource = data["resource"]
            event_type = str(data["event_type"])
            if event_type.startswith("REFUND."):
                refund = self._refund_result(resource)
                txn = Transaction(
                    out_trade_no=our_no(str(resource["out_trade_no"])),
                    state="paid",
                    amount_fen=int(resource["amount"]["total"]),
                    currency=str(resource["amount"].get("currency", "CNY")),
                    transaction_id=resource.get("transaction_id"),
                    # A refund notice names the merchant only: the application is the order's.
                    app_id=self.app_id,
                    merchant_id=resource.get("mchid"),
                )
                return Notification(
                    notify_id=str(data["id"]), event_type=event_type, transaction=txn, payload=data, refund=refund
                )
            txn = self._transaction(resource)
            return Notification(notify_id=str(data["id"]), event_type=event_type, transaction=txn, payload=data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DomainError("notification_malformed") from exc

    @staticmethod
    def _transaction(order: Mapping[str, Any]) -> Transaction:
        amount = order.get("amount") or {}
        return Transaction(
            out_trade_no=our_no(str(order["out_trade_no"])),
            state=_TRADE_STATE[str(order["trade_state"])],
            amount_fen=int(amount.get("total", 0)),
            currency=str(amount.get("currency", "CNY")),
            transaction_id=order.get("transaction_id") or None,
            paid_at=_datetime(order.get("success_time")),
            app_id=order.get("appid"),
            merchant_id=order.get("mchid"),
        )

    @staticmethod
    def _refund_result(refund: Mapping[str, Any]) -> RefundResult:
        status = str(refund.get("refund_status") or refund.get("status"))
        return RefundResult(
            out_refund_no=str(refund["out_refund_no"]),
            state=_REFUND_STATE.get(status, "processing"),
            provider_refund_id=str(refund.get("refund_id") or ""),
            provider_state=status,
            amount_fen=int(refund["amount"]["refund"]),
            settled_at=_datetime(refund.get("success_time")),
        )

    # --- orders --------------------------------------------------------------------------

    def query(self, *, out_trade_no: str) -> Transaction:
        status, answer = self._call("query", self.client.query, out_trade_no=gateway_no(out_trade_no))
        if status == 404:
            raise DomainError("payment_unknown")
        if status >= 300 or not isinstance(answer, dict):
            raise DomainError("payment_gateway_refused", reason=self._refusal("query", status, answer) or status)
        return self._transaction(answer)

    def close(self, *, out_trade_no: str) -> Transaction:
        """Close the order (204), then read its final state; a paid order is not closed (ORDERPAID) and
        answers ``paid``."""
        status, answer = self._call("close", self.client.close, out_trade_no=gateway_no(out_trade_no))
        if status == 404:
            raise DomainError("payment_unknown")
        if status >= 300 and self._refusal("close", status, answer) not in ("ORDERPAID", "ORDER_CLOSED"):
            raise DomainError("payment_gateway_refused", reason=status)
        return self.query(out_trade_no=out_trade_no)

    # --- refunds -------------------------------------------------------------------------

    def refund(self, *, request: RefundRequest) -> RefundResult:
        """Refund under our fixed number (WeChat Pay answers a repeated number with the refund already
        made). A refund the gateway refuses for good: ``refund_exceeds_paid`` (invalid or more than is
        left) or ``subscription_not_paid`` (no such paid order)."""
        total = request.total_fen
        if total is None:
            total = self.query(out_trade_no=request.out_trade_no).amount_fen
        status, answer = self._call(
            "refund",
            self.client.refund,
            out_refund_no=request.out_refund_no,
            out_trade_no=gateway_no(request.out_trade_no),
            amount={"refund": request.amount_fen, "total": total, "currency": request.currency},
            notify_url=self.notify_url,
        )
        if status >= 300 or not isinstance(answer, dict):
            code = self._refusal("refund", status, answer)
            if status == 404:
                raise DomainError("subscription_not_paid")
            if code in ("INVALID_REQUEST", "PARAM_ERROR"):
                raise DomainError("refund_exceeds_paid")
            # NOT_ENOUGH (balance), FREQUENCY_LIMITED, ...: the entry stays requested and is sent again
            raise DomainError("payment_gateway_refused", reason=code or status)
        return self._refund_result(answer)

    def refund_query(self, *, out_trade_no: str, out_refund_no: str) -> RefundResult:
        status, answer = self._call("refund_query", self.client.query_refund, out_refund_no=out_refund_no)
        if status == 404:
            raise DomainError("refund_unknown")
        if status >= 300 or not isinstance(answer, dict):
            code = self._refusal("refund_query", status, answer)
            raise DomainError("payment_gateway_refused", reason=code or status)
        if our_no(str(answer.get("out_trade_no", ""))) != out_trade_no:
            raise DomainError("refund_unknown")
        return self._refund_result(answer)

    # --- the daily bill ------------------------------------------------------------------

    def trade_bill(self, *, day: date) -> list[BillLine]:
        """The trade bill (ALL) of ``day``: successful payments and successful refunds. A day without
        trades has no bill (``NO_STATEMENT_EXIST``): no lines."""
        status, answer = self._call("tradebill", self.client.trade_bill, bill_date=day.isoformat(), tar_type="GZIP")
        if status >= 300 or not isinstance(answer, dict):
            code = self._refusal("tradebill", status, answer)
            if code == "NO_STATEMENT_EXIST":
                return []
            raise DomainError("payment_gateway_refused", reason=code or status)
        parts = urlsplit(str(answer["download_url"]))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        status, content = self._call("billdownload", self.client.download_bill, url=path)
        if status >= 300 or not isinstance(content, bytes):
            raise DomainError(
                "payment_gateway_refused", reason=self._refusal("billdownload", status, content) or status
            )
        raw = gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content
        if hashlib.sha1(raw).hexdigest() != str(answer.get("hash_value", "")).lower():  # noqa: S324 (the gateway's)
            logger.warning("WeChat Pay bill of %s: SHA1 differs from the announced one", day)
            raise DomainError("payment_gateway_unavailable")
        return parse_trade_bill(raw.decode("utf-8-sig"))


def parse_trade_bill(text: str) -> list[BillLine]:
    """The detail rows of a trade bill: a header row, then rows whose every field starts with a
    backtick (so spreadsheets keep long numbers), then the summary header (总交易单数, ...) and row.
    Payments are rows of 交易状态 SUCCESS (amount: 订单金额), refunds rows of 交易状态 REFUND whose
    退款状态 is SUCCESS (amount: 申请退款金额, else 退款金额)."""
    rows = csv.reader(io.StringIO(text))
    header = [name.strip() for name in next(rows, [])]
    column = {name: index for index, name in enumerate(header)}
    lines: list[BillLine] = []
    for row in rows:
        if not row or row[0].strip().startswith("总"):
            break
        cells = [cell.strip().lstrip("`") for cell in row]

        def cell(name: str, cells: list[str] = cells) -> str:
            index = column.get(name)
            return cells[index] if index is not None and index < len(cells) else ""

        trade_no, currency, state = our_no(cell("商户订单号")), cell("货币种类") or "CNY", cell("交易状态")
        if state == "SUCCESS":
            lines.append(BillLine("payment", trade_no, fen(cell("订单金额") or cell("应结订单金额")), currency))
        elif state == "REFUND" and cell("退款状态") == "SUCCESS":
            amount = fen(cell("申请退款金额") or cell("退款金额"))
            lines.append(BillLine("refund", trade_no, amount, currency, cell("商户退款单号")))
    return lines


def checkout_page(token: str, *, order: str) -> dict[str, str] | None:
    """What our checkout page of ``order`` shows, from its URL's signed token: ``code_url`` (Native: a
    QR code) or ``prepay_id`` (JSAPI), and ``back`` (our return page). ``None`` for a token we did not
    sign or that belongs to another order."""
    try:
        data = signing.loads(token, salt=CHECKOUT_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("order") != order:
        return None
    return data
