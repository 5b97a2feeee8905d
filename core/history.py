"""Audit history of configuration and money-relevant data (django-simple-history; decision 0012).

Each tracked model carries ``history = tracked()``: every save and delete writes a full copy of the row to its
historical table with who (the signed-in person, through ``HistoryRequestMiddleware``; nobody for jobs), when,
the kind of change and a reason. Consecutive copies give before/after (``record.diff_against(previous)``).
``core.admin.HistoryAdminMixin`` gives a console page its "History" view (changes listed field by field, no revert:
reverting would bypass the services' rules) and a "reason for this change" field, required where the change
is a decision (``history_reason_required``): prices, rules, quotas, listings. Inline rows saved from the page
(staff, partner grants, city quotas) carry the same person and reason.

Not covered: bulk ``QuerySet.update()`` writes (services that use them keep their own ``core.AuditEntry``).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords


def tracked(**kwargs: Any) -> HistoricalRecords:
    """A model's history (``excluded_fields`` for secrets that must not be copied)."""
    return HistoricalRecords(history_change_reason_field=models.TextField(null=True), **kwargs)


def snapshot_before_first_change(obj: models.Model) -> None:
    """A row written before its model was tracked has no copy yet: keep its stored state first, so that the
    first recorded change still shows what it was before."""
    manager = getattr(type(obj), "history", None)
    if manager is None or obj.pk is None or manager.filter(**{obj._meta.pk.attname: obj.pk}).exists():
        return
    stored = type(obj)._default_manager.filter(pk=obj.pk).first()
    if stored is not None:
        manager.bulk_history_create(
            [stored], update=True, default_change_reason="(state before history was kept)", default_date=timezone.now()
        )
