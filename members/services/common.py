"""What every members service shares: the subscription state machine, locked reads, clock and formatting."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone

from core import webhooks
from core.errors import DomainError
from core.localtime import programme_day, programme_zone
from core.models import User
from core.services import Actor, audit_record, transition_check

from .. import errors  # noqa: F401  (registers the codes)
from ..models import (
    CURRENT_STATES,
    Payment,
    Programme,
    Subscription,
    SubscriptionPeriod,
    SubscriptionState,
)

S = SubscriptionState
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING_PAYMENT: frozenset({S.ACTIVE, S.PAYMENT_FAILED}),
    S.TRIALING: frozenset({S.ACTIVE, S.EXPIRED}),
    S.ACTIVE: frozenset({S.CANCEL_AT_PERIOD_END, S.EXPIRED, S.REFUNDED}),
    S.CANCEL_AT_PERIOD_END: frozenset({S.ACTIVE, S.EXPIRED, S.REFUNDED}),
}

MEMBERSHIP_URL = "/membership/"
DAY = timedelta(days=1)


def _now() -> datetime:
    return timezone.now()


def _programme_tz() -> zoneinfo.ZoneInfo:
    return programme_zone()


def yuan(fen: int) -> str:
    return f"¥{fen / 100:.2f}"


# --- state machine ------------------------------------------------------------------------


def _transition(subscription: Subscription, target: str, *, actor: Actor, reason: str, **changes: Any) -> Subscription:
    """Move a locked subscription to ``target`` (raises ``invalid_transition``), save and audit."""
    transition_check(model="subscription", current=subscription.state, target=target, allowed=TRANSITIONS)
    before = {"state": subscription.state, **{name: getattr(subscription, name) for name in changes}}
    subscription.state = target
    for name, value in changes.items():
        setattr(subscription, name, value)
    subscription.save(update_fields=["state", *changes])
    audit_record(
        actor=actor,
        action=f"members.subscription_{target}",
        obj=subscription,
        reason=reason,
        before=before,
        after={"state": target, **changes},
    )
    webhooks.emit(
        f"subscription.{target}",
        {
            "subscription": subscription.public_id,
            "member": subscription.user.public_id,
            "state": target,
            "period_end": subscription.period_end,
        },
    )
    return subscription


def _locked_subscription(subscription_id: int) -> Subscription:
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "user")
        .filter(pk=subscription_id)
        .first()
    )
    if subscription is None:
        raise DomainError("subscription_not_found")
    return subscription


def _current_of(user: User) -> Subscription | None:
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan")
        .filter(user=user, state__in=CURRENT_STATES)
        .first()
    )


def programme_get() -> Programme:
    programme, _created = Programme.objects.get_or_create(pk=1)
    return programme


def _require_sales_open() -> None:
    if not programme_get().sales_open:
        raise DomainError("sales_closed")


def _local_date(moment: datetime) -> date:
    """The programme's calendar day at ``moment`` (``notify`` writes it as the reader's language does)."""
    return programme_day(moment)


def _append_period(
    subscription: Subscription,
    *,
    kind: str,
    days: int,
    actor: Actor,
    action: str,
    payment: Payment | None = None,
    reason: str = "",
) -> datetime:
    """Append a period starting exactly at the current end (no gap) and extend the card to it."""
    assert subscription.period_end is not None
    start = subscription.period_end
    end = start + timedelta(days=days)
    # A paid year carries the savings guarantee of the plan it was bought on (members.services.guarantee).
    guaranteed = payment is not None and (payment.plan or subscription.plan).savings_guarantee
    SubscriptionPeriod.objects.create(
        subscription=subscription, kind=kind, start=start, end=end, payment=payment, guaranteed=guaranteed
    )
    subscription.period_end = end
    # The card now ends later: the reminders of the new end are still to send (every year).
    subscription.reminded_7d_at = subscription.reminded_1d_at = None
    subscription.save(update_fields=["period_end", "reminded_7d_at", "reminded_1d_at"])
    audit_record(
        actor=actor,
        action=action,
        obj=subscription,
        reason=reason,
        before={"period_end": start},
        after={"period_end": end, "days": days},
    )
    return end
