"""The counter's metrics (served by :mod:`core.metrics`): confirms and refusals as they happen, the outbox lag
read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

from .models import RedemptionOutbox

CONFIRMS = Counter("redcard_confirms", "Redemptions confirmed (counted after the commit), by channel.", ["channel"])
REFUSALS = Counter(
    "redcard_refusals", "Refused scans, claims and confirms, by refusal code and step.", ["code", "step"]
)


def gauges() -> Iterator[GaugeMetricFamily]:
    """The outbox: how many rows wait to be processed and how old the oldest one is (0 when none waits)."""
    pending = RedemptionOutbox.objects.filter(done_at__isnull=True).aggregate(
        oldest=Min("created_at"), rows=Count("id")
    )
    age = (timezone.now() - pending["oldest"]).total_seconds() if pending["oldest"] else 0.0
    lag = GaugeMetricFamily(
        "redcard_outbox_lag_seconds", "Age of the oldest unprocessed outbox row (confirm/void side effects)."
    )
    lag.add_metric([], max(0.0, age))
    rows = GaugeMetricFamily("redcard_outbox_pending", "Outbox rows not yet processed.")
    rows.add_metric([], pending["rows"])
    yield from (lag, rows)
