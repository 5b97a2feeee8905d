"""Partner platforms a member linked (issue 16): the member pays through the partner, the partner reports it.

A link holds only the SHA-256 of the opaque token RedCard gave the partner's server in exchange for the
one-time code the member's consent sent the partner back with (:class:`PartnerLinkCode`): a copy of the
database cannot report for anyone, and the token never appears in a browser's address bar. One live link per
member and partner; unlinking stamps ``unlinked_at`` and the token stops working at once (lookups ask for live
links only). The orders a partner reports are redemptions of channel ``partner_platform``
(``Redemption.partner`` the application, ``code_id`` derived from the partner's order id: the same order is
one redemption).
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


class PartnerLinkCode(models.Model):
    """The one-time code the consent page sends the partner back with (an OAuth-style authorization code).

    The member token never travels through the browser: the partner's server exchanges this code, with its
    own credentials and the same ``redirect_uri``, for the token (:func:`partner_link_exchange`). Only the
    code's SHA-256 is kept; it works once, for ten minutes, for that partner only. A code presented a second
    time ends the link it made (someone else had it too)."""

    code_hash = models.CharField(_("code (SHA-256)"), max_length=64, unique=True)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("partner application"),
    )
    redirect_uri = models.CharField(_("redirect URI"), max_length=500)
    created_at = models.DateTimeField(_("issued"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("exchanged"), null=True, blank=True)
    link = models.ForeignKey(
        PartnerLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("link made")
    )

    class Meta:
        verbose_name = _("partner link code")
        verbose_name_plural = _("partner link codes")

    def __str__(self) -> str:
        return f"{self.member_id} → {self.application_id}"
