"""The writes of the operations overview: the nightly roll-up of redemption totals per city and local day,
and the snapshot of the slow-moving member figures."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from curation.models import OpsDailyTotal, OpsSnapshot
from curation.standing.services import evaluation_day
from members.selectors import member_kpis
from redemptions.counter.selectors import confirmed_totals_by_city_day


def ops_rollup(*, days: int = 3, today: date | None = None) -> int:
    """Recompute the daily redemption totals per city for the ``days`` local days before ``today``
    (one GROUP BY over the redemptions of those days) and upsert them. Returns the rows written.

    The nightly job recomputes the last three days (voids inside the void window are caught);
    ``days=400`` backfills a year. It also stores the slow-moving member figures (``OpsSnapshot``).
    """
    today = today or evaluation_day()
    first = today - timedelta(days=days)
    now = timezone.now()
    totals = [OpsDailyTotal(**row, computed_at=now) for row in confirmed_totals_by_city_day(first=first, end=today)]
    kpis = member_kpis(now=now)
    with transaction.atomic():  # readers see the old totals or the new ones, never a gap
        OpsDailyTotal.objects.filter(local_date__gte=first, local_date__lt=today).delete()
        OpsDailyTotal.objects.bulk_create(totals, batch_size=1000)
        OpsSnapshot.objects.update_or_create(day=today, defaults={"figures": kpis, "computed_at": now})
    return len(totals)
