"""Refunds: quotes, allocation over payments and the refund ledger."""

from __future__ import annotations

import logging
import math
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from core.db import violates
from core.errors import DomainError
from core.services import Actor, actor_label, audit_record, notify

from .. import errors  # noqa: F401  (registers the codes)
from ..models import (
    PAID_STATES,
    EventPayment,
    EventRefund,
    Payment,
    ReconciliationIssue,
    Refund,
    Subscription,
    SubscriptionPeriod,
)
from ..payments import get_provider
from ..payments.base import RefundRequest, RefundResult
from .common import MEMBERSHIP_URL, S, _locked_subscription, _now, _transition, yuan

logger = logging.getLogger(__name__)

#: The refund ledgers this module drives: the card's (:class:`Refund` of a :class:`Payment`) and the
#: events' (:class:`EventRefund` of an :class:`EventPayment`). Both keep the same fields, states and
#: rules, and every function below takes an entry of either.
LedgerEntry = TypeVar("LedgerEntry", Refund, EventRefund)


def _payment_model(model: type[Refund] | type[EventRefund]) -> type[Payment] | type[EventPayment]:
    return EventPayment if model is EventRefund else Payment


# --- refunds ------------------------------------------------------------------------------


def amount_due(
    *, amount_fen: int, refunded_fen: int, start: datetime | None, end: datetime | None, mode: str, at: datetime
) -> int:
    """What is due on one payment: all that remains (full), or the unused days of the period it
    bought (prorated; a started day counts as unused and the fen is rounded up: in the member's
    favour), never more than remains."""
    remaining = amount_fen - refunded_fen
    if mode == Refund.Kind.FULL or start is None or end is None or at <= start:
        return remaining
    if at >= end:
        return 0
    total_days = max(1, round((end - start).total_seconds() / 86400))
    unused_days = min(total_days, math.ceil((end - at).total_seconds() / 86400))
    return min(remaining, -(-amount_fen * unused_days // total_days))


def _quote(payment: Payment, period: SubscriptionPeriod | None, mode: str, at: datetime) -> int:
    return amount_due(
        amount_fen=payment.amount_fen,
        refunded_fen=payment.refunded_fen,
        start=period.start if period else None,
        end=period.end if period else None,
        mode=mode,
        at=at,
    )


def refund_quote(*, subscription: Subscription, mode: str, at: datetime | None = None) -> int:
    """The total a refund of ``mode`` would return now (for admin forms and dry runs)."""
    at = at or _now()
    payments = subscription.payments.filter(state=Payment.State.PAID).select_related("period")
    return sum(_quote(p, getattr(p, "period", None), mode, at) for p in payments)


def _allocate(
    payments: Sequence[Payment],
    periods: dict[int | None, SubscriptionPeriod],
    mode: str,
    at: datetime,
    amount: int | None,
) -> list[tuple[Payment, int]]:
    if amount is None:
        return [(p, q) for p in payments if (q := _quote(p, periods.get(p.pk), mode, at)) > 0]
    allocations = []
    left = amount
    for payment in sorted(payments, key=lambda p: p.pk, reverse=True):
        take = min(left, payment.amount_fen - payment.refunded_fen)
        if take > 0:
            allocations.append((payment, take))
            left -= take
    if left > 0:
        raise DomainError("refund_exceeds_paid")
    return allocations


def subscription_refund(
    *,
    subscription_id: int,
    mode: str,
    reason: str,
    actor: Actor,
    request_key: str | None = None,
    amount_fen: int | None = None,
    at: datetime | None = None,
) -> list[Refund]:
    """Refund a paid subscription (full, prorated by unused days, or an explicit amount) and
    end it. One ledger row per payment refunded; the payment's ``refunded_fen`` counter goes up
    under its row lock and the database refuses a total above the amount. The entries, the new
    state and the notice are committed first; the gateway is called afterwards, outside the
    transaction (:func:`refunds_submit`), and the entries are returned with its answer.

    Raises ``refund_reason_required``, ``subscription_not_found``, ``subscription_already_refunded``,
    ``subscription_not_paid``, ``refund_exceeds_paid``, ``refund_nothing_due``."""
    if not reason or not reason.strip():
        raise DomainError("refund_reason_required")
    if mode not in Refund.Kind.values:
        raise DomainError("validation_failed")
    if amount_fen is not None and amount_fen <= 0:
        raise DomainError("refund_nothing_due")
    at = at or _now()
    request_key = request_key or uuid.uuid4().hex
    with transaction.atomic():
        subscription = _locked_subscription(subscription_id)
        if subscription.state == S.REFUNDED:
            raise DomainError("subscription_already_refunded")
        payments = list(
            Payment.objects.select_for_update()
            .filter(subscription=subscription, state=Payment.State.PAID)
            .order_by("pk")
        )
        if subscription.state not in PAID_STATES or not payments:
            raise DomainError("subscription_not_paid")
        periods: dict[int | None, SubscriptionPeriod] = {
            p.payment_id: p for p in SubscriptionPeriod.objects.filter(payment__in=payments)
        }
        allocations = _allocate(payments, periods, mode, at, amount_fen)
        if not allocations:
            raise DomainError("refund_nothing_due")
        refunds = _refund_write(
            subscription=subscription,
            allocations=allocations,
            kind=mode,
            reason=reason,
            actor=actor,
            request_key=request_key,
        )
        total = sum(r.amount_fen for r in refunds)
        _transition(
            subscription,
            S.REFUNDED,
            actor=actor,
            reason=reason,
            ended_at=at,
            auto_renew=False,
        )
        notify(
            user=subscription.user,
            kind="members.refunded",
            title=_("Your RedCard was refunded"),
            body=_("%(amount)s is on its way back to you. Reason: %(reason)s"),
            url=MEMBERSHIP_URL,
            context={"amount": yuan(total), "reason": reason},
        )
    return refunds_submit(refunds=refunds)


REFUND_NAMESPACE = uuid.UUID("5f0c3a52-6b0e-4d8e-9a57-1f3c8a0de7b1")


def refund_id(request_key: str, payment: Payment | EventPayment) -> uuid.UUID:
    """Our refund number (``out_refund_no`` at the provider), derived from the request key and
    the payment: a retry after a crash sends the same number and the gateway refunds once."""
    return uuid.uuid5(REFUND_NAMESPACE, f"{request_key}:{payment.public_id}")


def _refund_write(
    *,
    subscription: Subscription,
    allocations: Sequence[tuple[Payment, int]],
    kind: str,
    reason: str,
    actor: Actor,
    request_key: str,
) -> list[Refund]:
    """Inside the caller's transaction: write the ledger entries (``requested``, numbers fixed) and
    count them against their payments. The gateway is called after commit (:func:`refunds_submit`)."""
    refunds = []
    for payment, amount in allocations:
        try:
            with transaction.atomic():
                refund = Refund.objects.create(
                    public_id=refund_id(request_key, payment),
                    payment=payment,
                    subscription=subscription,
                    kind=kind,
                    amount_fen=amount,
                    currency=payment.currency,
                    reason=reason,
                    request_key=request_key,
                    actor_label=actor_label(actor)[:120],
                )
                Payment.objects.filter(pk=payment.pk).update(refunded_fen=F("refunded_fen") + amount)
        except IntegrityError:
            raise DomainError("refund_exceeds_paid") from None
        refunds.append(refund)
        audit_record(
            actor=actor,
            action="members.refund_requested",
            obj=payment,
            reason=reason,
            after={"refund": str(refund.public_id), "amount_fen": amount, "kind": kind},
        )
    return refunds


#: Gateway refusals that are final: the refund is failed, not retried.
REFUND_REFUSALS = frozenset({"refund_exceeds_paid", "subscription_not_paid"})


def refunds_submit(*, refunds: Sequence[LedgerEntry]) -> list[LedgerEntry]:
    """Send ``requested`` refunds to their gateway under their fixed numbers and record the answers.

    Never call this inside a transaction: the ledger entries must be committed first, so a crash
    anywhere leaves a ``requested`` entry that :func:`refunds_reconcile` settles from the gateway
    (same number: the gateway refunds once). A timeout or 5xx leaves the entries as they are."""
    if not refunds:
        return []
    model = type(refunds[0])
    by_provider: dict[str, list[LedgerEntry]] = defaultdict(list)
    for refund in refunds:
        if refund.state == Refund.State.REQUESTED:
            by_provider[refund.payment.provider].append(refund)
    for provider_code, batch in by_provider.items():
        model.objects.filter(pk__any=[r.pk for r in batch]).update(attempts=F("attempts") + 1)
        requests = [
            RefundRequest(
                out_trade_no=str(r.payment.public_id),
                out_refund_no=str(r.public_id),
                amount_fen=r.amount_fen,
                currency=r.currency,
                total_fen=r.payment.amount_fen,
            )
            for r in batch
        ]
        try:
            results = get_provider(provider_code).refund_many(requests=requests)
        except DomainError as exc:
            logger.warning("refunds to %s not accepted: %s", provider_code, exc.code)
            if exc.code in REFUND_REFUSALS:
                for refund in batch:
                    refund_record(
                        refund_id=refund.pk,
                        result=RefundResult(str(refund.public_id), "failed", provider_state=exc.code),
                        actor=f"provider:{provider_code}",
                        model=model,
                    )
            else:
                model.objects.filter(pk__any=[r.pk for r in batch]).update(last_error=exc.code[:200])
            continue
        refunds_record(results=results, actor=f"provider:{provider_code}", model=model)
    return list(model.objects.filter(pk__any=[r.pk for r in refunds]).select_related("payment").order_by("pk"))


def refunds_record(*, results: Sequence[RefundResult], actor: Actor, model: type[LedgerEntry]) -> None:
    """Record many gateway answers in one transaction (the suspension's batches). Entries that are
    already final are left alone; a failed one goes through :func:`refund_record`."""
    failed = [r for r in results if r.state == "failed"]
    moving = {r.out_refund_no: r for r in results if r.state != "failed"}
    now = _now()
    with transaction.atomic():
        rows = list(
            model.objects.select_for_update()
            .filter(public_id__in=[uuid.UUID(n) for n in moving], state__in=OPEN_REFUND_STATES)
            .order_by("pk")
        )
        for row in rows:
            result = moving[str(row.public_id)]
            row.state = Refund.State.SUCCEEDED if result.state == "succeeded" else Refund.State.PROCESSING
            row.provider_refund_id = result.provider_refund_id[:64] or row.provider_refund_id
            row.provider_state = result.provider_state[:20]
            row.last_error = ""
            if row.state == Refund.State.SUCCEEDED:
                row.settled_at = result.settled_at or now
        model.objects.bulk_update(
            rows, ["state", "provider_refund_id", "provider_state", "last_error", "settled_at"], batch_size=1000
        )
    for result in failed:
        refund = model.objects.filter(public_id=uuid.UUID(result.out_refund_no)).first()
        if refund is not None:
            refund_record(refund_id=refund.pk, result=result, actor=actor, model=model)


OPEN_REFUND_STATES = (Refund.State.REQUESTED, Refund.State.PROCESSING)


def refund_record(
    *, refund_id: int, result: RefundResult, actor: Actor, model: type[Refund] | type[EventRefund] = Refund
) -> str:
    """Apply the gateway's word on one refund (its answer, a query or a notification), exactly once:
    the entry is locked and only an open entry moves. A failed refund no longer counts against its
    payment and is flagged for an operator (the card stays ended; the money must be returned
    another way). Returns the outcome: ``succeeded``, ``processing``, ``failed`` or ``unchanged``."""
    with transaction.atomic():
        refund = model.objects.select_for_update().select_related("payment").get(pk=refund_id)
        if refund.state not in OPEN_REFUND_STATES:
            return "unchanged"
        before = {"state": refund.state}
        refund.provider_refund_id = result.provider_refund_id[:64] or refund.provider_refund_id
        refund.provider_state = result.provider_state[:20]
        refund.last_error = ""
        if result.state == "processing":
            if refund.state == Refund.State.PROCESSING:
                return "unchanged"
            refund.state = Refund.State.PROCESSING
        elif result.state == "succeeded":
            refund.state = Refund.State.SUCCEEDED
            refund.settled_at = result.settled_at or _now()
        else:
            refund.state = Refund.State.FAILED
            refund.settled_at = _now()
            _payment_model(model).objects.filter(pk=refund.payment_id).update(
                refunded_fen=F("refunded_fen") - refund.amount_fen
            )
            issue_record(
                kind=ReconciliationIssue.Kind.REFUND_FAILED,
                provider=refund.payment.provider,
                out_trade_no=str(refund.payment.public_id),
                out_refund_no=str(refund.public_id),
                detail={"amount_fen": refund.amount_fen, "gateway": result.provider_state},
            )
        refund.save(update_fields=["state", "provider_refund_id", "provider_state", "last_error", "settled_at"])
        audit_record(
            actor=actor,
            action=f"members.refund_{refund.state}",
            obj=refund.payment,
            before=before,
            after={"refund": str(refund.public_id), "state": refund.state, "gateway": result.provider_state},
        )
        return str(refund.state)


#: A refund still ``requested`` this long after it was written is asked about (its submitter died).
REFUND_RETRY_AFTER = timedelta(minutes=1)


def refunds_reconcile(*, now: datetime | None = None) -> dict[str, int]:
    """Settle open refunds of both ledgers (the card's and the events') from the gateway: a
    ``requested`` one the gateway never saw is sent again under the same number, any other takes the
    gateway's state (query API)."""
    now = now or _now()
    counts: dict[str, int] = defaultdict(int)
    _reconcile_ledger(Refund, now=now, counts=counts)
    _reconcile_ledger(EventRefund, now=now, counts=counts)
    return dict(counts)


def _reconcile_ledger(model: type[LedgerEntry], *, now: datetime, counts: dict[str, int]) -> None:
    stuck = (
        model.objects.filter(state__in=OPEN_REFUND_STATES, created_at__lt=now - REFUND_RETRY_AFTER)
        .select_related("payment")
        .order_by("pk")
    )
    for refund in stuck.iterator(chunk_size=200):
        counts[_reconcile_one(refund)] += 1


def _reconcile_one(refund: LedgerEntry) -> str:
    model = type(refund)
    provider = get_provider(refund.payment.provider)
    try:
        try:
            result = provider.refund_query(
                out_trade_no=str(refund.payment.public_id), out_refund_no=str(refund.public_id)
            )
        except DomainError as exc:
            if exc.code != "refund_unknown" or refund.state != Refund.State.REQUESTED:
                raise
            return str(refunds_submit(refunds=[refund])[0].state)
        return refund_record(refund_id=refund.pk, result=result, actor="system:reconcile", model=model)
    except DomainError as exc:
        model.objects.filter(pk=refund.pk).update(last_error=exc.code[:200])
        logger.warning("reconciling refund %s: %s", refund.public_id, exc.code)
        return exc.code


def refund_retry(*, refund: LedgerEntry, actor: Actor) -> LedgerEntry:
    """An operator sends a failed refund again (of either ledger): a new entry for the same amount
    and reason under the request key ``retry:<failed entry>`` (so a failed entry is retried once,
    however often the action is clicked), counted against the payment again, and the failed entry's
    reconciliation issue resolved. The gateway is called after commit.

    Raises ``refund_not_failed``, ``refund_already_retried``, ``refund_exceeds_paid``."""
    model = type(refund)
    payment_model = _payment_model(model)
    request_key = f"retry:{refund.public_id}"
    with transaction.atomic():
        failed = model.objects.select_for_update().get(pk=refund.pk)
        if failed.state != Refund.State.FAILED:
            raise DomainError("refund_not_failed")
        payment = payment_model.objects.select_for_update().get(pk=failed.payment_id)
        if model.objects.filter(payment_id=payment.pk, request_key=request_key).exists():
            raise DomainError("refund_already_retried")
        copied = {name: getattr(failed, name) for name in ("subscription_id", "kind") if hasattr(failed, name)}
        if model is Refund:
            copied["actor_label"] = actor_label(actor)[:120]
        try:
            with transaction.atomic():
                entry = model.objects.create(
                    public_id=refund_id(request_key, payment),
                    payment_id=payment.pk,
                    amount_fen=failed.amount_fen,
                    currency=failed.currency,
                    reason=failed.reason,
                    request_key=request_key,
                    **copied,
                )
                payment_model.objects.filter(pk=payment.pk).update(refunded_fen=F("refunded_fen") + failed.amount_fen)
        except IntegrityError as exc:
            if violates(exc, f"{model._meta.db_table}_payment_request_key"):
                raise DomainError("refund_already_retried") from exc
            raise DomainError("refund_exceeds_paid") from exc
        ReconciliationIssue.objects.filter(
            kind=ReconciliationIssue.Kind.REFUND_FAILED, out_refund_no=str(failed.public_id), resolved_at__isnull=True
        ).update(resolved_at=_now(), resolved_by=actor_label(actor)[:120])
        audit_record(
            actor=actor,
            action="members.refund_retried",
            obj=payment,
            reason=failed.reason,
            before={"refund": str(failed.public_id), "state": failed.state},
            after={"refund": str(entry.public_id), "amount_fen": entry.amount_fen},
        )
    return refunds_submit(refunds=[entry])[0]


def issue_record(
    *, kind: str, provider: str, out_trade_no: str, out_refund_no: str = "", detail: dict[str, Any], day: Any = None
) -> bool:
    """Flag a difference for an operator, once per (kind, order, refund). Returns whether it is new."""
    _issue, created = ReconciliationIssue.objects.get_or_create(
        kind=kind,
        provider=provider,
        out_trade_no=out_trade_no[:64],
        out_refund_no=out_refund_no[:64],
        defaults={"detail": detail, "day": day},
    )
    if created:
        logger.warning("reconciliation issue %s: %s %s %s", kind, out_trade_no, out_refund_no, detail)
    return created


def payment_refund_flagged(*, payment_id: int, reason: str, actor: Actor) -> Refund:
    """Return the money of a paid payment that was flagged (e.g. paid after its order closed)
    without touching the subscription. Raises ``subscription_not_paid`` or ``refund_nothing_due``."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.flagged_at is None or payment.state != Payment.State.PAID:
            raise DomainError("subscription_not_paid")
        remaining = payment.amount_fen - payment.refunded_fen
        if remaining <= 0:
            raise DomainError("refund_nothing_due")
        subscription = _locked_subscription(payment.subscription_id)
        refunds = _refund_write(
            subscription=subscription,
            allocations=[(payment, remaining)],
            kind=Refund.Kind.FULL,
            reason=reason or "flagged payment returned",
            actor=actor,
            request_key=f"flagged:{payment.public_id}",
        )
    return refunds_submit(refunds=refunds)[0]
