"""The console for member events: review (publish / reject with a note), capacity changes that
promote from the waitlist, cancellation with a reason, the attendance list and its CSV export.
Every action calls ``members.events.services``; registrations are read-only here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.admin import AuditHistoryMixin, ReadOnlyAdmin
from core.errors import DomainError

from ..admin import RefundRetryMixin
from ..models import Event, EventCheckIn, EventPayment, EventRefund, EventRegistration
from . import selectors, services
from .views import attendance_csv


class RegistrationInline(admin.TabularInline):
    model = EventRegistration
    extra = 0
    can_delete = False
    fields = ["user", "state", "places", "waitlist_position", "offer_expires_at", "as_member", "no_show", "created_at"]
    readonly_fields = fields  # type: ignore[assignment]
    ordering = ["state", "waitlist_position", "created_at"]
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class CapacityForm(forms.Form):
    capacity = forms.IntegerField(label=_("New capacity"), min_value=1)


@admin.register(Event)
class EventAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["title", "state", "city", "starts_at", "capacity", "places_taken", "waiting", "organiser", "venue"]
    list_filter = ["state", "city"]
    search_fields = ["title", "address", "organiser__name_zh", "venue__name_zh"]
    date_hierarchy = "starts_at"
    autocomplete_fields = ["organiser", "venue"]
    inlines = [RegistrationInline]
    actions = ["publish", "reject", "change_capacity", "cancel_events", "export_attendance", "promote_waitlist"]
    readonly_fields = ["state", "places_taken", "review_note", "cancel_reason", "audit_trail"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # An existing event's capacity changes only through the action (which promotes from the waitlist).
        fields = list(self.readonly_fields)
        return [*fields, "capacity"] if obj is not None else fields

    @admin.display(description=_("on the waitlist"))
    def waiting(self, obj: Event) -> int:
        return obj.registrations.filter(state=EventRegistration.State.WAITLISTED).count()

    def save_model(self, request: HttpRequest, obj: Event, form: Any, change: bool) -> None:
        """New events enter review (the curator publishes them with the action); edits keep the state."""
        if not change:
            obj.state = Event.State.IN_REVIEW
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def _each(self, request: HttpRequest, queryset: QuerySet[Event], fn: Any, done: Any) -> None:
        count = 0
        for event in queryset:
            try:
                fn(event)
                count += 1
            except DomainError as exc:
                self.message_user(request, f"{event.title}: {exc.detail}", messages.ERROR)
        if count:
            self.message_user(request, done % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Publish (review passed)"), permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        self._each(
            request,
            queryset,
            lambda e: services.event_review(event=e, approve=True, actor=request.user),  # type: ignore[arg-type]
            _("%(count)d event(s) published."),
        )

    def _form_page(
        self, request: HttpRequest, queryset: QuerySet[Event], form: forms.Form, title: Any, action: str
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "events": list(queryset),
            "action": action,
            "ids": [str(pk) for pk in queryset.values_list("pk", flat=True)],
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "members/admin/event_action.html", context)

    @admin.action(description=_("Reject (asks for a note)"), permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Event]) -> HttpResponse | None:
        return self._with_form(
            request,
            queryset,
            ReasonForm,
            lambda e, data: services.event_review(event=e, approve=False, actor=request.user, note=data["reason"]),  # type: ignore[arg-type]
            done=_("%(count)d event(s) rejected."),
            title=_("Reject events"),
            action="reject",
        )

    @admin.action(description=_("Change the capacity (promotes from the waitlist)"), permissions=["change"])
    def change_capacity(self, request: HttpRequest, queryset: QuerySet[Event]) -> HttpResponse | None:
        return self._with_form(
            request,
            queryset,
            CapacityForm,
            lambda e, data: services.event_capacity_set(event=e, capacity=data["capacity"], actor=request.user),  # type: ignore[arg-type]
            done=_("Capacity of %(count)d event(s) changed."),
            title=_("Change the capacity"),
            action="change_capacity",
        )

    @admin.action(
        description=_("Cancel the event (asks for a reason; everyone registered is told)"), permissions=["change"]
    )
    def cancel_events(self, request: HttpRequest, queryset: QuerySet[Event]) -> HttpResponse | None:
        return self._with_form(
            request,
            queryset,
            ReasonForm,
            lambda e, data: services.event_cancel(event=e, reason=data["reason"], actor=request.user),  # type: ignore[arg-type]
            done=_("%(count)d event(s) cancelled."),
            title=_("Cancel events"),
            action="cancel_events",
        )

    def _with_form(
        self,
        request: HttpRequest,
        queryset: QuerySet[Event],
        form_class: type[forms.Form],
        fn: Any,
        *,
        done: Any,
        title: Any,
        action: str,
    ) -> HttpResponse | None:
        """An action that first asks for its input (a reason, a capacity), then calls ``fn(event, data)``
        on each selected event."""
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            self._each(request, queryset, lambda e: fn(e, data), done)
            return None
        return self._form_page(request, queryset, form, title, action)

    @admin.action(description=_("Offer free places to the waitlist now"), permissions=["change"])
    def promote_waitlist(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        self._each(request, queryset, lambda e: services.waitlist_promote(event=e), _("%(count)d event(s) done."))

    @admin.action(description=_("Export the attendance list (CSV)"), permissions=["view"])
    def export_attendance(self, request: HttpRequest, queryset: QuerySet[Event]) -> HttpResponse:
        if queryset.count() != 1:
            self.message_user(request, _("Choose one event to export."), messages.WARNING)
            return HttpResponseRedirect(reverse("admin:members_event_changelist"))
        event = queryset.get()
        return attendance_csv(event, list(selectors.attendance(event=event)))


@admin.register(EventRegistration)
class EventRegistrationAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    list_display = ["event", "user", "state", "places", "waitlist_position", "as_member", "no_show", "created_at"]
    list_filter = ["state", "no_show", "as_member"]
    search_fields = ["event__title", "user__email"]
    readonly_fields = ["audit_trail"]


@admin.register(EventCheckIn)
class EventCheckInAdmin(ReadOnlyAdmin):
    list_display = ["registration", "at", "method", "places", "by_label"]
    list_filter = ["method"]
    search_fields = ["registration__event__title", "registration__user__email"]


@admin.register(EventPayment)
class EventPaymentAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    list_display = ["public_id", "registration", "amount_fen", "state", "provider", "created_at", "paid_at"]
    list_filter = ["state", "provider"]
    search_fields = ["public_id", "provider_txn_id", "registration__user__email", "registration__event__title"]
    readonly_fields = ["audit_trail"]


@admin.register(EventRefund)
class EventRefundAdmin(RefundRetryMixin, ReadOnlyAdmin):
    actions = ["retry_failed"]
    list_display = [
        "public_id",
        "payment",
        "amount_fen",
        "reason",
        "state",
        "provider_state",
        "attempts",
        "last_error",
        "created_at",
        "settled_at",
    ]
    list_filter = ["state"]
    search_fields = ["public_id", "payment__public_id", "payment__registration__user__email"]
