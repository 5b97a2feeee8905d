"""The redemption part of the console: redemptions (void with a reason), refused scans, partner links, claims,
NFC tags, offline redemptions (read only), surge flags (a curator clears a flag to resume promotion) and
the outbox (read only: what the worker has still to do, with each row's failed attempts)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from core.admin import AuditHistoryMixin, ReadOnlyAdmin, apply_with_reason

from ..models import (
    Claim,
    NfcTag,
    OfflineRedemption,
    PartnerLink,
    Redemption,
    RedemptionOutbox,
    RefusedScan,
    SurgeFlag,
)
from . import services


@admin.register(Redemption)
class RedemptionAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = [
        "confirmed_at",
        "merchant",
        "member",
        "channel",
        "status",
        "bill_fen",
        "discount_fen",
        "charge_fen",
        "local_date",
    ]
    list_filter = ["status", "channel", "partner", "merchant__city", "local_date", "merchant"]
    date_hierarchy = "confirmed_at"
    # A partner platform's order is found by the partner's own order id (kept as reported; its code_id is
    # only a hash of it) and, like every visit, by the member's e-mail, phone or name.
    search_fields = [
        "public_id",
        "partner_order_id",
        "member__email",
        "member__phone",
        "member__display_name",
        "merchant__name_zh",
        "merchant__name_en",
        "code_id",
    ]
    list_select_related = ["merchant", "member"]
    actions = ["void"]
    readonly_fields = [f.name for f in Redemption._meta.fields] + ["audit_trail"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Void (with a reason)"), permissions=["change"])
    def void(self, request: HttpRequest, queryset: QuerySet[Redemption]) -> HttpResponse | None:
        # Operators may void after the staff window (support cases); the reason is audited.
        return apply_with_reason(
            self,
            request,
            queryset,
            title=_("Void redemptions"),
            apply=lambda obj, reason: services.redemption_void(
                redemption=obj,
                actor=request.user,  # type: ignore[arg-type]
                reason=reason,
                enforce_window=False,
            ),
        )


@admin.register(RefusedScan)
class RefusedScanAdmin(ReadOnlyAdmin):
    list_display = ["at", "reason", "step", "code_kind", "channel", "merchant", "staff", "partner", "member"]
    list_filter = ["reason", "step", "code_kind", "channel", "merchant__city"]
    date_hierarchy = "at"
    search_fields = ["code_text", "merchant__name_zh", "staff__email", "member__email"]
    list_select_related = ["merchant", "staff", "partner", "member"]


@admin.register(PartnerLink)
class PartnerLinkAdmin(ReadOnlyAdmin):
    """Which members linked which partner platforms (the token itself is never shown: only its hash is kept).
    A partner's conflicting order reports are refused scans with reason ``partner_order_conflict``."""

    list_display = ["linked_at", "member", "application", "unlinked_at"]
    list_filter = ["application"]
    date_hierarchy = "linked_at"
    search_fields = ["member__email", "member__phone", "application__name"]
    list_select_related = ["member", "application"]
    exclude = ["token_hash"]


@admin.register(OfflineRedemption)
class OfflineRedemptionAdmin(ReadOnlyAdmin):
    """What scanners accepted offline, as the server judged it: conflicts are the fraud signal curation reads."""

    list_display = ["received_at", "scanned_at", "outcome", "reasons", "merchant", "member", "staff", "bill_fen"]
    list_filter = ["outcome", "merchant__city"]
    date_hierarchy = "received_at"
    search_fields = ["client_id", "code_id", "merchant__name_zh", "member__email", "staff__email"]
    list_select_related = ["merchant", "member", "staff"]


@admin.register(Claim)
class ClaimAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "short_number", "merchant", "member", "bill_fen", "status", "tag_verified"]
    list_filter = ["status", "tag_verified", "merchant__city"]
    search_fields = ["public_id", "member__email", "merchant__name_zh"]
    list_select_related = ["merchant", "member"]


@admin.register(NfcTag)
class NfcTagAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["label", "merchant", "kind", "uid", "last_counter", "last_tap_at", "is_active"]
    list_filter = ["kind", "is_active", "merchant__city"]
    search_fields = ["label", "uid", "merchant__name_zh"]
    list_select_related = ["merchant"]
    readonly_fields = ["public_id", "keys_held", "uid", "last_counter", "last_tap_at", "audit_trail"]
    # The SUN keys are sealed at rest and never shown: a shop registers them with the tag (console or API).
    fields = ["merchant", "label", "kind", "is_active", *readonly_fields]
    raw_id_fields = ["merchant"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # shops register tags with their keys (console or API), where the keys are checked

    @admin.display(description=_("SUN keys"))
    def keys_held(self, tag: NfcTag) -> str:
        if tag.kind != NfcTag.Kind.SUN:
            return "—"
        return str(_("held, sealed at rest")) if tag.meta_read_key and tag.file_read_key else str(_("missing"))


@admin.register(SurgeFlag)
class SurgeFlagAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["detected_at", "merchant", "hour_count", "baseline", "cleared_at", "cleared_by"]
    list_filter = [("cleared_at", admin.EmptyFieldListFilter), "merchant__city"]
    list_select_related = ["merchant", "cleared_by"]
    readonly_fields = ["merchant", "detected_at", "hour_count", "baseline", "cleared_at", "cleared_by", "audit_trail"]
    fields = [*readonly_fields[:-1], "note", "audit_trail"]
    actions = ["clear"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Clear: promote the shop again"), permissions=["change"])
    def clear(self, request: HttpRequest, queryset: QuerySet[SurgeFlag]) -> HttpResponse | None:
        return apply_with_reason(
            self,
            request,
            queryset,
            title=_("Clear surge flags"),
            apply=lambda obj, reason: services.surge_clear(flag=obj, actor=request.user, note=reason),  # type: ignore[arg-type]
        )


@admin.register(RedemptionOutbox)
class RedemptionOutboxAdmin(ReadOnlyAdmin):
    list_display = ["pk", "event", "redemption", "created_at", "done_at", "attempts"]
    list_filter = ["event", ("done_at", admin.EmptyFieldListFilter)]
    search_fields = ["redemption__public_id", "last_error"]
    list_select_related = ["redemption"]
