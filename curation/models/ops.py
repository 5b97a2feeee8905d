"""The operations overview's roll-ups: confirmed redemptions per city and local day, and the nightly snapshot
of the slow-moving member figures. The invariant the database holds: one roll-up row per city and day."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from merchants.models import City


class OpsDailyTotal(models.Model):
    """Confirmed redemptions of one city on one local day, rolled up nightly from the redemptions
    table for the operations overview (which then never scans millions of rows)."""

    city = models.ForeignKey(City, on_delete=models.CASCADE, related_name="+")
    local_date = models.DateField(_("day"))
    redemptions = models.PositiveIntegerField(_("redemptions"), default=0)
    members = models.PositiveIntegerField(_("distinct members"), default=0)
    bill_fen = models.BigIntegerField(_("bills (fen)"), default=0)
    discount_fen = models.BigIntegerField(_("savings (fen)"), default=0)
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)

    class Meta:
        # The admin lists the model under this name: its changelist is the operations overview page.
        verbose_name = _("operations overview")
        verbose_name_plural = _("operations overview")
        ordering = ["-local_date", "city"]
        constraints = [models.UniqueConstraint(fields=["city", "local_date"], name="opsdailytotal_city_day")]

    def __str__(self) -> str:
        return f"{self.city_id} {self.local_date}: {self.redemptions}"


class OpsSnapshot(models.Model):
    """The slow-moving member figures of the overview (90-day conversion and renewal, 12 months of fees),
    computed by the nightly roll-up so that the overview page does not scan the members' tables."""

    day = models.DateField(_("day"), unique=True)
    figures = models.JSONField(_("figures"), default=dict)
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)

    class Meta:
        verbose_name = _("overview snapshot")
        verbose_name_plural = _("overview snapshots")
        ordering = ["-day"]

    def __str__(self) -> str:
        return str(self.day)
