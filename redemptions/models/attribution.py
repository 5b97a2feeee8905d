"""Notes, touches and attribution (issue 6, SPEC section 4).

- ``Note``: a post in the content app about one or more merchants (tagged through ``NoteMerchant``),
  upserted by (source application, external id); deleting it in the content app hides it.
  A note written from a post-redemption invitation is linked to that redemption (a verified visit).
- ``Touch``: "member viewed / clicked / saved note N", idempotent by (source, external id).
- ``AttributionCredit``: what a confirmed redemption credits to each note under each model (last touch,
  first touch, linear), stored side by side so that reports switch model without recomputing history.
  Shares are integer parts per million and revenue is integer fen, both allocated by largest remainder so
  that the credits of one redemption under one model add up to exactly one visit and exactly its bill.
  The merchant and local day are copied from the redemption so that the dashboard reads one index.
- ``AttributionWindow``: the attribution window of a city (default ``REDCARD_ATTRIBUTION_WINDOW_DAYS``).
- ``MemberHomeDistrict``: each member's home district for the audience insights (the district of the shops
  where they redeem most often over the last year), refreshed by a nightly job.
- ``AttributionCursor``: how far the late-touch catch-up job has read the touches.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = [
    "AttributionCredit",
    "AttributionCursor",
    "AttributionModel",
    "AttributionWindow",
    "MemberHomeDistrict",
    "Note",
    "NoteMerchant",
    "Touch",
]

#: One whole visit, in parts per million.
SHARE_ONE = 1_000_000


class AttributionModel(models.TextChoices):
    LAST_TOUCH = "last", _("last touch")
    FIRST_TOUCH = "first", _("first touch")
    LINEAR = "linear", _("linear (equal shares)")


class Note(models.Model):
    """A note (post) in the content app. Readers see ``verified_visit`` when it came from a redemption."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    source = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.PROTECT,
        related_name="notes",
        verbose_name=_("content app"),
    )
    external_id = models.CharField(_("external id"), max_length=100)
    author_member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notes",
        verbose_name=_("author (member)"),
    )
    author_external_id = models.CharField(_("author (outside id)"), max_length=100, blank=True)
    title = models.CharField(_("title"), max_length=200)
    url = models.URLField(_("link"), max_length=500)
    published_at = models.DateTimeField(_("published at"))
    hidden_at = models.DateTimeField(
        _("hidden at"),
        null=True,
        blank=True,
        help_text=_("Set when the content app reports the note deleted, or a curator hides it."),
    )
    redemption = models.OneToOneField(
        "redemptions.Redemption",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="post_note",
        verbose_name=_("verified visit"),
        help_text=_("The redemption whose invitation this note answered."),
    )
    merchants = models.ManyToManyField(  # type: ignore[var-annotated]
        "merchants.Merchant", through="NoteMerchant", related_name="notes", verbose_name=_("merchants tagged")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        ordering = ["-published_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="note_source_external_unique"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def verified_visit(self) -> bool:
        return self.redemption_id is not None

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None


class NoteMerchant(models.Model):
    """A merchant tagged by a note."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="tags")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="note_tags")

    class Meta:
        verbose_name = _("note tag")
        verbose_name_plural = _("note tags")
        constraints = [models.UniqueConstraint(fields=["note", "merchant"], name="notemerchant_unique")]
        indexes = [models.Index(fields=["merchant", "note"], name="notemerchant_merchant_idx")]

    def __str__(self) -> str:
        return f"{self.note_id} → {self.merchant_id}"


class Touch(models.Model):
    """A member viewed, clicked or saved a note (reported by the content app)."""

    class Kind(models.IntegerChoices):
        VIEW = 1, _("viewed")
        CLICK = 2, _("clicked")
        SAVE = 3, _("saved")

    id = models.BigAutoField(primary_key=True)
    source = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    external_id = models.CharField(_("external id"), max_length=100)
    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="touches", db_index=False)
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.PositiveSmallIntegerField(_("kind"), choices=Kind.choices)
    touched_at = models.DateTimeField(_("touched at"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("touch")
        verbose_name_plural = _("touches")
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="touch_source_external_unique"),
        ]
        indexes = [
            # Crediting reads one member's touches in a window; the note id rides along in the index.
            models.Index(fields=["member", "touched_at", "note"], name="touch_member_at_idx"),
            # The retention purge and note deletion.
            models.Index(fields=["touched_at"], name="touch_at_idx"),
            models.Index(fields=["note"], name="touch_note_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.get_kind_display()} {self.note_id}"


class AttributionCredit(models.Model):
    """The part of one redemption credited to one note under one model."""

    id = models.BigAutoField(primary_key=True)
    redemption = models.ForeignKey(
        "redemptions.Redemption", on_delete=models.CASCADE, related_name="attribution_credits", db_index=False
    )
    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="credits", db_index=False)
    model = models.CharField(_("model"), max_length=6, choices=AttributionModel.choices)
    share_ppm = models.PositiveIntegerField(_("share of the visit (ppm)"))
    revenue_fen = models.BigIntegerField(_("attributed bill (fen)"))
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+", db_index=False)
    local_date = models.DateField(_("local day"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("attribution credit")
        verbose_name_plural = _("attribution credits")
        constraints = [
            models.UniqueConstraint(fields=["redemption", "model", "note"], name="credit_redemption_model_note"),
            models.CheckConstraint(condition=Q(share_ppm__gt=0, share_ppm__lte=SHARE_ONE), name="credit_share_range"),
            models.CheckConstraint(condition=Q(revenue_fen__gte=0), name="credit_revenue_gte_0"),
        ]
        indexes = [
            # The leaderboard reads only this index (shares and revenue are key columns rather than
            # INCLUDE columns so that the embedded SQLite default builds the same index).
            models.Index(
                fields=["merchant", "model", "local_date", "note", "share_ppm", "revenue_fen"],
                name="credit_leaderboard_idx",
            ),
            models.Index(fields=["note"], name="credit_note_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.redemption_id} {self.model} → {self.note_id} ({self.share_ppm / SHARE_ONE:.2f})"


class AttributionWindow(models.Model):
    """A city's attribution window (how long before a redemption a touch still counts)."""

    city = models.OneToOneField(
        "merchants.City", on_delete=models.CASCADE, related_name="attribution_window", verbose_name=_("city")
    )
    days = models.PositiveSmallIntegerField(_("window (days)"), default=7)

    class Meta:
        verbose_name = _("attribution window")
        verbose_name_plural = _("attribution windows")
        constraints = [models.CheckConstraint(condition=Q(days__gte=1, days__lte=90), name="attrwindow_days_range")]

    def __str__(self) -> str:
        return f"{self.city_id}: {self.days}"


class MemberHomeDistrict(models.Model):
    """Where a member mostly redeems: the audience insights' "home district" (no address is ever asked)."""

    member = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="redcard_home_district"
    )
    district = models.ForeignKey("merchants.District", on_delete=models.CASCADE, related_name="+")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("member home district")
        verbose_name_plural = _("member home districts")

    def __str__(self) -> str:
        return f"{self.member_id}: {self.district_id}"


class AttributionCursor(models.Model):
    """The last touch id a periodic job has processed."""

    name = models.CharField(max_length=40, unique=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_id}"
