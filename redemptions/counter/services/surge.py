"""The surge detector: a shop's hourly rate far above its usual rate for that hour holds its promotion and tells
the curators; a curator clears the flag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import User
from core.roles import CURATOR
from core.selectors import people_in_role
from core.services import audit_record, notify
from merchants.selectors import merchant_by_pk
from merchants.services import merchant_set_promotion_hold

from ...models import Redemption, SurgeFlag

# --- Surge detector ---------------------------------------------------------------------------------

#: A merchant surges when its last hour exceeds this multiple of its trailing average for that hour...
SURGE_FACTOR = 3.0
#: ...and counts at least this many redemptions (a quiet shop going from 1 to 4 is not a surge).
SURGE_MINIMUM = 20
SURGE_WEEKS = 4


@dataclass(frozen=True)
class SurgeReading:
    merchant_id: int
    hour_count: int
    baseline: float

    @property
    def surging(self) -> bool:
        return self.hour_count >= SURGE_MINIMUM and self.hour_count > SURGE_FACTOR * self.baseline


def surge_readings(*, now: datetime) -> list[SurgeReading]:
    """For each merchant busy in the last hour: that count and its trailing 4-week average for the
    same hour (the same weekday and clock hour in each of the previous four weeks, so that a shop's
    usual Saturday lunch is its own baseline)."""
    start = now - timedelta(hours=1)
    busy = (
        Redemption.objects.filter(status=Redemption.Status.CONFIRMED, confirmed_at__gte=start, confirmed_at__lt=now)
        .values("merchant_id")
        .annotate(n=Count("id"))
        .filter(n__gte=SURGE_MINIMUM)
    )
    readings = []
    for row in busy:
        windows = Q()
        for week in range(1, SURGE_WEEKS + 1):
            shift = timedelta(weeks=week)
            windows |= Q(confirmed_at__gte=start - shift, confirmed_at__lt=now - shift)
        past = Redemption.objects.filter(windows, merchant_id=row["merchant_id"], status=Redemption.Status.CONFIRMED)
        readings.append(SurgeReading(row["merchant_id"], row["n"], past.count() / SURGE_WEEKS))
    return readings


def surge_detect(*, now: datetime | None = None) -> list[SurgeFlag]:
    """The hourly job: flag surging merchants, hold their promotion in the catalogue and tell curators."""
    now = now or timezone.now()
    flags = []
    for reading in surge_readings(now=now):
        if not reading.surging:
            continue
        merchant = merchant_by_pk(pk=reading.merchant_id)
        with transaction.atomic():
            if SurgeFlag.objects.filter(merchant=merchant, cleared_at__isnull=True).exists():
                continue
            try:
                with transaction.atomic():
                    flag = SurgeFlag.objects.create(
                        merchant=merchant, detected_at=now, hour_count=reading.hour_count, baseline=reading.baseline
                    )
            except IntegrityError:  # another run flagged it meanwhile
                continue
            reason = f"surge: {reading.hour_count} redemptions in the last hour, baseline {reading.baseline:.1f}"
            merchant_set_promotion_hold(merchant=merchant, hold=True, actor="system:surge_detector", reason=reason)
            audit_record(actor="system:surge_detector", action="redemptions.surge_flag", obj=flag, reason=reason)
            for curator in people_in_role(role=CURATOR):
                notify(
                    user=curator,
                    kind="redemptions.surge",
                    title=_("Surge at %(shop)s: promotion paused"),
                    body=_(
                        "%(count)s redemptions in the last hour against a usual %(baseline)s for that hour. "
                        "The shop is no longer promoted in the catalogue until you clear the flag."
                    ),
                    url=f"/admin/redemptions/surgeflag/{flag.pk}/change/",
                    context={
                        "shop": merchant.name_zh,
                        "count": reading.hour_count,
                        "baseline": f"{reading.baseline:.1f}",
                    },
                )
            flags.append(flag)
    return flags


def surge_clear(*, flag: SurgeFlag, actor: User, note: str = "") -> SurgeFlag:
    """A curator clears a surge flag: the shop is promoted again."""
    with transaction.atomic():
        locked = SurgeFlag.objects.select_for_update().select_related("merchant").get(pk=flag.pk)
        if locked.cleared_at is not None:
            return locked
        locked.cleared_at, locked.cleared_by, locked.note = timezone.now(), actor, note
        locked.save(update_fields=["cleared_at", "cleared_by", "note"])
        merchant_set_promotion_hold(
            merchant=locked.merchant, hold=False, actor=actor, reason=note or "surge flag cleared"
        )
        audit_record(actor=actor, action="redemptions.surge_clear", obj=locked, reason=note)
    return locked
