"""Partner platforms a member linked (issue 16): the member pays through the partner, the partner reports it.

A link holds only the SHA-256 of the opaque token RedCard gave the partner when the member consented: a copy
of the database cannot report for anyone. One live link per member and partner; unlinking stamps
``unlinked_at`` and the token stops working at once (lookups ask for live links only). The orders a partner
reports are redemptions of channel ``partner_platform`` (``Redemption.partner`` the application,
``code_id`` derived from the partner's order id: the same order is one redemption).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PartnerLink(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_links", verbose_name=_("member")
    )
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="member_links",
        verbose_name=_("partner application"),
    )
    token_hash = models.CharField(_("token (SHA-256)"), max_length=64, unique=True)
    linked_at = models.DateTimeField(_("linked"), default=timezone.now)
    unlinked_at = models.DateTimeField(_("unlinked"), null=True, blank=True)

    class Meta:
        verbose_name = _("partner link")
        verbose_name_plural = _("partner links")
        ordering = ["-linked_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "application"],
                condition=Q(unlinked_at__isnull=True),
                name="partnerlink_one_live_per_partner",
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id} ↔ {self.application_id}"

    @property
    def is_live(self) -> bool:
        return self.unlinked_at is None
