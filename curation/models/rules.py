"""The base of the rules curation keeps as data (admission rules, removal rules)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class VersionedRule(models.Model):
    """A written rule kept as data (admission rules here, removal rules in :mod:`.standing`): its
    thresholds are ``parameters``; a new ``version`` supersedes the old one from its ``active_from``, and
    every result or finding names the rule and version that produced it. Subclasses define ``kind``."""

    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    active_from = models.DateTimeField(_("active from"), default=timezone.now)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        abstract = True
        ordering = ["kind", "-version"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version}"  # type: ignore[attr-defined]
