"""Reads of the members app that other code reuses."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from core import sql
from core.models import User
from merchants.selectors import active_cities, catalogue

from .models import (
    ENTITLED_STATES,
    PAID_STATES,
    Payment,
    PaymentAgreement,
    Plan,
    Refund,
    SandboxOrder,
    Subscription,
    SubscriptionPeriod,
    SubscriptionState,
    WeChatOpenid,
)


@dataclass(frozen=True)
class Entitlement:
    entitled: bool
    code: str | None
    subscription_id: int | None
    state: str | None
    period_end: datetime | None


def trial_days_left(ent: Entitlement, *, at: datetime | None = None) -> int | None:
    """Whole days (rounded up) left of a running trial, ``None`` when ``ent`` is not a trial."""
    if ent.state != SubscriptionState.TRIALING or not ent.entitled or ent.period_end is None:
        return None
    left = ent.period_end - (at or timezone.now())
    return max(0, -(-left // timedelta(days=1)))


@dataclass(frozen=True)
class Savings:
    saved_fen: int
    fee_fen: int
    currency: str
    period_start: datetime | None
    period_end: datetime | None
    guarantee: Guarantee | None = None


#: Early in a year the pace says little: the projection counts at least this much of the year as gone.
GUARANTEE_MIN_ELAPSED = timedelta(days=30)


@dataclass(frozen=True)
class Guarantee:
    """The savings guarantee of the paid year in force (省不回年费，退差价), as the meter shows it.

    ``state``: ``covered`` (the savings already reach the fee: nothing will come back), ``on_track`` (at
    this pace they will by the year's end) or ``below`` (at this pace the year ends below the fee: the
    difference comes back). ``due_now_fen`` is what would come back if the year ended now,
    ``expected_fen`` what comes back at this pace."""

    state: str
    fee_fen: int
    saved_fen: int
    projected_fen: int
    due_now_fen: int
    expected_fen: int
    year_end: datetime


def guarantee_project(*, fee_fen: int, saved_fen: int, start: datetime, end: datetime, at: datetime) -> Guarantee:
    """Where a guaranteed year stands at ``at``: the savings projected to the year's end at the pace so far
    (at least :data:`GUARANTEE_MIN_ELAPSED` counted as gone)."""
    length = (end - start).total_seconds()
    elapsed = min(max((at - start).total_seconds(), GUARANTEE_MIN_ELAPSED.total_seconds()), length)
    saved = max(0, saved_fen)
    projected = saved if elapsed >= length else int(saved * length / elapsed)
    state = "covered" if saved >= fee_fen else "on_track" if projected >= fee_fen else "below"
    return Guarantee(
        state=state,
        fee_fen=fee_fen,
        saved_fen=saved,
        projected_fen=projected,
        due_now_fen=max(0, fee_fen - saved),
        expected_fen=max(0, fee_fen - projected),
        year_end=end,
    )


def _guaranteed_years() -> QuerySet[SubscriptionPeriod]:
    """Paid years bought with the guarantee whose payment was not refunded (refunded years are excluded)."""
    return SubscriptionPeriod.objects.filter(
        guaranteed=True, payment__state=Payment.State.PAID, payment__refunded_fen=0
    ).exclude(subscription__state=SubscriptionState.REFUNDED)


def guarantee_meter(*, subscription: Subscription, at: datetime | None = None) -> Guarantee | None:
    """The guarantee of the year in force of a paid card, or None (no guarantee, a trial, a refunded year)."""
    if subscription.state not in PAID_STATES or subscription.period_start is None:
        return None
    at = at or timezone.now()
    year = (
        _guaranteed_years()
        .filter(subscription=subscription, start=subscription.period_start, end__gt=at)
        .values_list("payment__amount_fen", "start", "end")
        .first()
    )
    if year is None:
        return None
    fee, start, end = year
    return guarantee_project(fee_fen=fee, saved_fen=subscription.savings_fen, start=start, end=end, at=at)


@dataclass(frozen=True)
class GuaranteeForecast:
    years: int
    claimants: int
    expected_fen: int


def guarantee_forecast(*, now: datetime) -> GuaranteeForecast:
    """The cost forecast of the savings guarantee for the operations overview: the guaranteed paid years in
    force (one query), how many are on course to end below their fee at their pace so far, and the
    expected total of the differences."""
    rows = (
        _guaranteed_years()
        .filter(
            subscription__state__in=PAID_STATES,
            subscription__period_start=F("start"),
            start__lte=now,
            end__gt=now,
        )
        .values_list("payment__amount_fen", "subscription__savings_fen", "start", "end")
    )
    years = claimants = expected = 0
    for fee, saved, start, end in rows.iterator(chunk_size=2000):
        years += 1
        meter = guarantee_project(fee_fen=fee, saved_fen=saved, start=start, end=end, at=now)
        if meter.expected_fen:
            claimants += 1
            expected += meter.expected_fen
    return GuaranteeForecast(years=years, claimants=claimants, expected_fen=expected)


def entitlement(*, user: User, at: datetime | None = None, lock: bool = False) -> Entitlement:
    """May ``user`` redeem at ``at`` (default now)? True for ``active``, ``trialing`` and
    ``cancel_at_period_end`` inside the period. One query.

    ``lock=True`` (inside the caller's transaction) locks the entitled subscription row
    ``FOR NO KEY UPDATE``: a refund, suspension or expiry (``FOR UPDATE``) waits for the caller's
    commit, and a caller that waited for one of them reads the row it left (a refunded card is no
    longer entitled). The redemption takes this lock because it then updates the savings meter on
    the same row; the lock does not block inserts that only reference the row."""
    at = at or timezone.now()
    subscriptions = Subscription.objects.filter(user_id=user.pk, state__in=ENTITLED_STATES)
    if lock:
        subscriptions = subscriptions.select_for_update(no_key=True).order_by()
    row = next(iter(subscriptions.values_list("pk", "state", "period_start", "period_end")[:1]), None)
    if row is None:
        return Entitlement(False, "membership_inactive", None, None, None)
    pk, state, start, end = row
    entitled = start is not None and end is not None and start <= at < end
    return Entitlement(entitled, None if entitled else "membership_inactive", pk, state, end)


def entitled_member(
    *, public_id: Any = None, number: int | None = None, at: datetime | None = None, lock: bool = False
) -> tuple[User | None, Entitlement]:
    """The active person with this public id (or member number) and their ``entitlement`` at ``at``, with
    ``lock`` as there: one statement on PostgreSQL (the subscription joined laterally, locked inside the
    join), two elsewhere. ``(None, not entitled)`` when no active person has that id."""
    at = at or timezone.now()
    column, value = ("public_id", public_id) if public_id is not None else ("id", number)
    if connection.vendor != "postgresql":
        person = User.objects.filter(is_active=True, **{column: value}).first()
        if person is None:
            return None, Entitlement(False, "membership_inactive", None, None, None)
        return person, entitlement(user=person, at=at, lock=lock)
    if column == "public_id":
        value = User._meta.get_field("public_id").get_db_prep_value(value, connection)
    with sql.hot_cursor() as cursor:  # the statement built once; the person straight from its row
        cursor.execute(_entitled_member_sql(column, lock), [*(state.value for state in ENTITLED_STATES), value])
        row = cursor.fetchone()
    if row is None:
        return None, Entitlement(False, "membership_inactive", None, None, None)
    person = sql.instance(User, row[:-4])
    pk, state, start, end = row[-4:]
    if pk is None:
        return person, Entitlement(False, "membership_inactive", None, None, None)
    entitled = start is not None and end is not None and start <= at < end
    return person, Entitlement(entitled, None if entitled else "membership_inactive", pk, state, end)


@functools.cache
def _entitled_member_sql(column: str, lock: bool) -> str:
    states = ", ".join(["%s"] * len(ENTITLED_STATES))
    return (
        f"SELECT {sql.select_columns(User, 'u')}, s.id, s.state, s.period_start, s.period_end"  # noqa: S608
        f" FROM {User._meta.db_table} u LEFT JOIN LATERAL ("
        f"SELECT id, state, period_start, period_end FROM {Subscription._meta.db_table}"
        f" WHERE user_id = u.id AND state IN ({states}) LIMIT 1{' FOR NO KEY UPDATE' if lock else ''}"
        f") s ON TRUE WHERE u.{column} = %s AND u.is_active"
    )


#: States a card can be in after it was entitled (the period ran out, or it was refunded).
_ONCE_ENTITLED = (*ENTITLED_STATES, SubscriptionState.EXPIRED, SubscriptionState.REFUNDED)


def entitlement_then(*, user: User, at: datetime, lock: bool = False) -> Entitlement:
    """Was ``user`` entitled at ``at`` (a moment past)? True when a card's periods covered ``at`` and it had
    not ended (expired, refunded) before it, whatever its state now: a redemption accepted offline is judged
    by the scan's time. ``lock=True`` locks that subscription as :func:`entitlement` does. One query."""
    covering = SubscriptionPeriod.objects.filter(subscription_id=OuterRef("pk"), start__lte=at, end__gt=at)
    subscriptions = Subscription.objects.filter(
        Q(period_start__lte=at) | Exists(covering),
        Q(ended_at__isnull=True) | Q(ended_at__gt=at),
        user_id=user.pk,
        state__in=_ONCE_ENTITLED,
        period_end__gt=at,
    )
    if lock:
        subscriptions = subscriptions.select_for_update(no_key=True).order_by()
    row = next(iter(subscriptions.values_list("pk", "state", "period_end")[:1]), None)
    if row is None:
        return Entitlement(False, "membership_inactive", None, None, None)
    pk, state, end = row
    return Entitlement(True, None, pk, state, end)


def current_subscription(*, user: User) -> Subscription | None:
    """The member's current subscription (pending, trial or paid), else the latest one."""
    subscriptions = Subscription.objects.filter(user_id=user.pk).select_related("plan")
    current = subscriptions.filter(state__in=[*ENTITLED_STATES, SubscriptionState.PENDING_PAYMENT]).first()
    return current or subscriptions.order_by("-created_at", "-pk").first()


def default_plan() -> Plan | None:
    return Plan.objects.filter(is_active=True, is_trial=False).order_by("sort_order", "code").first()


def member_savings(*, user: User) -> Savings:
    """The savings meter of the current subscription period against the fee."""
    subscription = (
        Subscription.objects.filter(user_id=user.pk, state__in=ENTITLED_STATES).select_related("plan").first()
    )
    if subscription is None:
        plan = default_plan()
        return Savings(0, plan.price_fen if plan else 0, plan.currency if plan else "CNY", None, None)
    # A trial card costs nothing: its meter runs against the fee of the card it would become.
    fee_plan = (default_plan() or subscription.plan) if subscription.plan.is_trial else subscription.plan
    return Savings(
        subscription.savings_fen,
        fee_plan.price_fen,
        fee_plan.currency,
        subscription.period_start,
        subscription.period_end,
        guarantee_meter(subscription=subscription),
    )


@dataclass(frozen=True)
class JoinPitch:
    """What the join page sells with: the catalogue in figures, a few shops, and a worked example."""

    shop_count: int
    cities: list[Any]
    best_percent: str
    shops: list[Any]
    fee_fen: int
    monthly_spend_fen: int
    yearly_saved_fen: int
    trial_days: int | None


#: The worked example on the join page: a month's spending at member shops (two dinners for two).
EXAMPLE_MONTHLY_SPEND_FEN = 40000
#: Every member shop gives at least this (basis points); SPEC: "at least 10% off".
FLOOR_RATE_BP = 1000


def join_pitch(*, shops: int = 6) -> JoinPitch:
    """The join page's figures: visible shops and their cities, the best offer, up to ``shops`` listed shops
    (best offers first), and what the example month saves in a year at the floor rate."""
    visible = catalogue()
    rates = visible.aggregate(best=Max("offer__rate_bp"))
    annual = default_plan()
    trial = Plan.objects.filter(is_active=True, is_trial=True).order_by("sort_order").first()
    chosen = list(visible.order_by("-offer__rate_bp", "state", "name_zh")[:shops])
    city_ids = set(visible.values_list("city_id", flat=True).distinct())
    return JoinPitch(
        shop_count=visible.count(),
        cities=[city for city in active_cities() if city.pk in city_ids],
        best_percent=f"{(rates['best'] or FLOOR_RATE_BP) / 100:g}",
        shops=chosen,
        fee_fen=annual.price_fen if annual else 0,
        monthly_spend_fen=EXAMPLE_MONTHLY_SPEND_FEN,
        yearly_saved_fen=EXAMPLE_MONTHLY_SPEND_FEN * 12 * FLOOR_RATE_BP // 10000,
        trial_days=trial.duration_days if trial else None,
    )


def plans_on_sale() -> QuerySet[Plan]:
    return Plan.objects.filter(is_active=True)


def trial_used(*, user: User) -> bool:
    return Subscription.objects.filter(user_id=user.pk, is_trial=True).exists()


def subscription_payments(*, subscription: Subscription) -> QuerySet[Payment]:
    return subscription.payments.order_by("-created_at", "-pk")


def member_payments(*, user: User) -> QuerySet[Payment]:
    return Payment.objects.filter(subscription__user_id=user.pk).select_related("subscription__plan")


def member_agreement(*, user: User) -> PaymentAgreement | None:
    """The member's recurring agreement in force at a gateway (the latest signed one), if any."""
    return (
        PaymentAgreement.objects.filter(user_id=user.pk, state=PaymentAgreement.State.ACTIVE)
        .order_by("-signed_at", "-pk")
        .first()
    )


def member_refunds(*, user: User) -> QuerySet[Refund]:
    return Refund.objects.filter(subscription__user_id=user.pk).select_related("payment")


def ledger_discrepancies() -> list[str]:
    """Check that money adds up: each payment's refunded counter equals its refund rows and the
    gateway's own record; sums of payments minus refunds per subscription agree with its state;
    and the totals agree. Returns human-readable discrepancies (empty when consistent)."""
    problems: list[str] = []
    counted = Refund.objects.exclude(state=Refund.State.FAILED)  # a failed refund returned nothing
    refunded_by_payment = dict(
        counted.values("payment_id").annotate(s=Sum("amount_fen")).values_list("payment_id", "s")
    )
    settled = Refund.objects.filter(state=Refund.State.SUCCEEDED)
    settled_by_payment = dict(settled.values("payment_id").annotate(s=Sum("amount_fen")).values_list("payment_id", "s"))
    orders = {o.out_trade_no: o for o in SandboxOrder.objects.all()}
    net_by_subscription: dict[int, int] = {}
    for payment in Payment.objects.all().iterator():
        rows = refunded_by_payment.get(payment.pk, 0) or 0
        if rows != payment.refunded_fen:
            problems.append(
                f"payment {payment.public_id}: refunded counter {payment.refunded_fen} != refund rows {rows}"
            )
        if payment.refunded_fen > payment.amount_fen:
            problems.append(f"payment {payment.public_id}: refunded more than paid")
        paid = payment.amount_fen if payment.state == Payment.State.PAID else 0
        net_by_subscription[payment.subscription_id] = (
            net_by_subscription.get(payment.subscription_id, 0) + paid - payment.refunded_fen
        )
        order = orders.get(str(payment.public_id))
        if payment.provider == "sandbox" and order is not None and payment.flagged_at is None:
            if (order.status == SandboxOrder.Status.SUCCESS) != (payment.state == Payment.State.PAID):
                problems.append(f"payment {payment.public_id}: {payment.state} here, {order.status} at the gateway")
            refunded_here = settled_by_payment.get(payment.pk, 0) or 0
            if order.refunded_fen != refunded_here:
                problems.append(
                    f"payment {payment.public_id}: refunded {refunded_here} here, {order.refunded_fen} at the gateway"
                )
    flagged = set(Payment.objects.filter(flagged_at__isnull=False).values_list("subscription_id", flat=True))
    for subscription in Subscription.objects.all().only("pk", "state", "public_id", "is_trial").iterator():
        net = net_by_subscription.get(subscription.pk, 0)
        state = subscription.state
        if subscription.pk in flagged:
            continue
        if state in PAID_STATES and net <= 0:
            problems.append(f"subscription {subscription.public_id}: {state} but nothing paid net")
        if (
            state in (SubscriptionState.PENDING_PAYMENT, SubscriptionState.PAYMENT_FAILED, SubscriptionState.TRIALING)
            and net != 0
        ):
            problems.append(f"subscription {subscription.public_id}: {state} but {net} fen paid net")
        if state == SubscriptionState.REFUNDED and not Refund.objects.filter(subscription_id=subscription.pk).exists():
            problems.append(f"subscription {subscription.public_id}: refunded without a refund row")
    paid_total = Payment.objects.filter(state=Payment.State.PAID).aggregate(s=Sum("amount_fen"))["s"] or 0
    refund_total = counted.aggregate(s=Sum("amount_fen"))["s"] or 0
    if paid_total - refund_total != sum(net_by_subscription.values()):
        problems.append("totals: payments minus refunds do not match the subscriptions' net")
    return problems


def flagged_payments() -> QuerySet[Payment]:
    return Payment.objects.filter(~Q(flag_reason="")).select_related("subscription__user")


def schema_example_subscription() -> dict[str, Any]:
    return {
        "id": "6f1c1d8e-3b4a-4a59-9d62-5b4f1f0b2a11",
        "plan": {"code": "annual", "name": "年卡", "price_fen": 16800, "currency": "CNY", "duration_days": 365},
        "state": "active",
        "period_start": "2026-01-05T02:00:00Z",
        "period_end": "2027-01-05T02:00:00Z",
        "auto_renew": True,
        "entitled": True,
        "savings": {"saved_fen": 21240, "fee_fen": 16800, "currency": "CNY"},
    }


# --- Operations figures (read by curation's overview) ----------------------------------------------


def live_member_counts(*, now: datetime) -> tuple[int, int]:
    """(People whose card works at ``now``, of which on a free trial): one aggregate query. A person holds
    at most one current subscription (database constraint), so rows are people."""
    live = Subscription.objects.filter(state__in=ENTITLED_STATES, period_start__lte=now, period_end__gt=now)
    counts = live.aggregate(total=Count("pk"), trials=Count("pk", filter=Q(state=SubscriptionState.TRIALING)))
    return counts["total"] or 0, counts["trials"] or 0


def member_kpis(*, now: datetime) -> dict[str, Any]:
    """The slow-moving member figures: trials ended in the last 90 days and how many converted, paid years
    ended in the last 90 days and how many renewed, fees paid in the last 365 days net of refunds.
    Three aggregate queries; the operations roll-up (curation) stores them nightly."""
    since = now - timedelta(days=90)
    ended_trials = SubscriptionPeriod.objects.filter(kind=SubscriptionPeriod.Kind.TRIAL, end__gte=since, end__lt=now)
    # A trial converted when the member paid: a paid period on another card of theirs, or on the
    # trial card itself (bought during the trial, the paid year follows it).
    paid_later = SubscriptionPeriod.objects.filter(
        subscription__user_id=OuterRef("subscription__user_id"), kind=SubscriptionPeriod.Kind.PAID
    )
    conv = ended_trials.aggregate(n=Count("pk"), paid=Count("pk", filter=Exists(paid_later)))
    ended_periods = SubscriptionPeriod.objects.filter(
        kind__in=[SubscriptionPeriod.Kind.PAID, SubscriptionPeriod.Kind.RENEWAL], end__gte=since, end__lt=now
    )
    renewed = SubscriptionPeriod.objects.filter(
        subscription_id=OuterRef("subscription_id"), kind=SubscriptionPeriod.Kind.RENEWAL, start=OuterRef("end")
    )
    ren = ended_periods.aggregate(n=Count("pk"), renewed=Count("pk", filter=Exists(renewed)))
    fees = Payment.objects.filter(state=Payment.State.PAID, paid_at__gte=now - timedelta(days=365)).aggregate(
        paid=Sum("amount_fen"), refunded=Sum("refunded_fen")
    )
    return {
        "trials_ended": conv["n"] or 0,
        "trials_converted": conv["paid"] or 0,
        "years_ended": ren["n"] or 0,
        "years_renewed": ren["renewed"] or 0,
        "fees_net_fen": (fees["paid"] or 0) - (fees["refunded"] or 0),
        "computed_at": now.isoformat(),
    }


def in_paid_period(*, subscription_ref: Any, at_ref: Any) -> Exists:
    """An ``Exists`` for other apps' queries: was the subscription at ``subscription_ref`` in a paid (or renewed)
    period at the moment ``at_ref``? (A trial's days, and the trial days before an upgrade, are not.)"""
    return Exists(
        SubscriptionPeriod.objects.filter(
            subscription_id=subscription_ref,
            kind__in=[SubscriptionPeriod.Kind.PAID, SubscriptionPeriod.Kind.RENEWAL],
            start__lte=at_ref,
            end__gt=at_ref,
        )
    )


def wechat_openid(*, user: User, app_id: str) -> str:
    """The member's openid for the WeChat application ``app_id`` (WeChat Pay JSAPI), or ``""``."""
    if not user.is_authenticated or not app_id:
        return ""
    found = WeChatOpenid.objects.filter(user=user, app_id=app_id).values_list("openid", flat=True).first()
    return found or ""
