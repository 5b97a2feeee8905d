"""Models of the members app, one module per concern (re-exported here by name)."""

from .events import Event, EventCheckIn, EventRegistration, RegistrationState
from .subscriptions import (
    CNY,
    CURRENT_STATES,
    ENTITLED_STATES,
    PAID_STATES,
    FlaggedPayment,
    Payment,
    PaymentNotification,
    Plan,
    Programme,
    Refund,
    SandboxEvent,
    SandboxOrder,
    Subscription,
    SubscriptionPeriod,
    SubscriptionState,
    SuspensionRefund,
)

__all__ = [
    "CNY",
    "CURRENT_STATES",
    "ENTITLED_STATES",
    "PAID_STATES",
    "Event",
    "EventCheckIn",
    "EventRegistration",
    "FlaggedPayment",
    "Payment",
    "PaymentNotification",
    "Plan",
    "Programme",
    "Refund",
    "RegistrationState",
    "SandboxEvent",
    "SandboxOrder",
    "Subscription",
    "SubscriptionPeriod",
    "SubscriptionState",
    "SuspensionRefund",
]
