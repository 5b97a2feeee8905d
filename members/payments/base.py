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
from datetime import date, datetime

from core.errors import DomainError

#: Where the payer is (``create_checkout``'s ``channel``): a desktop browser, a phone's browser, or
#: WeChat's in-app browser. Each adapter picks its checkout product from it (Alipay: PC page pay on a
#: desktop, mobile web pay on a phone).
CHANNEL_DESKTOP = "desktop"
CHANNEL_MOBILE = "mobile"
CHANNEL_WECHAT = "wechat"
_MOBILE_AGENTS = ("Mobile", "Android", "iPhone", "iPad", "HarmonyOS")


def channel_of(user_agent: str) -> str:
    """The payer's channel from the request's ``User-Agent``."""
    if "MicroMessenger" in user_agent:
        return CHANNEL_WECHAT
    if any(word in user_agent for word in _MOBILE_AGENTS):
        return CHANNEL_MOBILE
    return CHANNEL_DESKTOP


@dataclass(frozen=True)
class Payer:
    """Where the payer is (``channel``) and what a gateway needs of their device (WeChat Pay: the
    address for H5, the openid for JSAPI)."""

    channel: str = CHANNEL_DESKTOP
    client_ip: str = ""
    openid: str = ""


@dataclass(frozen=True)
class Checkout:
    """Where to send the payer."""

    url: str


@dataclass(frozen=True)
class Transaction:
    """The provider's view of one order. ``state``: ``pending``, ``paid``, ``failed`` (a payment
    attempt was declined; the order stays open) or ``closed`` (can no longer be paid).
    ``app_id``/``merchant_id``: the application and merchant account the gateway says the money
    went to (checked against our configuration before anything is activated)."""

    out_trade_no: str
    state: str
    amount_fen: int
    currency: str
    transaction_id: str | None = None
    paid_at: datetime | None = None
    app_id: str | None = None
    merchant_id: str | None = None


@dataclass(frozen=True)
class RefundResult:
    """The provider's view of one refund. ``state``: ``processing`` (accepted, not settled),
    ``succeeded`` or ``failed`` (final: closed or abnormal at the gateway)."""

    out_refund_no: str
    state: str
    provider_refund_id: str = ""
    provider_state: str = ""
    amount_fen: int | None = None
    settled_at: datetime | None = None


@dataclass(frozen=True)
class BillLine:
    """One line of the gateway's daily bill: a payment or a refund."""

    kind: str  # "payment" | "refund"
    out_trade_no: str
    amount_fen: int
    currency: str
    out_refund_no: str = ""


@dataclass(frozen=True)
class Notification:
    """A verified asynchronous notification: about an order (``transaction``) or a refund
    (``refund``, with the order number in ``transaction.out_trade_no``)."""

    notify_id: str
    event_type: str
    transaction: Transaction
    payload: Mapping[str, object]
    refund: RefundResult | None = None


@dataclass(frozen=True)
class AgreementNotice:
    """A verified notice (or a query's answer) about a recurring agreement (Alipay 周期扣款, WeChat Pay
    委托代扣): the member signed it (``state`` ``active``), it ended at the gateway (``ended``: the member,
    the gateway's staff or we ended it), or it ended because the one deduction it allowed was paid
    (``fulfilled``: WeChat Pay's 预约扣费 contracts). ``merchant_id``: the account the gateway names, if any."""

    external_agreement_no: str
    agreement_no: str
    state: str
    at: datetime | None
    app_id: str
    payload: Mapping[str, object]
    merchant_id: str = ""


@dataclass(frozen=True)
class RefundRequest:
    out_trade_no: str
    out_refund_no: str
    amount_fen: int
    currency: str
    #: The order's total (WeChat Pay requires it with every refund); asked of the gateway when unknown.
    total_fen: int | None = None


class PaymentProvider(abc.ABC):
    """Calls that cannot tell the outcome (a timeout, a 5xx) raise ``DomainError("payment_gateway_unavailable")``:
    the caller keeps its record as it is and retries with the same numbers, or reconciliation settles it."""

    code: str = ""
    #: The plain-text body the gateway expects from our notify endpoint when a notice is taken
    #: (Alipay: ``success``); empty: the endpoint answers JSON.
    ack: str = ""
    #: Whether :meth:`charge_agreement` can debit a member (a recurring agreement exists). Without it,
    #: auto-renewal is the reminders leading to a one-tap renewal checkout (``renewals_charge`` skips it).
    supports_agreements: bool = True
    #: Whether members sign the recurring agreement on the gateway's page (:meth:`agreement_sign`; Alipay's
    #: 周期扣款): the membership page offers it, and renewals are charged only under a signed one.
    signs_agreements: bool = False
    #: Whether each agreement debit must be booked with the gateway the day before (:meth:`agreement_schedule`;
    #: WeChat Pay's 预约扣费), which the renewal job does before it charges.
    schedules_agreement_charges: bool = False
    #: The application and merchant account our configuration expects in every notification.
    app_id: str = ""
    merchant_id: str = ""

    @abc.abstractmethod
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
        """Open an order and return the hosted checkout page for the payer (``channel``: where the
        payer is, see :func:`channel_of`; ``client_ip``: the payer's address, which WeChat Pay H5
        requires; ``openid``: inside WeChat, the payer's openid for our application, which JSAPI requires)."""

    @abc.abstractmethod
    def charge_agreement(
        self, *, out_trade_no: str, amount_fen: int, currency: str, description: str, payer_id: int
    ) -> None:
        """Debit the payer under their auto-renew agreement (委托代扣); the outcome arrives as a notification."""

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
        """The gateway's page where the member signs a recurring agreement under our number (renewals of
        ``amount_fen`` every ``period_days`` from ``first_charge_on``, a China Standard Time date; ``openid``:
        inside WeChat, the member's openid). Default: the gateway has none."""
        raise DomainError("payment_agreement_missing")

    def agreement_query(self, *, external_agreement_no: str, agreement_no: str = "") -> AgreementNotice | None:
        """The agreement's state at the gateway (the reconciliation of agreements stuck in ``pending``);
        ``None`` when the gateway has no signed agreement under that number (yet)."""
        raise DomainError("payment_agreement_missing")

    def agreement_unsign(self, *, external_agreement_no: str, agreement_no: str) -> None:
        """End the agreement at the gateway (the member switched auto-renew off). One already ended is
        not an error; the gateway's notice of the end may follow."""
        raise DomainError("payment_agreement_missing")

    def agreement_schedule(self, *, agreement_no: str, amount_fen: int, currency: str, now: datetime) -> date:
        """Book the next debit under the agreement (gateways with :attr:`schedules_agreement_charges`);
        returns the day it may be charged (China Standard Time)."""
        raise DomainError("payment_agreement_missing")

    def parse_agreement_notification(self, *, headers: Mapping[str, str], body: bytes) -> AgreementNotice:
        """Verify and decode a notice about an agreement (signed, ended)."""
        raise DomainError("provider_unknown")

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
    def refund(self, *, request: RefundRequest) -> RefundResult:
        """Ask for money back against a paid order. Idempotent by ``out_refund_no``: a repeated number
        returns the refund already made. Raises ``refund_exceeds_paid`` / ``subscription_not_paid`` when
        the gateway refuses it for good."""

    def refund_many(self, *, requests: Sequence[RefundRequest]) -> list[RefundResult]:
        """Several refunds (the programme suspension's batches). Adapters may batch; default: one by one."""
        return [self.refund(request=request) for request in requests]

    @abc.abstractmethod
    def refund_query(self, *, out_trade_no: str, out_refund_no: str) -> RefundResult:
        """The refund's state at the provider. Raises ``refund_unknown`` if it never reached the gateway."""

    @abc.abstractmethod
    def trade_bill(self, *, day: date) -> list[BillLine]:
        """The gateway's bill of one day (China Standard Time, as the gateways cut it): every
        successful payment and refund."""
