"""Catalogue filters (django-filter), shared by the catalogue API and the catalogue page."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Category, Merchant
from .selectors import MAX_RADIUS_KM, filter_near, filter_open_now

DEFAULT_RADIUS_KM = 5.0


class CatalogueFilter(django_filters.FilterSet):
    # Codes filter through the join the page already makes (no lookup query per request).
    city = django_filters.CharFilter(field_name="city__code", label=_("City"))
    district = django_filters.CharFilter(field_name="district__code", label=_("District"))
    category = django_filters.CharFilter(field_name="category__code", label=_("Category"))
    price_tier = django_filters.TypedChoiceFilter(
        field_name="category__price_tier", choices=Category.PriceTier.choices, coerce=int, label=_("Price tier")
    )
    open_now = django_filters.BooleanFilter(method="filter_open_now", label=_("Open now"), widget=forms.CheckboxInput)
    lat = django_filters.NumberFilter(method="filter_noop", label=_("Latitude"), min_value=-90, max_value=90)
    lng = django_filters.NumberFilter(method="filter_noop", label=_("Longitude"), min_value=-180, max_value=180)
    radius_km = django_filters.NumberFilter(
        method="filter_noop", label=_("Radius (km)"), min_value=0.1, max_value=MAX_RADIUS_KM
    )

    class Meta:
        model = Merchant
        fields = ["city", "district", "category", "price_tier", "open_now"]

    def filter_noop(self, queryset: QuerySet[Merchant], name: str, value: Any) -> QuerySet[Merchant]:
        return queryset

    def filter_open_now(self, queryset: QuerySet[Merchant], name: str, value: bool | None) -> QuerySet[Merchant]:
        if not value:
            return queryset
        return filter_open_now(queryset, at=timezone.now())

    @property
    def near(self) -> tuple[float, float, float] | None:
        data = self.form.cleaned_data if self.form.is_valid() else {}
        lat, lng = data.get("lat"), data.get("lng")
        if lat is None or lng is None:
            return None
        return float(lat), float(lng), float(data.get("radius_km") or DEFAULT_RADIUS_KM)

    def filter_queryset(self, queryset: QuerySet[Merchant]) -> QuerySet[Merchant]:
        queryset = super().filter_queryset(queryset)
        near = self.near
        if near is not None:
            lat, lng, radius = near
            queryset = filter_near(queryset, lat=lat, lng=lng, radius_km=radius)
        return queryset


def catalogue_search_note(*, user: Any, params: QueryDict, first_page: bool) -> None:
    """Count a signed-in person's search of the catalogue in the district it filters on (the operations
    overview's coverage gaps): the first page of an answered search only, so paging or reloading the list
    counts once per search, and robots (never signed in) not at all. Only a count per district and day
    is kept (:func:`.services.catalogue_search_count`)."""
    district = (params.get("district") or "").strip()
    if not first_page or not district or not getattr(user, "is_authenticated", False):
        return
    services.catalogue_search_count(district_code=district[:50], city_code=(params.get("city") or "").strip()[:50])
