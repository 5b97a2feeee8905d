"""The counter's outbox: side effects of a confirmation or a void, done after the money has committed.

The confirm (or void) transaction writes one ``RedemptionOutbox`` row and nothing else of marketing or
messaging; a bug in attribution, a webhook subscriber's settings or the notice cannot refuse a payment.
After the commit the row is processed exactly once:

- ``outbox_process`` locks pending rows (``FOR UPDATE SKIP LOCKED``: concurrent processors never take
  the same row), writes each row's side effects (attribution credit or its reversal, the webhook event
  and its deliveries, the member's "you saved" notice) and marks it done, all in one transaction. A
  processor that dies mid-batch leaves every row of the batch pending and none of its side effects; the
  next run does them once. A row whose side effects raise is rolled back to its savepoint, counted
  (``attempts``, ``last_error``) and left pending for the catch-up; the rest of the batch goes on.
- ``outbox_dispatch`` runs on commit: it queues one drain task for the Celery worker in production unless one
  is queued already (a flag in the cache), so that under load one task processes the rows of hundreds of
  commits in batches, and runs it inline where tasks run inline (the embedded default). It never raises
  into the request.
- ``outbox_catch_up`` (a periodic job, and the ``redemptions_outbox`` command) drains whatever a dead
  worker, a lost message or a failed attempt left.

Webhook *delivery* (the network call) stays with ``core.webhooks``: it is sent on the commit of the
batch and retried from its own rows; receivers deduplicate by the event's id.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import OperationalError as BrokerUnavailable

from core.cache import UNAVAILABLE as REDIS_UNAVAILABLE
from core.services import notify
from core.sql import Write, insert_write
from core.webhooks import emit
from merchants.selectors import granted_applications

from ..attribution.services import credit_redemption, reverse_credit
from ..models import Redemption, RedemptionOutbox

logger = logging.getLogger(__name__)

#: Rows per processing transaction.
BATCH = 200
#: The cache key that says a drain task is queued, and how long it says so at most (a lost task).
DRAIN_FLAG = "redemptions:outbox:drain"
DRAIN_FLAG_SECONDS = 10


def outbox_write(*, redemption: Redemption, event: str) -> RedemptionOutbox:
    """Record, inside the caller's money transaction, what must follow ``event`` after the commit, and
    schedule its processing on commit. One INSERT."""
    entry = RedemptionOutbox.objects.create(redemption=redemption, event=event, created_at=timezone.now())
    outbox_dispatch_on_commit(entry_id=entry.pk)
    return entry


def outbox_row_write(*, event: str, redemption_id: str = "{r}") -> Write:
    """``outbox_write`` as a ``Write`` for ``core.sql.writes_run``, for a redemption written in the same statement
    (``redemption_id``: the SQL of its id). The caller hands the returned id to ``outbox_dispatch_on_commit``."""
    return insert_write(RedemptionOutbox(event=event, created_at=timezone.now()), raw={"redemption_id": redemption_id})


def outbox_dispatch_on_commit(*, entry_id: int) -> None:
    transaction.on_commit(lambda: outbox_dispatch(entry_id=entry_id))


def outbox_dispatch(*, entry_id: int) -> None:
    """Have committed rows processed: one drain task at a time. The first commit that finds no drain queued
    (a flag in the cache, ``DRAIN_FLAG``) publishes one; the drain clears the flag before it reads the pending
    rows, so a row committed before that is read by it, and one committed after publishes the next drain.
    Under load one task then processes hundreds of rows in batches instead of one task per row. Inline where
    tasks run inline (the embedded default). Failures are logged, never raised: the redemption has
    committed, and the catch-up job finds the row (as it does when the cache cannot be reached)."""
    from .tasks import outbox_drain as task

    try:
        if cache.add(DRAIN_FLAG, entry_id, timeout=DRAIN_FLAG_SECONDS):
            task.delay()
    except (BrokerUnavailable, *REDIS_UNAVAILABLE) as exc:
        cache.delete(DRAIN_FLAG)
        logger.warning("outbox row %s not queued (%s); the catch-up job will process it", entry_id, exc)
    except Exception:  # inline processing: whatever happens, the payment stands
        logger.exception("outbox row %s failed inline; the catch-up job will retry it", entry_id)


def outbox_drain() -> int:
    """The worker's task: clear the drain flag, then process the pending rows not yet failed, in batches,
    until none is free (failed rows wait for the catch-up). Returns how many were done."""
    cache.delete(DRAIN_FLAG)
    return outbox_catch_up(retry=False)


def outbox_process(*, entry_ids: Sequence[int] | None = None, batch: int = BATCH, retry: bool = True) -> int:
    """Process pending rows (``entry_ids``, or the oldest ``batch``; with ``retry=False`` only those that never
    failed) in one transaction; return how many were done. Rows another processor holds are skipped, rows
    already done are not touched again."""
    with transaction.atomic():
        pending = RedemptionOutbox.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            done_at__isnull=True
        )
        if entry_ids is not None:
            pending = pending.filter(pk__in=list(entry_ids))
        if not retry:
            pending = pending.filter(attempts=0)
        rows = list(pending.select_related("redemption__merchant", "redemption__member").order_by("pk")[:batch])
        done: list[int] = []
        for row in rows:
            try:
                with transaction.atomic():
                    _apply(row)
            except Exception as exc:  # one row's failure must not stop the others or lose the row
                logger.exception("outbox row %s (%s) failed; left for the catch-up", row.pk, row)
                row.attempts += 1
                row.last_error = repr(exc)[:2000]
                row.save(update_fields=["attempts", "last_error"])
            else:
                done.append(row.pk)
        if done:
            RedemptionOutbox.objects.filter(pk__in=done).update(done_at=timezone.now())
    return len(done)


def outbox_catch_up(*, batch: int = BATCH, retry: bool = True) -> int:
    """Drain the outbox: batches until no pending row is free (failed rows wait for the next run).
    Returns how many rows were done."""
    total = 0
    while True:
        done = outbox_process(batch=batch, retry=retry)
        total += done
        if done < batch:
            return total


def _apply(row: RedemptionOutbox) -> None:
    redemption = row.redemption
    if row.event == RedemptionOutbox.Event.CONFIRMED:
        # A redemption voided before its row was processed credits nothing (its void row reverses).
        if redemption.status == Redemption.Status.CONFIRMED:
            credit_redemption(redemption=redemption)
        _emit(redemption, "redemption.confirmed")
        member_notice_redeemed(redemption=redemption)
    elif row.event == RedemptionOutbox.Event.VOIDED:
        reverse_credit(redemption=redemption)
        _emit(redemption, "redemption.voided")
    else:
        raise ValueError(f"unknown outbox event {row.event!r}")


def _emit(redemption: Redemption, event: str) -> None:
    """The webhook to partner apps the shop granted access to (its POS, its booking platform); sent on
    commit by ``core.webhooks``. One read (endpoints) when nobody listens. The payload states the
    redemption as it was at the event (a confirmation processed after a void still says confirmed)."""
    confirmed = event == "redemption.confirmed"
    merchant = redemption.merchant
    emit(
        event,
        {
            "redemption": str(redemption.public_id),
            "merchant": str(merchant.public_id),
            "channel": redemption.channel,
            "status": Redemption.Status.CONFIRMED if confirmed else redemption.status,
            "bill_fen": redemption.bill_fen,
            "discount_fen": redemption.discount_fen,
            "charge_fen": redemption.charge_fen,
            "currency": redemption.currency,
            "local_date": redemption.local_date,
            "confirmed_at": redemption.confirmed_at,
            "voided_at": None if confirmed else redemption.voided_at,
        },
        applications=granted_applications(merchant=merchant),
    )


def member_notice_redeemed(*, redemption: Redemption) -> None:
    """Tell the member what they saved (in-app notice; no e-mail at every coffee)."""
    notify(
        user=redemption.member,
        kind="redemptions.confirmed",
        title=_("You saved ¥%(saved)s at %(shop)s"),
        body=_("Bill ¥%(bill)s, paid ¥%(charge)s."),
        url="/r/mine/",
        email=False,
        at=redemption.confirmed_at,
        context={
            "saved": f"{redemption.discount_fen / 100:.2f}",
            "shop": redemption.merchant.name_zh,
            "bill": f"{redemption.bill_fen / 100:.2f}",
            "charge": f"{redemption.charge_fen / 100:.2f}",
        },
    )
