"""The built-in sandbox gateway. It behaves like a real Chinese payment gateway:

* a hosted checkout page (``/membership/sandbox/checkout/<id>/``: pay, decline or abandon);
* asynchronous notifications signed with HMAC-SHA256 over ``timestamp\\nnonce\\nbody\\n``
  (headers ``Sandbox-Signature``, ``Sandbox-Timestamp``, ``Sandbox-Nonce``), delivered by a
  Celery task after the gateway's transaction commits, and re-delivered until acknowledged;
  tests can hold them back, duplicate them and release them in any order (``pay(hold=True,
  duplicates=2)``, ``release(...)``);
* a query API and close/refund calls, like WeChat Pay's order query/close/refund.

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
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.errors import DomainError

from ..models import SandboxEvent, SandboxOrder
from .base import Checkout, Notification, PaymentProvider, RefundRequest, Transaction

CODE = "sandbox"
SIGNATURE_HEADER = "Sandbox-Signature"
TIMESTAMP_HEADER = "Sandbox-Timestamp"
NONCE_HEADER = "Sandbox-Nonce"
#: A notification signed longer ago than this (or this far in the future) is refused.
MAX_AGE_SECONDS = 300

EVENT_SUCCESS = "TRANSACTION.SUCCESS"
EVENT_PAYERROR = "TRANSACTION.PAYERROR"
EVENT_CLOSED = "TRANSACTION.CLOSED"

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


def _transaction(order: SandboxOrder) -> Transaction:
    return Transaction(
        out_trade_no=order.out_trade_no,
        state=_STATE[SandboxOrder.Status(order.status)],
        amount_fen=order.amount_fen,
        currency=order.currency,
        transaction_id=order.transaction_id,
        paid_at=order.paid_at,
    )


def notification_body(event: SandboxEvent) -> bytes:
    order = event.order
    resource = {
        "out_trade_no": order.out_trade_no,
        "transaction_id": order.transaction_id,
        "trade_state": order.status if event.event_type != EVENT_PAYERROR else SandboxOrder.Status.PAYERROR,
        "amount": {"total": order.amount_fen, "currency": order.currency},
        "success_time": order.paid_at.isoformat() if order.paid_at else None,
    }
    if event.event_type == EVENT_SUCCESS:
        resource["trade_state"] = SandboxOrder.Status.SUCCESS
    body = {
        "id": str(event.notify_id),
        "create_time": event.created_at.isoformat(),
        "event_type": event.event_type,
        "resource": resource,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


class SandboxProvider(PaymentProvider):
    code = CODE

    def create_checkout(
        self, *, out_trade_no: str, amount_fen: int, currency: str, description: str, return_url: str, payer_id: int
    ) -> Checkout:
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
            paid_at = parse_datetime(resource["success_time"]) if resource.get("success_time") else None
            state = _STATE[SandboxOrder.Status(resource["trade_state"])]
            txn = Transaction(
                out_trade_no=str(resource["out_trade_no"]),
                state=state,
                amount_fen=int(resource["amount"]["total"]),
                currency=str(resource["amount"]["currency"]),
                transaction_id=resource.get("transaction_id"),
                paid_at=paid_at,
            )
            return Notification(
                notify_id=str(data["id"]), event_type=str(data["event_type"]), transaction=txn, payload=data
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DomainError("notification_malformed") from exc

    def query(self, *, out_trade_no: str) -> Transaction:
        order = SandboxOrder.objects.filter(out_trade_no=out_trade_no).first()
        if order is None:
            raise DomainError("payment_unknown")
        return _transaction(order)

    def close(self, *, out_trade_no: str) -> Transaction:
        with transaction.atomic():
            order = SandboxOrder.objects.select_for_update().filter(out_trade_no=out_trade_no).first()
            if order is None:
                raise DomainError("payment_unknown")
            if order.status in (SandboxOrder.Status.NOTPAY, SandboxOrder.Status.PAYERROR):
                order.status = SandboxOrder.Status.CLOSED
                order.save(update_fields=["status"])
            return _transaction(order)

    def refund(self, *, request: RefundRequest) -> str:
        return self.refund_many(requests=[request])[0]

    def refund_many(self, *, requests: Sequence[RefundRequest]) -> list[str]:
        """One guarded UPDATE per distinct amount (a batch of a suspension is one or a few):
        only paid orders with enough left are refunded, else the whole call is refused."""
        by_amount: dict[int, list[str]] = defaultdict(list)
        for request in requests:
            by_amount[request.amount_fen].append(request.out_trade_no)
        with transaction.atomic():
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
        return ["SBR" + hashlib.sha256(r.out_refund_no.encode()).hexdigest()[:24] for r in requests]


# --- The payer's side (the hosted checkout page calls these) ------------------------------


def _emit(order: SandboxOrder, event_type: str, *, hold: bool, duplicates: int) -> list[SandboxEvent]:
    events = [SandboxEvent.objects.create(order=order, event_type=event_type, hold=hold) for _ in range(duplicates)]
    if not hold:
        from ..tasks import sandbox_deliver

        for event in events:
            transaction.on_commit(partial(sandbox_deliver.delay, event.pk))
    return events


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
        if order.status != SandboxOrder.Status.NOTPAY and order.status != SandboxOrder.Status.PAYERROR:
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
    event = SandboxEvent.objects.select_related("order").get(pk=event_id)
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
