"""The curators' recruitment queue: shops members ask for, most wanted first, per city and district, with the
invite to apply (a pre-filled application link) and the decline with a reason."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from core.admin import AuditHistoryMixin, apply_with_reason
from core.errors import DomainError
from curation.models.wanted import Nomination, WantedShop

from . import selectors, services


class NominationInline(admin.TabularInline):
    model = Nomination
    extra = 0
    can_delete = False
    fields = ("asked_at", "name", "address", "note_url")
    readonly_fields = fields
    ordering = ["-asked_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WantedShop)
class WantedShopAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["name", "city", "district", "members", "demand", "state", "invited_at", "merchant"]
    list_filter = ["state", "city", "district"]
    search_fields = ["name", "address"]
    list_select_related = ["city", "district", "merchant"]
    readonly_fields = (
        "name",
        "city",
        "district",
        "address",
        "lat",
        "lng",
        "state",
        "invited_at",
        "merchant",
        "listed_at",
        "created_at",
        "invite_link",
        "audit_trail",
    )
    fields = readonly_fields
    inlines = [NominationInline]
    actions = ["invite", "decline"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WantedShop]:
        # Most wanted first: the ranking of the queue (the demand of every state, for the filters).
        ranked = selectors.with_demand(super().get_queryset(request))
        return ranked.order_by("-demand", "-members", "created_at", "pk")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # shops come from members' requests

    @admin.display(description=_("members asking"), ordering="members")
    def members(self, obj: Any) -> int:
        return int(obj.members)

    @admin.display(description=_("demand"), ordering="demand")
    def demand(self, obj: Any) -> str:
        return f"{obj.demand:.1f}"

    @admin.display(description=_("application link"))
    def invite_link(self, obj: WantedShop) -> str:
        return services.invite_link(shop=obj) if obj.state == WantedShop.State.INVITED else "—"

    @admin.action(description=_("Invite to apply (pre-filled application link)"), permissions=["change"])
    def invite(self, request: HttpRequest, queryset: QuerySet[WantedShop]) -> None:
        for shop in queryset:
            try:
                link = services.wanted_invite(shop=shop, actor=request.user)  # type: ignore[arg-type]
            except DomainError as exc:
                self.message_user(request, f"{shop}: {exc.detail}", messages.ERROR)
            else:
                self.message_user(
                    request, _("Send %(shop)s this link: %(link)s") % {"shop": shop, "link": link}, messages.SUCCESS
                )

    @admin.action(description=_("Decline (with a reason)"), permissions=["change"])
    def decline(self, request: HttpRequest, queryset: QuerySet[WantedShop]) -> HttpResponse | None:
        return apply_with_reason(
            self,
            request,
            queryset,
            title=_("Decline these shops"),
            apply=lambda shop, reason: services.wanted_decline(
                shop=shop,
                actor=request.user,  # type: ignore[arg-type]
                reason=reason,
            ),
        )
