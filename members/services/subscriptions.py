"""Joining the trial, cancelling, auto-renew, expiry, reminders, extensions and the savings meter."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, InvalidTransition
from core.models import User
from core.services import Actor, audit_record, notify
from core.sql import Write

from .. import errors  # noqa: F401  (registers the codes)
from ..models import (
    ENTITLED_STATES,
    PAID_STATES,
    Plan,
    Subscription,
    SubscriptionPeriod,
    SuspensionRefund,
)
from .common import (
    DAY,
    MEMBERSHIP_URL,
    S,
    _append_period,
    _current_of,
    _local_date,
    _locked_subscription,
    _now,
    _require_sales_open,
    _transition,
    programme_get,
    yuan,
)


def trial_start(*, user: User, plan_code: str = "trial", actor: Actor = None) -> Subscription:
    """Start the free trial now. Raises ``sales_closed``, ``plan_unavailable``,
    ``trial_already_used`` (database constraint) or ``subscription_already_current``."""
    _require_sales_open()
    plan = Plan.objects.filter(code=plan_code, is_active=True, is_trial=True).first()
    if plan is None:
        raise DomainError("plan_unavailable")
    now = _now()
    with transaction.atomic():
        if _current_of(user) is not None:
            raise DomainError("subscription_already_current")
        try:
            with transaction.atomic():
                subscription = Subscription.objects.create(
                    user=user,
                    plan=plan,
                    state=S.TRIALING,
                    is_trial=True,
                    auto_renew=False,
                    period_start=now,
                    period_end=now + timedelta(days=plan.duration_days),
                )
        except IntegrityError:
            if Subscription.objects.filter(user=user, is_trial=True).exists():
                raise DomainError("trial_already_used") from None
            raise DomainError("subscription_already_current") from None
        assert subscription.period_start and subscription.period_end
        SubscriptionPeriod.objects.create(
            subscription=subscription,
            kind=SubscriptionPeriod.Kind.TRIAL,
            start=subscription.period_start,
            end=subscription.period_end,
        )
        audit_record(
            actor=actor or user, action="members.subscription_trialing", obj=subscription, after={"plan": plan.code}
        )
        notify(
            user=user,
            kind="members.trial_started",
            title=_("Your free RedCard trial has started"),
            body=_("Your trial card works until %(end)s."),
            url=MEMBERSHIP_URL,
            context={"end": _local_date(subscription.period_end)},
        )
    return subscription


def subscription_cancel(*, user: User, actor: Actor = None, reason: str = "") -> Subscription:
    """Cancel at period end (the card works until then). Raises ``membership_inactive`` or
    ``invalid_transition``."""
    with transaction.atomic():
        subscription = _current_of(user)
        if subscription is None:
            raise DomainError("membership_inactive")
        return _transition(
            subscription, S.CANCEL_AT_PERIOD_END, actor=actor or user, reason=reason or "cancelled by member"
        )


def subscription_cancel_undo(*, user: User, actor: Actor = None) -> Subscription:
    """Undo a cancellation before the period ends. Raises ``membership_inactive``,
    ``programme_suspended`` or ``invalid_transition``."""
    with transaction.atomic():
        subscription = _current_of(user)
        if subscription is None or subscription.period_end is None or subscription.period_end <= _now():
            raise DomainError("membership_inactive")
        if subscription.state == S.CANCEL_AT_PERIOD_END and not programme_get().sales_open:
            raise DomainError("programme_suspended")
        return _transition(subscription, S.ACTIVE, actor=actor or user, reason="cancellation undone by member")


def subscription_set_auto_renew(*, user: User, auto_renew: bool, actor: Actor = None) -> Subscription:
    """Switch auto-renew on or off for a paid card. Raises ``membership_inactive`` or ``subscription_not_paid``."""
    with transaction.atomic():
        subscription = _current_of(user)
        if subscription is None:
            raise DomainError("membership_inactive")
        if subscription.state not in PAID_STATES:
            raise DomainError("subscription_not_paid")
        if subscription.auto_renew != auto_renew:
            before = {"auto_renew": subscription.auto_renew}
            subscription.auto_renew = auto_renew
            subscription.save(update_fields=["auto_renew"])
            audit_record(
                actor=actor or user,
                action="members.auto_renew_set",
                obj=subscription,
                before=before,
                after={"auto_renew": auto_renew},
            )
        return subscription


def subscriptions_advance(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic job: expire cards whose period has ended, and roll the savings meter over
    when a renewed period begins."""
    now = now or _now()
    counts = {"expired": 0, "refunded": 0, "rolled_over": 0}
    ended = Subscription.objects.filter(state__in=ENTITLED_STATES, period_end__lte=now).values_list("pk", flat=True)
    for pk in list(ended.order_by("pk")[:5000]):
        with transaction.atomic():
            subscription = _locked_subscription(pk)
            if (
                subscription.state not in ENTITLED_STATES
                or not subscription.period_end
                or subscription.period_end > now
            ):
                continue
            suspended = SuspensionRefund.objects.filter(subscription=subscription, refunded_fen__gt=0).exists()
            target = S.REFUNDED if suspended and subscription.state != S.TRIALING else S.EXPIRED
            _transition(subscription, target, actor="system:expire_job", reason="period ended", ended_at=now)
            counts["refunded" if target == S.REFUNDED else "expired"] += 1
    rolling = SubscriptionPeriod.objects.filter(
        subscription__state__in=ENTITLED_STATES, start__lte=now, start__gt=F("subscription__period_start")
    ).values_list("subscription_id", "start")
    for subscription_id, start in list(rolling[:5000]):
        with transaction.atomic():
            subscription = _locked_subscription(subscription_id)
            if subscription.period_start is None or subscription.period_start >= start:
                continue
            SubscriptionPeriod.objects.filter(subscription=subscription, start=subscription.period_start).update(
                savings_fen=subscription.savings_fen
            )
            before = {"period_start": subscription.period_start, "savings_fen": subscription.savings_fen}
            subscription.period_start = start
            subscription.savings_fen = 0
            subscription.save(update_fields=["period_start", "savings_fen"])
            audit_record(actor="system:expire_job", action="members.period_rollover", obj=subscription, before=before)
            counts["rolled_over"] += 1
    return counts


def reminders_send(*, now: datetime | None = None) -> int:
    """Expiry reminders 7 days and 1 day before the end (e-mail + in-app), each once: the
    reminder column is set by a guarded UPDATE."""
    from ..payments import agreements_supported
    from ..selectors import member_savings

    now = now or _now()
    sent = 0
    # Without an agreement "auto-renew" means: reminded, with a one-tap renewal.
    charged = agreements_supported()
    for column, window in (("reminded_7d_at", timedelta(days=7)), ("reminded_1d_at", DAY)):
        due = Subscription.objects.filter(
            state__in=ENTITLED_STATES, period_end__gt=now, period_end__lte=now + window, **{f"{column}__isnull": True}
        ).select_related("user", "plan")
        for subscription in due.iterator(chunk_size=200):
            with transaction.atomic():
                claimed = Subscription.objects.filter(pk=subscription.pk, **{f"{column}__isnull": True}).update(
                    **{column: now}
                )
                if not claimed:
                    continue
                savings = member_savings(user=subscription.user)
                renews = (
                    charged
                    and subscription.state == S.ACTIVE
                    and subscription.auto_renew
                    and agreements_supported(user=subscription.user)
                )
                assert subscription.period_end is not None
                notify(
                    user=subscription.user,
                    kind="members.expiry_reminder",
                    title=_("Your RedCard ends on %(end)s"),
                    body=(
                        _("It renews automatically for %(fee)s. This year you saved %(saved)s.")
                        if renews
                        else _("Renew to keep your discounts: this year you saved %(saved)s for a fee of %(fee)s.")
                    ),
                    url=MEMBERSHIP_URL if renews else MEMBERSHIP_URL + "#renew",
                    context={
                        "end": _local_date(subscription.period_end),
                        "fee": yuan(subscription.plan.price_fen),
                        "saved": yuan(savings.saved_fen),
                    },
                )
                sent += 1
    return sent


def subscription_extend(*, subscription_id: int, days: int, reason: str, actor: Actor) -> Subscription:
    """Give a card ``days`` more (an operator's goodwill gesture), appended back to back."""
    if not 1 <= days <= 366:
        raise DomainError("extension_days_invalid")
    if not reason.strip():
        raise DomainError("refund_reason_required")
    with transaction.atomic():
        subscription = _locked_subscription(subscription_id)
        if subscription.state not in ENTITLED_STATES or subscription.period_end is None:
            raise InvalidTransition(model="subscription", current=subscription.state, target="extended")
        _append_period(
            subscription,
            kind=SubscriptionPeriod.Kind.EXTENSION,
            days=days,
            actor=actor,
            action="members.subscription_extended",
            reason=reason,
        )
    return subscription


def subscription_savings_add(*, subscription_id: int, amount_fen: int) -> None:
    """Add a redemption's saving to the meter (negative to reverse a void). One atomic UPDATE."""
    Subscription.objects.filter(pk=subscription_id).update(savings_fen=F("savings_fen") + amount_fen)


_SAVINGS_SQL = f"UPDATE {Subscription._meta.db_table} SET savings_fen = savings_fen + %s WHERE id = %s RETURNING id"  # noqa: S608


def subscription_savings_write(*, subscription_id: int, amount_fen: int) -> Write:
    """``subscription_savings_add`` as a ``Write`` for ``core.sql.writes_run`` (the counter's one statement)."""
    return Write(_SAVINGS_SQL, [amount_fen, subscription_id])


def seed_default_plans() -> list[Plan]:
    """The default plans (annual ¥168 / 365 days, 90-day trial) as the data migration writes
    them; idempotent, admin edits are kept. Returns ``[annual, trial]``."""
    from importlib import import_module

    from django.apps import apps

    import_module("members.migrations.0002_default_plans").seed(apps, None)
    return [Plan.objects.get(code="annual"), Plan.objects.get(code="trial")]
