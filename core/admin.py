"""The platform's part of the console: people, partner apps and the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.functional import Promise
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise
from simple_history.admin import SimpleHistoryAdmin

from .errors import DomainError
from .history import snapshot_before_first_change
from .models import AuditEntry, Notification, User, WebhookDelivery, WebhookEndpoint, WebhookEvent
from .services import audit_history


class AuditHistoryMixin:
    """Shows the object's audit trail, read-only, on its change page."""

    def audit_trail(self, obj: Any) -> SafeString:
        if obj is None or obj.pk is None:
            return SafeString("")
        return SafeString(render_to_string("core/admin/audit_trail.html", {"entries": audit_history(obj)[:200]}))

    audit_trail.short_description = _("audit trail")  # type: ignore[attr-defined]


class ReasonForm(forms.Form):
    """The written reason an audited console action asks for."""

    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


def reason_form(*, label: StrOrPromise, required: bool = True, rows: int = 3) -> type[ReasonForm]:
    """A :class:`ReasonForm` with another label, or an optional reason (when the service itself refuses an empty
    one with its own code and message)."""

    class Form(ReasonForm):
        reason = forms.CharField(label=label, widget=forms.Textarea(attrs={"rows": rows}), required=required)

    return Form


#: What a reason-asking action reports when it is done (``%(n)d`` objects changed).
DONE = _("%(n)d done.")


def apply_with_reason(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    title: str | Promise,
    apply: Callable[[Any, str], object],
    done: str | Promise = DONE,
) -> HttpResponse | None:
    """A reason-asking admin action: show ``reason_action.html`` for the selected objects, then, on a valid
    reason, call ``apply(obj, reason)`` for each one. A ``DomainError`` is reported for its object and the others
    go on; ``done`` (with ``%(n)d``) reports how many succeeded."""
    form = ReasonForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        count = 0
        for obj in queryset:
            try:
                apply(obj, form.cleaned_data["reason"])
                count += 1
            except DomainError as exc:
                modeladmin.message_user(request, f"{obj}: {exc.detail}", messages.ERROR)
        if count:
            modeladmin.message_user(request, str(done) % {"n": count}, messages.SUCCESS)
        return None
    return TemplateResponse(
        request,
        "core/admin/reason_action.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "objects": queryset,
            "form": form,
            "action": request.POST.get("action"),
            "opts": modeladmin.model._meta,
        },
    )


#: The extra field of a tracked console page: why the change was made (kept in the model's history).
REASON_FIELD = "change_reason"


def _stamp(obj: Any, request: HttpRequest, reason: str | None) -> None:
    # django-simple-history reads these two attributes when the row is saved.
    obj._history_user = request.user  # noqa: SLF001
    obj._change_reason = reason or None  # noqa: SLF001


class HistoryAdminMixin(SimpleHistoryAdmin):
    """A console page whose edits are kept in the model's history (``core.history``): who, when, before/after,
    and a reason, required where ``history_reason_required`` (the change is a decision). Inline rows saved
    from the page carry the same person and reason. The history view lists the changes; there is no revert
    (``SIMPLE_HISTORY_REVERT_DISABLED``): reverting would bypass the services' rules."""

    #: The change is a decision: the reason is required.
    history_reason_required = False
    #: Web addresses typed without a scheme are https (Django 6's default, without its deprecation warning).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        reason = forms.CharField(
            label=_("Reason for this change"),
            required=self.history_reason_required,
            max_length=1000,
            widget=forms.Textarea(attrs={"rows": 2}),
            help_text=_("Kept in the history with who changed what, and when."),
        )
        base = kwargs.pop("form", None) or self.form
        kwargs["form"] = type(f"{base.__name__}WithReason", (base,), {REASON_FIELD: reason})
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if REASON_FIELD not in flatten_fieldsets(fieldsets):
            fieldsets.append((_("Reason"), {"fields": [REASON_FIELD]}))
        return fieldsets

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            snapshot_before_first_change(obj)
        _stamp(obj, request, form.cleaned_data.get(REASON_FIELD))
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        reason = form.cleaned_data.get(REASON_FIELD)
        instances = formset.save(commit=False)
        for gone in formset.deleted_objects:
            snapshot_before_first_change(gone)
            _stamp(gone, request, reason)
            gone.delete()
        for instance in instances:
            snapshot_before_first_change(instance)
            _stamp(instance, request, reason)
            instance.save()
        formset.save_m2m()


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(AuditHistoryMixin, DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "display_name", "phone"]
    readonly_fields = ["public_id", "last_login", "date_joined", "audit_trail"]
    fieldsets = (
        (None, {"fields": ("email", "password", "public_id")}),
        (_("Profile"), {"fields": ("display_name", "phone", "birth_year", "language")}),
        (_("Roles"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
        (_("History"), {"fields": ("audit_trail",)}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_label", "action", "object_type", "object_repr", "reason"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "object_repr", "object_id", "reason"]
    date_hierarchy = "at"
    list_select_related = ["object_type"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "title", "read_at"]
    list_filter = ["kind"]
    search_fields = ["user__email", "title"]
    list_select_related = ["user"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(HistoryAdminMixin):
    list_display = ["url", "application", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "application__name"]
    readonly_fields = ["public_id", "secret", "previous_secret_until"]
    exclude = ["previous_secret"]
    actions = ["rotate_secrets"]

    @admin.action(description=_("Rotate the signing secret (the previous one signs too for a day)"))
    def rotate_secrets(self, request: HttpRequest, queryset: Any) -> None:
        from .webhooks import endpoint_rotate_secret

        for endpoint in queryset:
            endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
        self.message_user(
            request,
            _("%(count)d signing secrets rotated: hand each partner its new secret from the endpoint's page.")
            % {"count": queryset.count()},
        )


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "type", "msg_id"]
    list_filter = ["type"]
    search_fields = ["msg_id"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log, with a replay action."""

    list_display = [
        "id",
        "event",
        "endpoint",
        "state",
        "attempts",
        "last_status_code",
        "last_attempt_at",
        "next_attempt_at",
    ]
    list_filter = ["state", "event__type"]
    search_fields = ["event__msg_id", "endpoint__url"]
    list_select_related = ["event", "endpoint"]
    actions = ["replay_deliveries"]

    @admin.action(description=_("Replay the selected deliveries now"), permissions=["view"])
    def replay_deliveries(self, request: HttpRequest, queryset: Any) -> None:
        from .webhooks import replay

        for delivery in queryset:
            replay(delivery=delivery, actor=request.user)
        self.message_user(request, _("%(count)d deliveries queued again.") % {"count": queryset.count()})
