"""The daily bill check: each gateway's bill of one day against our ledgers (the cards' payments and
refunds, and those of paid event places), every difference flagged for an operator
(``ReconciliationIssue``, once per difference however often it runs).

Stuck payments and refunds are settled from the gateways' query APIs by
``checkout.payments_reconcile`` and ``refunds.refunds_reconcile``; this job finds what those
cannot: money the gateway moved that the ledger lacks, and ledger entries the gateway never
booked, or booked for another amount."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction

from core.errors import DomainError
from core.services import Actor, actor_label, audit_record

from ..models import EventPayment, EventRefund, Payment, ReconciliationIssue, Refund
from ..payments import default_provider_code, get_provider
from .common import _now
from .refunds import issue_record

logger = logging.getLogger(__name__)

#: The gateways cut their daily bills in China Standard Time.
BILL_TZ = ZoneInfo("Asia/Shanghai")

Key = tuple[str, str, str]  # (kind, out_trade_no, out_refund_no)


def bill_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=BILL_TZ)
    return start, start + timedelta(days=1)


#: The ledgers a gateway's bill is compared with: cards and paid event places (their orders share the
#: gateway account and its bill).
PAYMENT_LEDGERS: tuple[type[Payment] | type[EventPayment], ...] = (Payment, EventPayment)
REFUND_LEDGERS: tuple[type[Refund] | type[EventRefund], ...] = (Refund, EventRefund)


def _ledger(provider_code: str, day: date) -> dict[Key, int]:
    start, end = bill_day_bounds(day)
    lines: dict[Key, int] = {}
    for payments in PAYMENT_LEDGERS:
        paid = payments.objects.filter(provider=provider_code, paid_at__gte=start, paid_at__lt=end)
        for public_id, amount in paid.values_list("public_id", "amount_fen"):
            lines[("payment", str(public_id), "")] = amount
    for ledger in REFUND_LEDGERS:
        refunds = ledger.objects.filter(
            payment__provider=provider_code, state="succeeded", settled_at__gte=start, settled_at__lt=end
        )
        for public_id, trade_no, amount in refunds.values_list("public_id", "payment__public_id", "amount_fen"):
            lines[("refund", str(trade_no), str(public_id))] = amount
    return lines


def bill_reconcile(*, day: date | None = None, provider_codes: list[str] | None = None) -> dict[str, int]:
    """Compare the bill of ``day`` (default: yesterday, China time) of each gateway with the ledger.
    Returns counts per outcome (``matched`` and each issue kind newly flagged)."""
    day = day or (_now().astimezone(BILL_TZ).date() - timedelta(days=1))
    if provider_codes is None:
        start, end = bill_day_bounds(day)
        used_codes = {
            code
            for payments in PAYMENT_LEDGERS
            for code in payments.objects.filter(paid_at__gte=start - timedelta(days=1), paid_at__lt=end)
            .values_list("provider", flat=True)
            .distinct()
        }
        provider_codes = sorted(code for code in {default_provider_code(), *used_codes} if code)
    counts: dict[str, int] = defaultdict(int)
    for code in provider_codes:
        try:
            lines = get_provider(code).trade_bill(day=day)
        except DomainError as exc:  # no adapter configured for it, or the gateway is down: try again later
            logger.warning("bill of %s for %s not read: %s", code, day, exc.code)
            counts[exc.code] += 1
            continue
        bill: dict[Key, int] = {}
        for line in lines:
            key = (line.kind, line.out_trade_no, line.out_refund_no)
            bill[key] = bill.get(key, 0) + line.amount_fen
        ledger = _ledger(code, day)
        for key in sorted(bill.keys() | ledger.keys()):
            kind, trade_no, refund_no = key
            if key in bill and key in ledger and bill[key] == ledger[key]:
                counts["matched"] += 1
                continue
            if key not in ledger:
                issue = ReconciliationIssue.Kind.NOT_IN_LEDGER
            elif key not in bill:
                issue = ReconciliationIssue.Kind.NOT_IN_BILL
            else:
                issue = ReconciliationIssue.Kind.AMOUNT_DIFFERS
            detail = {"line": kind, "bill_fen": bill.get(key), "ledger_fen": ledger.get(key), "day": day.isoformat()}
            if issue_record(
                kind=issue, provider=code, out_trade_no=trade_no, out_refund_no=refund_no, detail=detail, day=day
            ):
                counts[str(issue)] += 1
    return dict(counts)


def issues_resolve(*, issue_ids: list[int], actor: Actor) -> int:
    """An operator settled these differences: mark them resolved (audited). Returns how many changed."""
    with transaction.atomic():
        issues = list(
            ReconciliationIssue.objects.select_for_update().filter(pk__in=issue_ids, resolved_at__isnull=True)
        )
        now = _now()
        for issue in issues:
            issue.resolved_at = now
            issue.resolved_by = actor_label(actor)[:120]
            issue.save(update_fields=["resolved_at", "resolved_by"])
            audit_record(actor=actor, action="members.reconciliation_issue_resolved", obj=issue, after=issue.detail)
    return len(issues)
