"""Merchants: reference data (cities, districts, categories with price bands, category openings)
and admitted merchants, their offer, staff, daily capacity counters, opening slots and partner grants.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.history import tracked
from core.i18n import localized

#: A landline with its area code or a mobile number: digits, spaces, hyphens, an optional leading +.
phone_validator = RegexValidator(
    r"^\+?[0-9][0-9 -]{5,18}[0-9]$", _("Enter a phone number: digits, spaces or hyphens, e.g. 021-6288 1234.")
)


class City(models.Model):
    code = models.SlugField(_("code"), unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=40)
    name_en = models.CharField(_("name (English)"), max_length=60)
    timezone = models.CharField(_("timezone"), max_length=40, default="Asia/Shanghai")
    seat_quota = models.PositiveIntegerField(_("seat quota"), help_text=_("How many merchants may be admitted."))
    center_lat = models.DecimalField(_("centre latitude"), max_digits=9, decimal_places=6)
    center_lng = models.DecimalField(_("centre longitude"), max_digits=9, decimal_places=6)
    radius_km = models.PositiveIntegerField(
        _("radius (km)"), default=60, help_text=_("Merchant coordinates must lie within this distance of the centre.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    history = tracked()  # console edits kept with who, when, why (core.history)

    class Meta:
        verbose_name = _("city")
        verbose_name_plural = _("cities")
        ordering = ["code"]
        constraints = [models.CheckConstraint(condition=models.Q(seat_quota__gte=0), name="city_seat_quota_gte_0")]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return localized(self, "name")


class District(models.Model):
    city = models.ForeignKey(City, on_delete=models.PROTECT, related_name="districts", verbose_name=_("city"))
    code = models.SlugField(_("code"))
    name_zh = models.CharField(_("name (Chinese)"), max_length=40)
    name_en = models.CharField(_("name (English)"), max_length=60)

    class Meta:
        verbose_name = _("district")
        verbose_name_plural = _("districts")
        ordering = ["city", "code"]
        constraints = [models.UniqueConstraint(fields=["city", "code"], name="district_city_code_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return localized(self, "name")


class Category(models.Model):
    class PriceTier(models.IntegerChoices):
        BUDGET = 1, "¥"
        MODERATE = 2, "¥¥"
        UPSCALE = 3, "¥¥¥"
        FINE = 4, "¥¥¥¥"

    code = models.SlugField(_("code"), unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=40)
    name_en = models.CharField(_("name (English)"), max_length=60)
    is_food = models.BooleanField(
        _("food business"), default=True, help_text=_("Food businesses must hold a food business licence.")
    )
    spend_min_fen = models.BigIntegerField(_("average spend from (fen)"))
    spend_max_fen = models.BigIntegerField(_("average spend to (fen)"))
    price_tier = models.PositiveSmallIntegerField(_("price tier"), choices=PriceTier.choices)

    history = tracked()  # console edits kept with who, when, why (core.history)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["price_tier", "code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(spend_min_fen__gte=0, spend_max_fen__gte=models.F("spend_min_fen")),
                name="category_spend_band_valid",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return localized(self, "name")


class CityCategory(models.Model):
    """Whether a category is open for new merchants in a city (admission rule "category open")."""

    city = models.ForeignKey(City, on_delete=models.CASCADE, related_name="category_openings", verbose_name=_("city"))
    category = models.ForeignKey(
        Category, on_delete=models.CASCADE, related_name="city_openings", verbose_name=_("category")
    )
    is_open = models.BooleanField(_("open for applications"), default=True)

    history = tracked()  # console edits kept with who, when, why (core.history)

    class Meta:
        verbose_name = _("category opening")
        verbose_name_plural = _("category openings")
        constraints = [models.UniqueConstraint(fields=["city", "category"], name="citycategory_unique")]

    def __str__(self) -> str:
        return f"{self.city} · {self.category}"


class Merchant(models.Model):
    """An admitted shop. Its listing state changes only through ``merchants.services.merchant_transition``."""

    class State(models.TextChoices):
        PROBATION = "probation", _("probation")
        LISTED = "listed", _("listed")
        WARNED = "warned", _("warned")
        SUSPENDED = "suspended", _("suspended")
        REMOVED = "removed", _("removed")

    #: States that may redeem and appear in the catalogue.
    VISIBLE_STATES = (State.PROBATION, State.LISTED)
    #: States that hold one of the city's seats.
    SEATED_STATES = (State.PROBATION, State.LISTED, State.WARNED, State.SUSPENDED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    city = models.ForeignKey(City, on_delete=models.PROTECT, related_name="merchants", verbose_name=_("city"))
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="merchants", verbose_name=_("district")
    )
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="merchants", verbose_name=_("category")
    )
    legal_name = models.CharField(_("legal name"), max_length=120)
    name_zh = models.CharField(_("shop name (Chinese)"), max_length=80)
    name_en = models.CharField(_("shop name (English)"), max_length=120, blank=True)
    uscc = models.CharField(_("Unified Social Credit Code"), max_length=18)
    food_licence = models.CharField(_("food business licence"), max_length=20, blank=True)
    address = models.CharField(_("address"), max_length=200)
    lat = models.FloatField(_("latitude"))
    lng = models.FloatField(_("longitude"))
    average_spend_fen = models.BigIntegerField(_("average spend (fen)"))
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    external_rating = models.DecimalField(_("external rating"), max_digits=2, decimal_places=1, null=True, blank=True)
    dine_in = models.BooleanField(_("dine-in"), default=True)
    opening_hours = models.JSONField(
        _("opening hours"), default=dict, blank=True, help_text=_('Per weekday, e.g. {"mon": ["09:00-21:00"]}.')
    )
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.PROBATION)
    state_changed_at = models.DateTimeField(_("state changed at"), default=timezone.now)
    probation_until = models.DateTimeField(_("probation until"), null=True, blank=True)
    removed_at = models.DateTimeField(_("removed at"), null=True, blank=True)
    has_open_findings = models.BooleanField(
        _("has open findings"),
        default=False,
        help_text=_("Set by curation while a removal-rule finding is open; holds back promotion to listed."),
    )
    daily_capacity = models.PositiveIntegerField(_("daily RedCard capacity"), default=50)
    member_daily_limit = models.PositiveSmallIntegerField(_("redemptions per member per day"), default=1)
    paused_on = models.DateField(_("RedCard paused on"), null=True, blank=True)
    offline_accept = models.BooleanField(
        _("accept member codes offline"),
        default=True,
        help_text=_(
            "When the shop's network drops, the scanner accepts genuine, unexpired member codes and syncs them "
            "when the network returns."
        ),
    )
    promotion_hold = models.BooleanField(
        _("promotion on hold"), default=False, help_text=_("Set by the surge detector; the catalogue stops promoting.")
    )
    notes_url = models.URLField(_("link to notes"), blank=True)
    phone = models.CharField(
        _("public phone"),
        max_length=20,
        blank=True,
        validators=[phone_validator],
        help_text=_("The number customers call (shown on the shop page); not the contact person's."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = tracked()  # console edits kept with who, when, why (core.history)

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["city", "category", "state", "lat", "lng"], name="merchant_catalogue_geo_idx"),
            models.Index(fields=["state", "lat", "lng"], name="merchant_state_geo_idx"),
            models.Index(fields=["state", "probation_until"], name="merchant_probation_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["food_licence"],
                condition=~models.Q(food_licence="") & ~models.Q(state="removed"),
                name="merchant_food_licence_active_unique",
            ),
            models.CheckConstraint(condition=models.Q(member_daily_limit__gte=1), name="merchant_member_limit_gte_1"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return localized(self, "name")

    @property
    def is_visible(self) -> bool:
        return self.state in self.VISIBLE_STATES


class Offer(models.Model):
    """A merchant's current member offer (one per merchant)."""

    class FundedBy(models.TextChoices):
        MERCHANT = "merchant", _("merchant")
        PLATFORM = "platform", _("platform subsidy")

    merchant = models.OneToOneField(Merchant, on_delete=models.CASCADE, related_name="offer")
    rate_bp = models.PositiveIntegerField(_("discount (basis points)"), help_text=_("1000 means 10 percent off."))
    cap_fen = models.BigIntegerField(_("cap per redemption (fen)"), null=True, blank=True)
    min_bill_fen = models.BigIntegerField(_("minimum bill (fen)"), null=True, blank=True)
    funded_by = models.CharField(_("funded by"), max_length=10, choices=FundedBy.choices, default=FundedBy.MERCHANT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        constraints = [
            models.CheckConstraint(condition=models.Q(rate_bp__gte=1000, rate_bp__lte=9000), name="offer_rate_range"),
            models.CheckConstraint(
                condition=models.Q(cap_fen__isnull=True) | models.Q(cap_fen__gt=0), name="offer_cap_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(min_bill_fen__isnull=True) | models.Q(min_bill_fen__gt=0),
                name="offer_min_bill_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rate_bp / 100:g}%"

    @property
    def percent_off(self) -> str:
        return f"{self.rate_bp / 100:g}"

    @property
    def cap_yuan(self) -> str:
        return "" if self.cap_fen is None else f"{self.cap_fen / 100:g}"

    @property
    def min_bill_yuan(self) -> str:
        return "" if self.min_bill_fen is None else f"{self.min_bill_fen / 100:g}"


class OfferChange(models.Model):
    """A change of offer asked by the merchant. Raising the offer applies at once; lowering it waits for a curator."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending review")
        APPLIED = "applied", _("applied")
        REJECTED = "rejected", _("rejected")
        WITHDRAWN = "withdrawn", _("withdrawn")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="offer_changes")
    rate_bp = models.PositiveIntegerField(_("discount (basis points)"))
    cap_fen = models.BigIntegerField(_("cap per redemption (fen)"), null=True, blank=True)
    min_bill_fen = models.BigIntegerField(_("minimum bill (fen)"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("asked by")
    )
    requested_at = models.DateTimeField(_("asked at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)

    class Meta:
        verbose_name = _("offer change")
        verbose_name_plural = _("offer changes")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant"], condition=models.Q(state="pending"), name="offerchange_one_pending"
            )
        ]

    def __str__(self) -> str:
        return f"{self.merchant} → {self.rate_bp / 100:g}%"


class OpeningSlot(models.Model):
    """Opening hours flattened to minutes of the week (Monday 00:00 = 0) for the "open now" filter.

    Written only by ``merchants.services`` from ``Merchant.opening_hours``; an overnight range is split at
    the end of the week.
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="opening_slots")
    start_minute = models.PositiveIntegerField()
    end_minute = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["merchant", "start_minute", "end_minute"], name="openingslot_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(start_minute__lt=models.F("end_minute"), end_minute__lte=7 * 24 * 60),
                name="openingslot_range_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.start_minute}-{self.end_minute}"


class MerchantStaff(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("owner")
        STAFF = "staff", _("staff")

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="staff")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="merchant_roles")
    role = models.CharField(_("role"), max_length=8, choices=Role.choices, default=Role.STAFF)
    created_at = models.DateTimeField(auto_now_add=True)

    history = tracked()  # console edits kept with who, when, why (core.history)

    class Meta:
        verbose_name = _("merchant staff")
        verbose_name_plural = _("merchant staff")
        ordering = ["merchant", "role", "id"]
        constraints = [models.UniqueConstraint(fields=["merchant", "user"], name="merchantstaff_unique")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant} ({self.role})"

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER


class MerchantDay(models.Model):
    """One merchant's RedCard day (its city's calendar day).

    ``redemptions_count`` is the capacity breaker: what the day has used of ``daily_capacity``.
    ``confirmed_count``, ``gmv_fen`` and ``discount_fen`` roll up the day's confirmed redemptions for the
    owner's dashboard (daily chart and totals). The capacity take and release in ``services`` keep both exact
    in the statement that already counts capacity at confirm and void; ``merchant_days_rebuild`` recomputes the
    roll-up from the redemptions (never the capacity counter) after writes that bypass the services. The
    roll-up columns carry no check constraint: a void never fails over a derived figure.
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="days")
    local_date = models.DateField(_("local date"))
    redemptions_count = models.PositiveIntegerField(_("redemptions"), default=0)
    # db_default as well: raw SQL that writes only the capacity counter (benchmarks) still inserts a row.
    confirmed_count = models.IntegerField(_("confirmed redemptions"), default=0, db_default=0)
    gmv_fen = models.BigIntegerField(_("bill total (fen)"), default=0, db_default=0)
    discount_fen = models.BigIntegerField(_("discount (fen)"), default=0, db_default=0)

    class Meta:
        verbose_name = _("merchant day")
        verbose_name_plural = _("merchant days")
        constraints = [
            models.UniqueConstraint(fields=["merchant", "local_date"], name="merchantday_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.local_date}: {self.redemptions_count}"


class DistrictSearchDay(models.Model):
    """How often the catalogue was searched in one district on one of its city's days (the operations
    overview's coverage gaps). A count only: who searched is never kept, so there is no trail per person."""

    district = models.ForeignKey(District, on_delete=models.CASCADE, related_name="+", verbose_name=_("district"))
    day = models.DateField(_("local date"))
    searches = models.PositiveIntegerField(_("searches"), default=0)

    class Meta:
        verbose_name = _("catalogue searches per district and day")
        verbose_name_plural = _("catalogue searches per district and day")
        constraints = [models.UniqueConstraint(fields=["district", "day"], name="districtsearchday_unique")]

    def __str__(self) -> str:
        return f"{self.district_id} {self.day}: {self.searches}"


class PartnerGrant(models.Model):
    """A partner app (e.g. a POS system) allowed to act for one merchant within some scopes."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="partner_grants")
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="merchant_grants"
    )
    scopes = models.CharField(_("scopes"), max_length=200, help_text=_("Space-separated, e.g. 'redemptions:write'."))
    created_at = models.DateTimeField(auto_now_add=True)

    history = tracked()  # console edits kept with who, when, why (core.history)

    class Meta:
        verbose_name = _("partner grant")
        verbose_name_plural = _("partner grants")
        constraints = [models.UniqueConstraint(fields=["merchant", "application"], name="partnergrant_unique")]

    def __str__(self) -> str:
        return f"{self.application} → {self.merchant}"

    @property
    def scope_set(self) -> set[str]:
        return set(self.scopes.split())


def shop_photo_path(instance: MerchantPhoto, filename: str) -> str:
    """Stored under the shop's public id with a fresh name (the uploader's file name is not kept)."""
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "jpg"
    return f"shops/{instance.merchant.public_id}/{uuid.uuid4().hex}.{suffix}"


class MerchantPhoto(models.Model):
    """A photo of the shop uploaded by its owner; shown on the shop page once a curator approves it."""

    class State(models.TextChoices):
        PENDING = "pending", _("waiting for review")
        APPROVED = "approved", _("shown on the shop page")
        REJECTED = "rejected", _("refused")

    #: Photos a shop may have shown or waiting at once.
    LIMIT = 8

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="photos", verbose_name=_("merchant"))
    image = models.FileField(_("photo"), upload_to=shop_photo_path)
    caption = models.CharField(_("caption"), max_length=80, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("uploaded by")
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("reason"), blank=True)

    class Meta:
        verbose_name = _("shop photo")
        verbose_name_plural = _("shop photos")
        ordering = ["uploaded_at", "pk"]
        indexes = [models.Index(fields=["merchant", "state"], name="merchantphoto_shop_state_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state="pending", decided_at__isnull=True)
                | (~models.Q(state="pending") & models.Q(decided_at__isnull=False)),
                name="merchantphoto_decided_consistent",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="rejected") | ~models.Q(decision_reason=""),
                name="merchantphoto_refusal_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} · {self.caption or self.public_id}"
