"""The counter's outbox: side effects of a confirmation or a void, done after the money has committed.

The confirm (or void) transaction writes one ``RedemptionOutbox`` row and nothing else of marketing or
messaging; a bug in attribution, a webhook subscriber's settings or the notice cannot refuse a payment.
After the commit the row is processed exactly once:

- ``outbox_process`` locks up to ``BATCH`` pending rows (``FOR UPDATE SKIP LOCKED``: concurrent processors
  never take the same row), writes their side effects (attribution credit or its reversal, the webhook
  event and its deliveries, the member's "you saved" notice) and marks them done, all in one transaction. The
  side effects are written set-wise, a few statements for the whole batch whatever its size
  (``_apply_many``: one read of the touches and one INSERT of credits, one DELETE of the voids' credits, one
  read of the endpoints and one of the shops' grants, one INSERT of events and one of deliveries sent by one
  task on commit, one INSERT of notices, one UPDATE marking the rows done), in one savepoint. If that raises
  (a bad row, a bug), the savepoint is rolled back and the rows are applied one by one (``_apply``), each in
  its own savepoint: a row whose side effects raise is rolled back, counted (``attempts``, ``last_error``)
  and left pending for the catch-up; the rest of the batch goes on. A processor that dies mid-batch leaves
  every row of the batch pending and none of its side effects; the next run does them once. Credits are
  idempotent besides (``ON CONFLICT DO NOTHING``).
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
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import OperationalError as BrokerUnavailable

from core.cache import UNAVAILABLE as REDIS_UNAVAILABLE
from core.services import notify, notify_many
from core.sql import Write, insert_write
from core.webhooks import emit, emit_many
from merchants.selectors import granted_application_ids, granted_applications

from ..attribution.services import credit_redemption, credit_redemptions, reverse_credit, reverse_credits
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
    already done are not touched again. The batch is applied set-wise (``_apply_many``) in one savepoint; if
    that raises, it is rolled back and the rows are applied one by one, each in its own savepoint, a failing
    one counted and left pending."""
    with transaction.atomic():
        pending = RedemptionOutbox.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            done_at__isnull=True
        )
        if entry_ids is not None:
            pending = pending.filter(pk__in=list(entry_ids))
        if not retry:
            pending = pending.filter(attempts=0)
        rows = list(pending.select_related("redemption__merchant", "redemption__member").order_by("pk")[:batch])
        done = _apply_batch(rows)
        if done:
            RedemptionOutbox.objects.filter(pk__in=done).update(done_at=timezone.now())
    return len(done)


def _apply_batch(rows: Sequence[RedemptionOutbox]) -> list[int]:
    """Apply ``rows`` (all of them set-wise, else one by one); the ids of those done."""
    if not rows:
        return []
    try:
        with transaction.atomic():
            _apply_many(rows)
    except Exception:  # a bad row (or a bug): find it row by row, the others still go through
        logger.warning("outbox batch of %s rows failed set-wise; applying them one by one", len(rows), exc_info=True)
    else:
        return [row.pk for row in rows]
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
    return done


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
    """One row's side effects (the fallback of ``_apply_many``, which does the same for a whole batch)."""
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


def _apply_many(rows: Sequence[RedemptionOutbox]) -> None:
    """The side effects of ``rows`` as ``_apply`` writes them one by one, in a few statements for them all: one
    DELETE of the voids' credits, one read of the confirmations' touches and one INSERT of their credits, one
    read of the endpoints and one of the shops' grants, one INSERT of webhook events and one of deliveries (sent
    by one task on commit), one INSERT of notices."""
    unknown = [row.event for row in rows if row.event not in RedemptionOutbox.Event.values]
    if unknown:
        raise ValueError(f"unknown outbox event {unknown[0]!r}")
    confirmed = [row.redemption for row in rows if row.event == RedemptionOutbox.Event.CONFIRMED]
    reverse_credits(redemption_ids=[row.redemption_id for row in rows if row.event == RedemptionOutbox.Event.VOIDED])
    # A redemption voided before its row was processed credits nothing (its void row reverses).
    credit_redemptions(redemptions=[r for r in confirmed if r.status == Redemption.Status.CONFIRMED])
    grants = granted_application_ids(merchant_ids={row.redemption.merchant_id for row in rows})
    emit_many(
        [(f"redemption.{row.event}", _payload(row.redemption, row.event)) for row in rows],
        applications=[grants.get(row.redemption.merchant_id, set()) for row in rows],
    )
    notify_many(
        kind=NOTICE_KIND,
        title=NOTICE_TITLE,
        body=NOTICE_BODY,
        url=NOTICE_URL,
        notices=[(r.member, _notice_context(r), r.confirmed_at) for r in confirmed],
    )


def _emit(redemption: Redemption, event: str) -> None:
    """The webhook to partner apps the shop granted access to (its POS, its booking platform); sent on
    commit by ``core.webhooks``. One read (endpoints) when nobody listens."""
    emit(
        event,
        _payload(redemption, event.removeprefix("redemption.")),
        applications=granted_applications(merchant=redemption.merchant),
    )


def _payload(redemption: Redemption, event: str) -> dict[str, Any]:
    """The webhook's data for ``event`` (an outbox row's event). It states the redemption as it was at the
    event (a confirmation processed after a void still says confirmed)."""
    confirmed = event == RedemptionOutbox.Event.CONFIRMED
    return {
        "redemption": str(redemption.public_id),
        "merchant": str(redemption.merchant.public_id),
        "channel": redemption.channel,
        "status": Redemption.Status.CONFIRMED if confirmed else redemption.status,
        "bill_fen": redemption.bill_fen,
        "discount_fen": redemption.discount_fen,
        "charge_fen": redemption.charge_fen,
        "currency": redemption.currency,
        "local_date": redemption.local_date,
        "confirmed_at": redemption.confirmed_at,
        "voided_at": None if confirmed else redemption.voided_at,
    }


NOTICE_KIND = "redemptions.confirmed"
NOTICE_TITLE = _("You saved ¥%(saved)s at %(shop)s")
NOTICE_BODY = _("Bill ¥%(bill)s, paid ¥%(charge)s.")
NOTICE_URL = "/r/mine/"


def member_notice_redeemed(*, redemption: Redemption) -> None:
    """Tell the member what they saved (in-app notice; no e-mail at every coffee)."""
    notify(
        user=redemption.member,
        kind=NOTICE_KIND,
        title=NOTICE_TITLE,
        body=NOTICE_BODY,
        url=NOTICE_URL,
        email=False,
        at=redemption.confirmed_at,
        context=_notice_context(redemption),
    )


def _notice_context(redemption: Redemption) -> dict[str, str]:
    return {
        "saved": f"{redemption.discount_fen / 100:.2f}",
        "shop": redemption.merchant.name_zh,
        "bill": f"{redemption.bill_fen / 100:.2f}",
        "charge": f"{redemption.charge_fen / 100:.2f}",
    }
