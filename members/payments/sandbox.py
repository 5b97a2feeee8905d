"""The built-in sandbox gateway. It behaves like a real Chinese payment gateway:

* a hosted checkout page (``/membership/sandbox/checkout/<id>/``: pay, decline or abandon);
* asynchronous notifications signed with HMAC-SHA256 over ``timestamp\\nnonce\\nbody\\n``
  (headers ``Sandbox-Signature``, ``Sandbox-Timestamp``, ``Sandbox-Nonce``), delivered by a
  Celery task after the gateway's transaction commits, and re-delivered until acknowledged;
  tests can hold them back, duplicate them and release them in any order (``pay(hold=True,
  duplicates=2)``, ``release(...)``);
* a query API and close/refund/refund-query calls and a daily bill, like WeChat Pay's; a refund
  number is refunded once however often it is sent, and a refund notice is sent when it succeeds;
* faults on demand for tests (``MEMBERS_SANDBOX_FAULTS = {"refund": "timeout"}``): ``5xx`` fails a
  call before the gateway acts, ``timeout`` acts and then loses the answer.

Its signing key comes from ``settings.MEMBERS_SANDBOX_KEY`` (environment), never the repository;
without one, a development key is derived from ``SECRET_KEY``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
import urllib.request
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.errors import DomainError

from ..models import SandboxEvent, SandboxOrder, SandboxRefund
from .base import (
    CHANNEL_DESKTOP,
    BillLine,
    Checkout,
    Notification,
    PaymentProvider,
    RefundRequest,
    RefundResult,
    Transaction,
)

CODE = "sandbox"
SIGNATURE_HEADER = "Sandbox-Signature"
TIMESTAMP_HEADER = "Sandbox-Timestamp"
NONCE_HEADER = "Sandbox-Nonce"
#: A notification signed longer ago than this (or this far in the future) is refused.
MAX_AGE_SECONDS = 300

EVENT_SUCCESS = "TRANSACTION.SUCCESS"
EVENT_PAYERROR = "TRANSACTION.PAYERROR"
EVENT_CLOSED = "TRANSACTION.CLOSED"
EVENT_REFUND_SUCCESS = "REFUND.SUCCESS"
#: The gateways cut their daily bills in China Standard Time.
BILL_TZ = ZoneInfo("Asia/Shanghai")

_STATE = {
    SandboxOrder.Status.NOTPAY: "pending",
    SandboxOrder.Status.SUCCESS: "paid",
    SandboxOrder.Status.PAYERROR: "failed",
    SandboxOrder.Status.CLOSED: "closed",
}


def signing_key() -> bytes:
    """``MEMBERS_SANDBOX_KEY`` from the settings or the environment; a development key otherwise."""
    configured = getattr(settings, "MEMBERS_SANDBOX_KEY", "") or os.environ.get("MEMBERS_SANDBOX_KEY", "")
    if configured:
        return configured.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"redcard-members-sandbox-gateway", hashlib.sha256).digest()


def sign(body: bytes, *, timestamp: int | None = None, nonce: str | None = None, key: bytes | None = None) -> dict:
    """The headers a sandbox notification carries."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_hex(16)
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    signature = hmac.new(key or signing_key(), message, hashlib.sha256).hexdigest()
    return {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: str(timestamp), NONCE_HEADER: nonce}


def app_id() -> str:
    return str(getattr(settings, "MEMBERS_SANDBOX_APP_ID", "") or "sandbox-app")


def merchant_id() -> str:
    return str(getattr(settings, "MEMBERS_SANDBOX_MCH_ID", "") or "sandbox-mch")


def _fault(operation: str) -> str:
    """The fault a test asked the sandbox to inject into ``operation`` ("" for none)."""
    return str((getattr(settings, "MEMBERS_SANDBOX_FAULTS", None) or {}).get(operation, ""))


def _unavailable_before(operation: str) -> None:
    if _fault(operation) == "5xx":
        raise DomainError("payment_gateway_unavailable")


def _unavailable_after(operation: str) -> None:
    if _fault(operation) == "timeout":
        raise DomainError("payment_gateway_unavailable")


def _transaction(order: SandboxOrder) -> Transaction:
    return Transaction(
        out_trade_no=order.out_trade_no,
        state=_STATE[SandboxOrder.Status(order.status)],
        amount_fen=order.amount_fen,
        currency=order.currency,
        transaction_id=order.transaction_id,
        paid_at=order.paid_at,
        app_id=app_id(),
        merchant_id=merchant_id(),
    )


def _refund_result(refund: SandboxRefund) -> RefundResult:
    return RefundResult(
        out_refund_no=refund.out_refund_no,
        state="succeeded",
        provider_refund_id=refund.refund_id,
        provider_state="SUCCESS",
        amount_fen=refund.amount_fen,
        settled_at=refund.created_at,
    )


def notification_body(event: SandboxEvent) -> bytes:
    order = event.order
    if event.refund is not None:
        refund = event.refund
        resource: dict[str, Any] = {
            "appid": app_id(),
            "mchid": merchant_id(),
            "out_trade_no": order.out_trade_no,
            "transaction_id": order.transaction_id,
            "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id,
            "refund_status": "SUCCESS",
            "success_time": refund.created_at.isoformat(),
            "amount": {"total": order.amount_fen, "refund": refund.amount_fen, "currency": order.currency},
        }
        return _envelope(event, resource)
    resource = {
        "appid": app_id(),
        "mchid": merchant_id(),
        "out_trade_no": order.out_trade_no,
        "transaction_id": order.transaction_id,
        "trade_state": order.status if event.event_type != EVENT_PAYERROR else SandboxOrder.Status.PAYERROR,
        "amount": {"total": order.amount_fen, "currency": order.currency},
        "success_time": order.paid_at.isoformat() if order.paid_at else None,
    }
    if event.event_type == EVENT_SUCCESS:
        resource["trade_state"] = SandboxOrder.Status.SUCCESS
    return _envelope(event, resource)


def _envelope(event: SandboxEvent, resource: dict[str, Any]) -> bytes:
    body = {
        "id": str(event.notify_id),
        "create_time": event.created_at.isoformat(),
        "event_type": event.event_type,
        "resource": resource,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


class SandboxProvider(PaymentProvider):
    code = CODE

    def __init__(self) -> None:
        self.app_id = app_id()
        self.merchant_id = merchant_id()

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
        _unavailable_before("checkout")
        order, _ = SandboxOrder.objects.get_or_create(
            out_trade_no=out_trade_no,
            defaults={
                "amount_fen": amount_fen,
                "currency": currency,
                "description": description[:200],
                "return_url": return_url,
                "payer_id": payer_id,
            },
        )
        _unavailable_after("checkout")
        return Checkout(url=reverse("members:sandbox_checkout", args=[order.public_id]))

    def charge_agreement(
        self, *, out_trade_no: str, amount_fen: int, currency: str, description: str, payer_id: int
    ) -> None:
        order, _ = SandboxOrder.objects.get_or_create(
            out_trade_no=out_trade_no,
            defaults={"amount_fen": amount_fen, "currency": currency, "description": description[:200]},
        )
        if getattr(settings, "MEMBERS_SANDBOX_AGREEMENT_DECLINES", False):
            decline(order)
        else:
            pay(order)

    def parse_notification(self, *, headers: Mapping[str, str], body: bytes) -> Notification:
        signature = headers.get(SIGNATURE_HEADER, "")
        timestamp = headers.get(TIMESTAMP_HEADER, "")
        nonce = headers.get(NONCE_HEADER, "")
        if not (signature and timestamp.isdigit() and nonce):
            raise DomainError("notification_signature_invalid")
        expected = sign(body, timestamp=int(timestamp), nonce=nonce)[SIGNATURE_HEADER]
        if not hmac.compare_digest(expected, signature):
            raise DomainError("notification_signature_invalid")
        if abs(time.time() - int(timestamp)) > MAX_AGE_SECONDS:
            raise DomainError("notification_stale")
        try:
            data = json.loads(body)
            resource = data["resource"]
            if "out_refund_no" in resource:
                return self._refund_notification(data, resource)
            paid_at = parse_datetime(resource["success_time"]) if resource.get("success_time") else None
            state = _STATE[SandboxOrder.Status(resource["trade_state"])]
            txn = Transaction(
                out_trade_no=str(resource["out_trade_no"]),
                state=state,
                amount_fen=int(resource["amount"]["total"]),
                currency=str(resource["amount"]["currency"]),
                transaction_id=resource.get("transaction_id"),
                paid_at=paid_at,
                app_id=resource.get("appid"),
                merchant_id=resource.get("mchid"),
            )
            return Notification(
                notify_id=str(data["id"]), event_type=str(data["event_type"]), transaction=txn, payload=data
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DomainError("notification_malformed") from exc

    def _refund_notification(self, data: dict[str, Any], resource: dict[str, Any]) -> Notification:
        status = str(resource["refund_status"])
        state = {"SUCCESS": "succeeded", "PROCESSING": "processing"}.get(status, "failed")
        settled = parse_datetime(resource["success_time"]) if resource.get("success_time") else None
        refund = RefundResult(
            out_refund_no=str(resource["out_refund_no"]),
            state=state,
            provider_refund_id=str(resource.get("refund_id") or ""),
            provider_state=status,
            amount_fen=int(resource["amount"]["refund"]),
            settled_at=settled,
        )
        txn = Transaction(
            out_trade_no=str(resource["out_trade_no"]),
            state="paid",
            amount_fen=int(resource["amount"]["total"]),
            currency=str(resource["amount"]["currency"]),
            transaction_id=resource.get("transaction_id"),
            app_id=resource.get("appid"),
            merchant_id=resource.get("mchid"),
        )
        return Notification(
            notify_id=str(data["id"]), event_type=str(data["event_type"]), transaction=txn, payload=data, refund=refund
        )

    def query(self, *, out_trade_no: str) -> Transaction:
        _unavailable_before("query")
        order = SandboxOrder.objects.filter(out_trade_no=out_trade_no).first()
        if order is None:
            raise DomainError("payment_unknown")
        return _transaction(order)

    def close(self, *, out_trade_no: str) -> Transaction:
        _unavailable_before("close")
        with transaction.atomic():
            order = SandboxOrder.objects.select_for_update().filter(out_trade_no=out_trade_no).first()
            if order is None:
                raise DomainError("payment_unknown")
            if order.status in (SandboxOrder.Status.NOTPAY, SandboxOrder.Status.PAYERROR):
                order.status = SandboxOrder.Status.CLOSED
                order.save(update_fields=["status"])
            return _transaction(order)

    def refund(self, *, request: RefundRequest) -> RefundResult:
        return self.refund_many(requests=[request])[0]

    def refund_many(self, *, requests: Sequence[RefundRequest]) -> list[RefundResult]:
        """A refund number already seen returns that refund (no second refund). New ones: one
        guarded UPDATE per distinct amount (a batch of a suspension is one or a few): only paid
        orders with enough left are refunded. If any is refused, the batch is done again one
        refund at a time and each refused one answers ``failed`` (as a gateway answers per refund)."""
        _unavailable_before("refund")
        numbers = [r.out_refund_no for r in requests]
        refused: dict[str, str] = {}
        with transaction.atomic():
            known = {r.out_refund_no: r for r in SandboxRefund.objects.filter(out_refund_no__any=numbers)}
            fresh = [r for r in requests if r.out_refund_no not in known]
            try:
                with transaction.atomic():
                    self._take(fresh)
            except DomainError:
                for request in fresh:
                    try:
                        with transaction.atomic():
                            self._take([request])
                    except DomainError as exc:
                        refused[request.out_refund_no] = exc.code
            accepted = [r for r in fresh if r.out_refund_no not in refused]
            if accepted:
                orders = dict(
                    SandboxOrder.objects.filter(out_trade_no__any=[r.out_trade_no for r in accepted]).values_list(
                        "out_trade_no", "pk"
                    )
                )
                made = SandboxRefund.objects.bulk_create(
                    [
                        SandboxRefund(
                            out_refund_no=r.out_refund_no,
                            order_id=orders[r.out_trade_no],
                            amount_fen=r.amount_fen,
                            refund_id="SBR" + hashlib.sha256(r.out_refund_no.encode()).hexdigest()[:24],
                        )
                        for r in accepted
                    ],
                    batch_size=1000,
                )
                known.update({r.out_refund_no: r for r in made})
                if getattr(settings, "MEMBERS_SANDBOX_REFUND_NOTICES", True):
                    _emit_refunds(made)
        _unavailable_after("refund")
        return [
            RefundResult(number, "failed", provider_state=refused[number])
            if number in refused
            else _refund_result(known[number])
            for number in numbers
        ]

    @staticmethod
    def _take(requests: Sequence[RefundRequest]) -> None:
        """Count the refunds against their orders, or refuse them all."""
        by_amount: dict[int, list[str]] = defaultdict(list)
        for request in requests:
            by_amount[request.amount_fen].append(request.out_trade_no)
        for amount, trade_nos in by_amount.items():
            updated = SandboxOrder.objects.filter(
                out_trade_no__any=trade_nos,
                status=SandboxOrder.Status.SUCCESS,
                refunded_fen__lte=F("amount_fen") - amount,
            ).update(refunded_fen=F("refunded_fen") + amount)
            if updated != len(set(trade_nos)):
                paid = SandboxOrder.objects.filter(out_trade_no__in=trade_nos, status=SandboxOrder.Status.SUCCESS)
                raise DomainError(
                    "refund_exceeds_paid" if paid.count() == len(set(trade_nos)) else "subscription_not_paid"
                )

    def refund_query(self, *, out_trade_no: str, out_refund_no: str) -> RefundResult:
        _unavailable_before("refund_query")
        refund = SandboxRefund.objects.filter(out_refund_no=out_refund_no, order__out_trade_no=out_trade_no).first()
        if refund is None:
            raise DomainError("refund_unknown")
        return _refund_result(refund)

    def trade_bill(self, *, day: date) -> list[BillLine]:
        start = datetime.combine(day, dt_time.min, tzinfo=BILL_TZ)
        end = start + timedelta(days=1)
        paid = SandboxOrder.objects.filter(paid_at__gte=start, paid_at__lt=end).order_by("pk")
        lines = [BillLine("payment", o.out_trade_no, o.amount_fen, o.currency) for o in paid]
        refunds = SandboxRefund.objects.filter(created_at__gte=start, created_at__lt=end).select_related("order")
        for refund in refunds.order_by("pk"):
            order = refund.order
            lines.append(
                BillLine("refund", order.out_trade_no, refund.amount_fen, order.currency, refund.out_refund_no)
            )
        return lines


# --- The payer's side (the hosted checkout page calls these) ------------------------------


def _emit(order: SandboxOrder, event_type: str, *, hold: bool, duplicates: int) -> list[SandboxEvent]:
    events = [SandboxEvent.objects.create(order=order, event_type=event_type, hold=hold) for _ in range(duplicates)]
    if not hold:
        from ..tasks import sandbox_deliver

        for event in events:
            transaction.on_commit(partial(sandbox_deliver.delay, event.pk))
    return events


def _emit_refunds(refunds: Sequence[SandboxRefund]) -> None:
    """A REFUND.SUCCESS notice per new refund (delivered after the gateway's transaction commits)."""
    hold = bool(getattr(settings, "MEMBERS_SANDBOX_HOLD_REFUND_NOTICES", False))
    events = SandboxEvent.objects.bulk_create(
        [SandboxEvent(order_id=r.order_id, refund=r, event_type=EVENT_REFUND_SUCCESS, hold=hold) for r in refunds]
    )
    if not hold:
        from ..tasks import sandbox_deliver

        for event in events:
            transaction.on_commit(partial(sandbox_deliver.delay, event.pk))


def pay(order: SandboxOrder, *, hold: bool = False, duplicates: int = 1) -> list[SandboxEvent]:
    """The payer pays. ``hold`` keeps the notifications back (released later by :func:`release`),
    ``duplicates`` sends the same event several times with distinct notify ids."""
    with transaction.atomic():
        order = SandboxOrder.objects.select_for_update().get(pk=order.pk)
        if order.status == SandboxOrder.Status.CLOSED:
            raise DomainError("sandbox_order_closed")
        if order.status == SandboxOrder.Status.SUCCESS:
            return []
        order.status = SandboxOrder.Status.SUCCESS
        order.transaction_id = "SB" + timezone.now().strftime("%Y%m%d") + secrets.token_hex(10)
        order.paid_at = timezone.now()
        order.save(update_fields=["status", "transaction_id", "paid_at"])
        return _emit(order, EVENT_SUCCESS, hold=hold, duplicates=duplicates)


def decline(order: SandboxOrder, *, hold: bool = False) -> list[SandboxEvent]:
    """The payer's bank declines. The order stays open (the payer may retry) and a
    PAYERROR notification is sent."""
    with transaction.atomic():
        order = SandboxOrder.objects.select_for_update().get(pk=order.pk)
        if order.status not in {SandboxOrder.Status.NOTPAY, SandboxOrder.Status.PAYERROR}:
            raise DomainError("sandbox_order_closed")
        order.status = SandboxOrder.Status.PAYERROR
        order.save(update_fields=["status"])
        return _emit(order, EVENT_PAYERROR, hold=hold, duplicates=1)


def release(events: Sequence[SandboxEvent]) -> list[str]:
    """Deliver held notifications now, in the order given (tests of late and reordered delivery)."""
    outcomes = []
    for event in events:
        SandboxEvent.objects.filter(pk=event.pk).update(hold=False)
        outcomes.append(deliver(event.pk))
    return outcomes


def deliver(event_id: int) -> str:
    """Send one notification to our notify endpoint (signed at delivery time, as gateways do on
    every retry). Returns ``"ok"`` or the refusal code; undelivered events are retried."""
    event = SandboxEvent.objects.select_related("order", "refund").get(pk=event_id)
    if event.delivered_at is not None or event.hold:
        return "skipped"
    body = notification_body(event)
    headers = sign(body)
    outcome = _send(headers, body)
    SandboxEvent.objects.filter(pk=event.pk).update(
        attempts=F("attempts") + 1,
        last_error="" if outcome == "ok" else outcome[:200],
        delivered_at=timezone.now() if outcome == "ok" else None,
    )
    return outcome


def _send(headers: dict[str, str], body: bytes) -> str:
    transport = getattr(settings, "MEMBERS_SANDBOX_TRANSPORT", "") or os.environ.get(
        "MEMBERS_SANDBOX_TRANSPORT", "direct"
    )
    if transport == "http":
        url = settings.SITE_URL + reverse("api-members-payment-notify", args=[CODE])
        request = urllib.request.Request(  # noqa: S310 - our own SITE_URL
            url, data=body, headers={**headers, "Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return "ok" if 200 <= response.status < 300 else f"http {response.status}"
        except OSError as exc:
            return f"error: {exc}"[:200]
    # "direct": the same service the endpoint calls, in-process (embedded default and tests).
    from ..services.checkout import payment_notification_receive

    try:
        payment_notification_receive(provider_code=CODE, headers=headers, body=body)
    except DomainError as exc:
        return exc.code
    return "ok"


def pending_redeliveries(*, older_than: datetime) -> list[int]:
    return list(
        SandboxEvent.objects.filter(delivered_at__isnull=True, hold=False, created_at__lt=older_than, attempts__lt=15)
        .order_by("id")
        .values_list("id", flat=True)[:500]
    )


def order_for_checkout(public_id: Any) -> SandboxOrder | None:
    return SandboxOrder.objects.filter(public_id=public_id).first()
