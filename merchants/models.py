"""Merchants' reference data: cities, districts, categories (with price bands).

Merchants, staff, offers, capacity and NFC tags are added by the Merchants issue.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.i18n import localized


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
