"""Shops members ask for ("我想要这家店"): a member's nomination, merged with the others that name the same shop.

A :class:`WantedShop` is one real shop as the nominations describe it (name, city, place); each member asks for
it at most once (:class:`Nomination`, unique per member and shop; asking again refreshes the date). Demand is
computed from the nominations (distinct members, weighted by recency) in :mod:`curation.wanted.selectors`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class WantedShop(models.Model):
    """A shop that members asked for and that is not (yet) on RedCard."""

    class State(models.TextChoices):
        OPEN = "open", _("asked for")
        INVITED = "invited", _("invited to apply")
        LISTED = "listed", _("listed")
        DECLINED = "declined", _("declined")

    #: States in which new nominations still merge into the shop and it stays in the recruitment queue.
    OPEN_STATES = (State.OPEN, State.INVITED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    city = models.ForeignKey("merchants.City", on_delete=models.PROTECT, related_name="+", verbose_name=_("city"))
    district = models.ForeignKey(
        "merchants.District",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("district"),
    )
    name = models.CharField(_("shop name"), max_length=80)
    #: ``name`` folded for matching (lower case, no spaces, punctuation or branch suffix).
    match_key = models.CharField(max_length=80, editable=False, db_index=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN)
    invited_at = models.DateTimeField(_("invited at"), null=True, blank=True)
    merchant = models.ForeignKey(
        "merchants.Merchant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("listed as"),
    )
    listed_at = models.DateTimeField(_("listed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("first asked at"), auto_now_add=True)

    class Meta:
        verbose_name = _("shop members ask for")
        verbose_name_plural = _("shops members ask for")
        indexes = [models.Index(fields=["city", "state"], name="curation_wanted_city_idx")]

    def __str__(self) -> str:
        return self.name


class Nomination(models.Model):
    """One member asking for one shop (asking again only refreshes ``asked_at``)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    shop = models.ForeignKey(WantedShop, on_delete=models.CASCADE, related_name="nominations")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="nominations", verbose_name=_("member")
    )
    name = models.CharField(_("name as written"), max_length=80)
    address = models.CharField(_("address as written"), max_length=200, blank=True)
    note_url = models.URLField(_("link to a note"), blank=True)
    asked_at = models.DateTimeField(_("asked at"))

    class Meta:
        verbose_name = _("nomination")
        verbose_name_plural = _("nominations")
        constraints = [models.UniqueConstraint(fields=["shop", "member"], name="curation_nomination_once")]

    def __str__(self) -> str:
        return f"{self.member_id} → {self.shop_id}"
