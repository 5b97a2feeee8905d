"""The programme suspension: stop sales, then end and refund every card in set-based batches."""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Least
from django.utils.translation import gettext_lazy as _

from core import webhooks
from core.errors import DomainError
from core.models import AuditEntry, Notification, User
from core.services import Actor, actor_label, audit_record, transition_check

from .. import errors  # noqa: F401  (registers the codes)
from ..models import (
    ENTITLED_STATES,
    Payment,
    Programme,
    Refund,
    Subscription,
    SubscriptionPeriod,
    SuspensionRefund,
)
from .checkout import _payment_close
from .common import MEMBERSHIP_URL, TRANSITIONS, S, _now, _programme_tz, programme_get, yuan
from .refunds import REFUND_NAMESPACE, amount_due, refunds_submit

# --- programme suspension -----------------------------------------------------------------

logger = logging.getLogger(__name__)


def programme_suspend(*, effective_date: date, refund_mode: str, reason: str, actor: Actor) -> Programme:
    """Stop new sales at once and record when cards end and how they are refunded. Running
    it again with the same settings is a no-op (so an interrupted run can be resumed);
    other settings are refused with ``programme_already_suspended``."""
    if refund_mode not in Programme.RefundMode.values:
        raise DomainError("validation_failed")
    with transaction.atomic():
        programme_get()
        programme = Programme.objects.select_for_update().get(pk=1)
        if programme.suspended_at is not None:
            if programme.effective_date != effective_date or programme.refund_mode != refund_mode:
                raise DomainError(
                    "programme_already_suspended",
                    effective_date=str(programme.effective_date),
                    mode=programme.refund_mode,
                )
            return programme
        programme.sales_open = False
        programme.suspended_at = _now()
        programme.effective_date = effective_date
        programme.effective_at = datetime.combine(effective_date, time.min, tzinfo=_programme_tz())
        programme.refund_mode = refund_mode
        programme.reason = reason
        programme.save()
        webhooks.emit(
            "programme.suspended",
            {"effective_date": effective_date, "effective_at": programme.effective_at, "refund_mode": refund_mode},
        )
        audit_record(
            actor=actor,
            action="members.programme_suspended",
            obj=programme,
            reason=reason,
            after={"effective_date": effective_date, "refund_mode": refund_mode},
        )
    return programme


def programme_preview(*, effective_date: date, refund_mode: str, reason: str) -> Programme:
    """An unsaved programme with these settings (for a dry run)."""
    return Programme(
        effective_date=effective_date,
        effective_at=datetime.combine(effective_date, time.min, tzinfo=_programme_tz()),
        refund_mode=refund_mode,
        reason=reason,
        suspended_at=_now(),
    )


@dataclass
class SuspensionReport:
    processed: int = 0
    refunded_count: int = 0
    refunded_fen: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    last_id: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "processed": self.processed,
            "refunded_count": self.refunded_count,
            "refunded_fen": self.refunded_fen,
            "failures": [{"subscription": s, "code": c} for s, c in self.failures],
        }


def suspension_remaining() -> Any:
    """Subscriptions the suspension still has to process (a queryset of ids, by id)."""
    return (
        Subscription.objects.filter(state__in=ENTITLED_STATES, suspension__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def suspension_close_pending(*, actor: Actor) -> int:
    """Close every order still awaiting payment (sales are closed)."""
    closed = 0
    pending = Payment.objects.filter(state=Payment.State.PENDING, flagged_at__isnull=True).values_list("pk", flat=True)
    for pk in list(pending.order_by("pk")):
        _payment_close(pk, actor=actor, reason="programme suspended")
        closed += 1
    return closed


def _insert_rows(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert many rows: PostgreSQL's COPY (no model instances, no SQL text to build), or
    ``bulk_create`` on the embedded SQLite default."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        attnames = [model._meta.get_field(c).attname for c in columns]  # type: ignore[union-attr]
        model._default_manager.bulk_create([model(**dict(zip(attnames, row, strict=True))) for row in rows], 500)
        return
    meta = model._meta
    names = ", ".join(connection.ops.quote_name(str(meta.get_field(c).column)) for c in columns)  # type: ignore[union-attr]
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {meta.db_table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def suspension_batch(
    *, programme: Programme, ids: Sequence[int], actor: Actor, dry_run: bool = False
) -> SuspensionReport:
    """Suspend and refund one batch of subscriptions in one transaction, with set-based writes.

    Each subscription gets its ``SuspensionRefund`` row (unique) in the same transaction as its
    refund rows, payment counters, new state, audit entry and notice, so a batch is done entirely
    or not at all, and never twice. Rows are read as tuples and written with COPY / one UPDATE
    per distinct value: the per-row cost is what makes 100,000 subscriptions fit in a minute."""
    assert programme.effective_at is not None and programme.effective_date is not None
    effective_at = programme.effective_at
    report = SuspensionReport(last_id=max(ids, default=0))
    now = _now()
    at = max(effective_at, now)
    ends_now = effective_at <= now
    label = actor_label(actor)[:120]
    actor_id = actor.pk if isinstance(actor, User) else None
    request_key = f"suspension:{programme.suspended_at:%Y%m%dT%H%M%S}" if programme.suspended_at else "suspension"
    reason = programme.reason or "programme suspended"
    mode = programme.refund_mode
    with transaction.atomic():
        subscriptions = list(
            Subscription.objects.select_for_update(of=("self",))
            .filter(pk__any=list(ids), suspension__isnull=True, state__in=ENTITLED_STATES)
            .order_by("pk")
            .values_list(
                "pk", "public_id", "state", "period_start", "period_end", "user_id", "user__language", "user__public_id"
            )
        )
        if not subscriptions:
            return report
        subscription_ids = [row[0] for row in subscriptions]
        payments_of: dict[int, list[tuple[int, uuid.UUID, int, int, str]]] = defaultdict(list)
        # Only the subscription index in the WHERE clause (state is checked here): the plan
        # must not depend on fresh statistics of the payment states during a mass update.
        payments = (
            Payment.objects.select_for_update()
            .filter(subscription__pk__any=subscription_ids)
            .order_by("pk")
            .values_list("pk", "public_id", "subscription_id", "amount_fen", "refunded_fen", "currency", "state")
        )
        for pk, public_id, subscription_id, amount, refunded, currency, payment_state in payments:
            if payment_state == Payment.State.PAID and refunded < amount:
                payments_of[subscription_id].append((pk, public_id, amount, refunded, currency))
        periods = dict(
            (payment_id, (start, end))
            for payment_id, start, end in SubscriptionPeriod.objects.filter(
                subscription__pk__any=subscription_ids, payment__isnull=False
            ).values_list("payment_id", "start", "end")
        )
        subscription_type = ContentType.objects.get_for_model(Subscription).pk
        texts: dict[str, tuple[str, str, str]] = {}
        refunds, markers, audits, notices = [], [], [], []
        increments: dict[int, list[int]] = defaultdict(list)
        by_state: dict[str, list[int]] = defaultdict(list)
        events: list[tuple[str, dict[str, Any]]] = []
        for pk, public_id, state, start, end, user_id, language, member_public_id in subscriptions:
            assert start is not None and end is not None  # entitled states always have a period
            total = 0
            for payment_pk, payment_public_id, amount, refunded, currency in payments_of[pk]:
                period_start, period_end = periods.get(payment_pk, (None, None))
                due = amount_due(
                    amount_fen=amount, refunded_fen=refunded, start=period_start, end=period_end, mode=mode, at=at
                )
                if due <= 0:
                    continue
                refund_public_id = uuid.uuid5(REFUND_NAMESPACE, f"{request_key}:{payment_public_id}")
                refunds.append([refund_public_id, payment_pk, pk, mode, due, currency, reason, request_key, label])
                increments[due].append(payment_pk)
                total += due
            if state == S.TRIALING:
                target = S.EXPIRED if ends_now else S.TRIALING
            else:
                target = S.REFUNDED if ends_now else S.CANCEL_AT_PERIOD_END
            if target != state:
                transition_check(model="subscription", current=state, target=target, allowed=TRANSITIONS)
            by_state[target].append(pk)
            new_end = min(end, effective_at) if effective_at > start else end
            markers.append((pk, total, now))
            audits.append(
                (
                    now,
                    actor_id,
                    label,
                    f"members.subscription_{target}",
                    subscription_type,
                    str(pk),
                    f"subscription {public_id}",
                    reason,
                    json.dumps({"state": state, "period_end": end.isoformat()}),
                    json.dumps({"state": target, "period_end": new_end.isoformat(), "refunded_fen": total}),
                )
            )
            notices.append(_suspension_notice(user_id, language, total, programme, texts, now))
            if target != state:  # the per-subscription event, as a single change sends it
                events.append(
                    (
                        f"subscription.{target}",
                        {
                            "subscription": public_id,
                            "member": member_public_id,
                            "state": target,
                            "period_end": new_end,
                            "refunded_fen": total,
                            "reason": "programme_suspended",
                        },
                    )
                )
            report.processed += 1
            if total:
                report.refunded_count += 1
                report.refunded_fen += total
        if dry_run:
            transaction.set_rollback(True)
            return report
        # The ledger entries are written ``requested`` here; the gateway is called after commit.
        for row in refunds:
            row.extend(["", Refund.State.REQUESTED, "", 0, "", now])
        refund_columns = ["public_id", "payment", "subscription", "kind", "amount_fen", "currency", "reason"]
        refund_columns += ["request_key", "actor_label", "provider_refund_id", "state", "provider_state"]
        refund_columns += ["attempts", "last_error", "created_at"]
        _insert_rows(Refund, refund_columns, refunds)
        # Counters go up with F() (the CHECK guards each row), one UPDATE per distinct amount;
        # subscriptions change with one UPDATE per target state.
        for amount, payment_ids in increments.items():
            Payment.objects.filter(pk__any=payment_ids).update(refunded_fen=F("refunded_fen") + amount)
        for new_state, state_ids in by_state.items():
            Subscription.objects.filter(pk__any=state_ids).update(
                state=new_state,
                auto_renew=False,
                ended_at=now if ends_now else None,
                period_end=Case(
                    When(period_start__lt=effective_at, then=Least(F("period_end"), Value(effective_at))),
                    default=F("period_end"),
                ),
            )
        _insert_rows(SuspensionRefund, ["subscription", "refunded_fen", "created_at"], markers)
        # One audit row per subscription with the fields audit_record() writes (it inserts one
        # row per call: too slow for 100,000 subscriptions).
        audit_columns = ["at", "actor", "actor_label", "action", "object_type", "object_id", "object_repr"]
        _insert_rows(AuditEntry, [*audit_columns, "reason", "before", "after"], audits)
        _insert_rows(Notification, ["public_id", "user", "kind", "title", "body", "url", "created_at"], notices)
        webhooks.emit_many(events)  # one INSERT of events and one of deliveries for the batch
        notice_ids = [str(row[0]) for row in notices]
        from ..tasks import send_notice_emails

        transaction.on_commit(lambda: send_notice_emails.delay(notice_ids))
    if refunds:
        # After commit, outside the transaction: a crash here leaves ``requested`` entries that the
        # reconciliation job sends again under the same numbers.
        written = Refund.objects.filter(
            subscription__pk__any=subscription_ids, request_key=request_key, state=Refund.State.REQUESTED
        ).select_related("payment")
        failed = [r for r in refunds_submit(refunds=list(written)) if r.state == Refund.State.FAILED]
        if failed:  # refused by the gateway: the card is processed, the refund flagged for an operator
            totals = dict((row[0], row[1]) for row in markers)
            names = dict(
                Subscription.objects.filter(pk__any=[r.subscription_id for r in failed]).values_list("pk", "public_id")
            )
            for refund in failed:
                report.failures.append((str(names[refund.subscription_id]), refund.provider_state or "refund_failed"))
                report.refunded_fen -= refund.amount_fen
                totals[refund.subscription_id] -= refund.amount_fen
                if totals[refund.subscription_id] == 0:
                    report.refunded_count -= 1
    return report


def _suspension_notice(
    user_id: int,
    language: str,
    total: int,
    programme: Programme,
    texts: dict[str, tuple[str, str, str]],
    now: datetime,
) -> tuple[uuid.UUID, int, str, str, str, str, datetime]:
    """The member's notice as a row, with the texts translated once per language and batch."""
    from django.utils import translation

    if language not in texts:
        with translation.override(language):
            texts[language] = (
                str(_("RedCard is pausing: your card ends on %(date)s")) % {"date": programme.effective_date},
                str(_("We are refunding %(amount)s to you; it is on its way back by the way you paid.")),
                str(_("Thank you for trying RedCard.")),
            )
    title, refunded, thanks = texts[language]
    body = refunded % {"amount": yuan(total)} if total else thanks
    return (uuid.uuid4(), user_id, "members.programme_suspended", title, body, MEMBERSHIP_URL, now)


def suspension_run(
    *,
    programme: Programme,
    actor: Actor,
    batch_size: int = 1000,
    dry_run: bool = False,
    progress: Any = None,
    fail_after_batches: int | None = None,
) -> SuspensionReport:
    """Stream every subscription still to process by keyset pagination, ``batch_size`` at a
    time. A failing batch is retried one subscription at a time so that one bad row does not
    hold back the others; failures are reported and retried by running again."""
    report = SuspensionReport()
    after = 0
    batches = 0
    while True:
        # Keyset over the primary key alone (the batch itself filters the states), so the scan
        # stays an index range scan however the state statistics drift during the run.
        ids = list(Subscription.objects.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        after = ids[-1]
        if fail_after_batches is not None and batches >= fail_after_batches:
            raise RuntimeError(f"simulated crash after {batches} batches")
        try:
            part = suspension_batch(programme=programme, ids=ids, actor=actor, dry_run=dry_run)
        except (DomainError, IntegrityError) as exc:
            logger.warning("suspension batch after %s failed (%s); retrying one by one", ids[0], exc)
            part = SuspensionReport()
            for pk in ids:
                try:
                    one = suspension_batch(programme=programme, ids=[pk], actor=actor, dry_run=dry_run)
                except (DomainError, IntegrityError) as one_exc:
                    public_id = Subscription.objects.filter(pk=pk).values_list("public_id", flat=True).first()
                    part.failures.append((str(public_id), getattr(one_exc, "code", one_exc.__class__.__name__)))
                    continue
                part.processed += one.processed
                part.refunded_count += one.refunded_count
                part.refunded_fen += one.refunded_fen
        report.processed += part.processed
        report.refunded_count += part.refunded_count
        report.refunded_fen += part.refunded_fen
        report.failures.extend(part.failures)
        batches += 1
        if progress is not None:
            progress(len(ids), report)
    if not dry_run:
        Programme.objects.filter(pk=1).update(last_report={**report.as_dict(), "finished_at": _now().isoformat()})
    return report


def programme_suspend_and_refund(
    *,
    effective_date: date,
    refund_mode: str,
    reason: str,
    actor: Actor,
    batch_size: int = 1000,
    progress: Any = None,
) -> SuspensionReport:
    """The whole suspension (the admin action's task and the command without a progress bar)."""
    programme = programme_suspend(effective_date=effective_date, refund_mode=refund_mode, reason=reason, actor=actor)
    suspension_close_pending(actor=actor)
    return suspension_run(programme=programme, actor=actor, batch_size=batch_size, progress=progress)
