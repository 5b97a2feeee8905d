"""The attribution part of the console (issue 6): notes (a curator may hide one, with a reason) and the
credits each visit gave to notes. Touches are not listed: tens of millions of rows, read through the
dashboard instead."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from core.admin import AuditHistoryMixin, ReadOnlyAdmin, apply_with_reason

from ..models import AttributionCredit, Note
from . import services


class NoteTagInline(admin.TabularInline):
    model = Note.merchants.through
    extra = 0
    can_delete = False
    raw_id_fields = ["merchant"]
    verbose_name = _("merchant tagged")
    verbose_name_plural = _("merchants tagged")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Note)
class NoteAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["title", "source", "published_at", "verified", "credits", "hidden_at"]
    list_filter = [("hidden_at", admin.EmptyFieldListFilter), "source", "published_at"]
    search_fields = ["title", "external_id", "author_external_id", "author_member__email"]
    list_select_related = ["source"]
    date_hierarchy = "published_at"
    readonly_fields = [f.name for f in Note._meta.fields] + ["audit_trail"]
    inlines = [NoteTagInline]
    actions = ["hide"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Note]:
        return super().get_queryset(request).annotate(credit_count=Count("credits"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # notes come from the content apps

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # hide instead: credits and history stay

    @admin.display(description=_("verified visit"), boolean=True)
    def verified(self, note: Note) -> bool:
        return note.verified_visit

    @admin.display(description=_("credits"), ordering="credit_count")
    def credits(self, note: Note) -> int:
        return note.credit_count  # type: ignore[attr-defined]

    @admin.action(description=_("Hide from readers and leaderboards (with a reason)"), permissions=["change"])
    def hide(self, request: HttpRequest, queryset: QuerySet[Note]) -> HttpResponse | None:
        return apply_with_reason(
            self,
            request,
            queryset,
            title=_("Hide notes"),
            apply=lambda note, reason: services.note_moderate_hide(
                note=note,
                actor=request.user,  # type: ignore[arg-type]
                reason=reason,
            ),
        )


@admin.register(AttributionCredit)
class AttributionCreditAdmin(ReadOnlyAdmin):
    list_display = ["local_date", "merchant", "note", "model", "share_ppm", "revenue_fen", "redemption"]
    list_filter = ["model", "merchant__city"]
    search_fields = ["note__title", "merchant__name_zh", "redemption__public_id"]
    list_select_related = ["merchant", "note", "redemption"]
    raw_id_fields = ["redemption", "note", "merchant"]
    show_full_result_count = False
