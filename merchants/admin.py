"""The merchants part of the console: reference data, merchants (state changes through actions with a
reason, calling ``merchants.services``), offer changes to review, capacity counters, partner grants."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin import AuditHistoryMixin, HistoryAdminMixin, apply_with_reason
from core.errors import DomainError

from . import services
from .models import (
    Category,
    City,
    CityCategory,
    District,
    Merchant,
    MerchantDay,
    MerchantPhoto,
    MerchantStaff,
    Offer,
    OfferChange,
    PartnerGrant,
)


class DistrictInline(admin.TabularInline):
    model = District
    extra = 0


class CityCategoryInline(admin.TabularInline):
    model = CityCategory
    extra = 0
    verbose_name = _("category opening")


@admin.register(City)
class CityAdmin(HistoryAdminMixin):
    history_reason_required = True  # seat quotas and category openings are decisions
    list_display = ["code", "name_zh", "name_en", "timezone", "seat_quota", "seats_taken", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["code", "name_zh", "name_en"]
    inlines = [DistrictInline, CityCategoryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[City]:
        return (
            super()
            .get_queryset(request)
            .annotate(seats_count=Count("merchants", filter=Q(merchants__state__in=Merchant.SEATED_STATES)))
        )

    @admin.display(description=_("seats taken"), ordering="seats_count")
    def seats_taken(self, obj: Any) -> int:
        return obj.seats_count


@admin.register(Category)
class CategoryAdmin(HistoryAdminMixin):
    list_display = ["code", "name_zh", "name_en", "is_food", "spend_min_fen", "spend_max_fen", "price_tier"]
    list_filter = ["is_food", "price_tier"]
    search_fields = ["code", "name_zh", "name_en"]


class OfferInline(admin.StackedInline):
    model = Offer
    can_delete = False
    readonly_fields = ["rate_bp", "cap_fen", "min_bill_fen", "funded_by", "updated_at"]
    fields = ["rate_bp", "cap_fen", "min_bill_fen", "funded_by", "updated_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StaffInline(admin.TabularInline):
    model = MerchantStaff
    extra = 0
    autocomplete_fields = ["user"]


class PartnerGrantInline(admin.TabularInline):
    model = PartnerGrant
    extra = 0


def _transition_action(target: str, label: Any) -> Any:
    def action(modeladmin: MerchantAdmin, request: HttpRequest, queryset: QuerySet[Merchant]) -> HttpResponse | None:
        return apply_with_reason(
            modeladmin,
            request,
            queryset,
            title=label,
            apply=lambda merchant, reason: services.merchant_transition(
                merchant=merchant,
                target=target,
                actor=request.user,  # type: ignore[arg-type]
                reason=reason,
            ),
            done=_("%(n)d merchant(s) changed."),
        )

    action.__name__ = f"to_{target}"
    action.short_description = label  # type: ignore[attr-defined]
    action.allowed_permissions = ("change",)  # type: ignore[attr-defined]
    return action


@admin.register(Merchant)
class MerchantAdmin(AuditHistoryMixin, HistoryAdminMixin):
    list_display = ["name_zh", "name_en", "city", "district", "category", "state", "probation_until", "daily_capacity"]
    list_filter = ["state", "city", "category", "promotion_hold", "has_open_findings"]
    search_fields = ["name_zh", "name_en", "legal_name", "uscc", "food_licence", "public_id"]
    list_select_related = ["city", "district", "category"]
    readonly_fields = [
        "public_id",
        "state",
        "state_changed_at",
        "probation_until",
        "removed_at",
        "has_open_findings",
        "promotion_hold",
        "paused_on",
        "created_at",
        "audit_trail",
    ]
    inlines = [OfferInline, StaffInline, PartnerGrantInline]
    actions = [
        _transition_action("listed", _("List (end probation or clear a warning)")),
        _transition_action("warned", _("Warn")),
        _transition_action("suspended", _("Suspend")),
        _transition_action("removed", _("Remove")),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # merchants are admitted by approving an application


@admin.register(OfferChange)
class OfferChangeAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["merchant", "rate_bp", "cap_fen", "min_bill_fen", "state", "requested_at", "requested_by"]
    list_filter = ["state"]
    list_select_related = ["merchant", "requested_by"]
    readonly_fields = [*(f.name for f in OfferChange._meta.fields), "current_offer", "audit_trail"]
    actions = ["approve", "reject"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("current offer"))
    def current_offer(self, obj: OfferChange) -> str:
        offer = obj.merchant.offer
        return f"{offer.rate_bp / 100:g}% · cap {offer.cap_fen} · min {offer.min_bill_fen}"

    def _decide(self, request: HttpRequest, queryset: QuerySet[OfferChange], approve: bool) -> None:
        for change in queryset:
            try:
                services.offer_change_decide(change=change, approve=approve, actor=request.user)  # type: ignore[arg-type]
            except DomainError as exc:
                self.message_user(request, f"{change}: {exc.detail}", messages.ERROR)

    @admin.action(description=_("Apply the lowered offer"), permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[OfferChange]) -> None:
        self._decide(request, queryset, True)

    @admin.action(description=_("Reject the lowered offer"), permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet[OfferChange]) -> None:
        self._decide(request, queryset, False)


@admin.register(MerchantPhoto)
class MerchantPhotoAdmin(AuditHistoryMixin, admin.ModelAdmin):
    """Photos owners uploaded: a curator shows them on the shop page or refuses them with a reason."""

    list_display = ["thumbnail", "merchant", "caption", "state", "uploaded_at", "uploaded_by"]
    list_filter = ["state"]
    list_select_related = ["merchant", "uploaded_by"]
    search_fields = ["merchant__name_zh", "merchant__name_en", "caption"]
    readonly_fields = [*(f.name for f in MerchantPhoto._meta.fields), "thumbnail", "audit_trail"]
    actions = ["show", "refuse"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("photo"))
    def thumbnail(self, obj: MerchantPhoto) -> str:
        url = reverse("merchants:shop_photo", args=[obj.public_id])
        return format_html(
            '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="" width="120"></a>', url, url
        )

    @admin.action(description=_("Show on the shop page"), permissions=["change"])
    def show(self, request: HttpRequest, queryset: QuerySet[MerchantPhoto]) -> None:
        for photo in queryset:
            try:
                services.shop_photo_decide(photo=photo, approve=True, actor=request.user)  # type: ignore[arg-type]
            except DomainError as exc:
                self.message_user(request, f"{photo}: {exc.detail}", messages.ERROR)

    @admin.action(description=_("Refuse (with a reason for the owner)"), permissions=["change"])
    def refuse(self, request: HttpRequest, queryset: QuerySet[MerchantPhoto]) -> HttpResponse | None:
        return apply_with_reason(
            self,
            request,
            queryset,
            title=_("Refuse these photos"),
            apply=lambda photo, reason: services.shop_photo_decide(
                photo=photo,
                approve=False,
                actor=request.user,  # type: ignore[arg-type]
                reason=reason,
            ),
        )


@admin.register(MerchantDay)
class MerchantDayAdmin(admin.ModelAdmin):
    list_display = ["merchant", "local_date", "redemptions_count"]
    list_filter = ["local_date"]
    list_select_related = ["merchant"]
    search_fields = ["merchant__name_zh"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
