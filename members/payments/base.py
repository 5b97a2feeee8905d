"""The payment provider interface. Adapters for real gateways (WeChat Pay v3, Alipay) and the
built-in sandbox implement it; services never talk to a gateway in any other way.

A provider knows payments only by our order number (``out_trade_no`` = ``Payment.public_id``)
and refunds by our refund number (``out_refund_no`` = ``Refund.public_id``), so that every
call can be retried safely: gateways treat a repeated number as the same request.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Checkout:
    """Where to send the payer."""

    url: str


@dataclass(frozen=True)
class Transaction:
    """The provider's view of one order. ``state``: ``pending``, ``paid``, ``failed`` (a payment
    attempt was declined; the order stays open) or ``closed`` (can no longer be paid)."""

    out_trade_no: str
    state: str
    amount_fen: int
    currency: str
    transaction_id: str | None = None
    paid_at: datetime | None = None


@dataclass(frozen=True)
class Notification:
    """A verified asynchronous notification."""

    notify_id: str
    event_type: str
    transaction: Transaction
    payload: Mapping[str, object]


@dataclass(frozen=True)
class RefundRequest:
    out_trade_no: str
    out_refund_no: str
    amount_fen: int
    currency: str


class PaymentProvider(abc.ABC):
    code: str = ""

    @abc.abstractmethod
    def create_checkout(
        self, *, out_trade_no: str, amount_fen: int, currency: str, description: str, return_url: str, payer_id: int
    ) -> Checkout:
        """Open an order and return the hosted checkout page for the payer."""

    @abc.abstractmethod
    def charge_agreement(
        self, *, out_trade_no: str, amount_fen: int, currency: str, description: str, payer_id: int
    ) -> None:
        """Debit the payer under their auto-renew agreement (委托代扣); the outcome arrives as a notification."""

    @abc.abstractmethod
    def parse_notification(self, *, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify the signature and freshness, then decode. Raises ``DomainError``
        (``notification_signature_invalid``, ``notification_stale``, ``notification_malformed``)."""

    @abc.abstractmethod
    def query(self, *, out_trade_no: str) -> Transaction:
        """The order's current state at the provider (the reconciliation job's view)."""

    @abc.abstractmethod
    def close(self, *, out_trade_no: str) -> Transaction:
        """Close an unpaid order so it can no longer be paid; returns the final state
        (``paid`` if the payer got there first)."""

    @abc.abstractmethod
    def refund(self, *, request: RefundRequest) -> str:
        """Return money against a paid order; returns the provider's refund id. Idempotent by ``out_refund_no``."""

    def refund_many(self, *, requests: Sequence[RefundRequest]) -> list[str]:
        """Several refunds (the programme suspension's batches). Adapters may batch; default: one by one."""
        return [self.refund(request=request) for request in requests]
