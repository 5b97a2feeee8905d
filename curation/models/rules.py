"""The base of the rules curation keeps as data (admission rules, removal rules)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.history import tracked


class VersionedRuleQuerySet(models.QuerySet):
    def in_force(self, *, at: datetime | None = None) -> list[Any]:
        """The version of each rule type in force at ``at`` (now by default): the highest active version
        already started. One query."""
        at = at or timezone.now()
        latest: dict[str, Any] = {}
        for rule in self.filter(is_active=True, active_from__lte=at).order_by("kind", "-version"):
            latest.setdefault(rule.kind, rule)
        return list(latest.values())


class VersionedRule(models.Model):
    """A written rule kept as data (admission rules here, removal rules in :mod:`.standing`): its
    thresholds are ``parameters``; a new ``version`` supersedes the old one from its ``active_from``, and
    every result or finding names the rule and version that produced it. Subclasses define ``kind``."""

    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    active_from = models.DateTimeField(_("active from"), default=timezone.now)
    is_active = models.BooleanField(_("active"), default=True)

    objects = VersionedRuleQuerySet.as_manager()
    history = tracked(inherit=True)  # console edits kept with who, when, why (core.history)

    class Meta:
        abstract = True
        ordering = ["kind", "-version"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version}"  # type: ignore[attr-defined]
