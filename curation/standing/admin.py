"""The standing console: the complaint queue by age with SLA breaches, assignment, replies and outcomes;
findings with suspend / remove / clear; the appeals queue; removal rules as data; licences; evaluation runs.

Every action goes through ``curation.standing.services`` on an intermediate form page; refusals are shown
with their message, never half-applied.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin import AuditHistoryMixin, HistoryAdminMixin, ReadOnlyAdmin, reason_form
from core.errors import DomainError
from core.models import User
from core.roles import CURATOR
from core.selectors import people_in_role
from curation.models import (
    Appeal,
    Complaint,
    ComplaintMessage,
    EvaluationRun,
    Finding,
    MerchantLicence,
    RemovalRule,
)

from . import services as standing
from .selectors import (
    complaint_messages,
    complaint_sla,
    with_sla,
)

# --- forms of the intermediate pages --------------------------------------------------------------------


class ReplyForm(forms.Form):
    body = forms.CharField(label=_("Message to the member"), widget=forms.Textarea(attrs={"rows": 5}))
    internal = forms.BooleanField(label=_("Internal note (not sent to the member)"), required=False, initial=False)


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=Complaint.Outcome.choices)
    note = forms.CharField(label=_("Message to the member"), widget=forms.Textarea(attrs={"rows": 5}))


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("Curator"), queryset=User.objects.none())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = people_in_role(role=CURATOR)


#: The finding decisions' reason: sent to the merchant; an empty one is refused by the service.
ReasonForm = reason_form(label=_("Reason (sent to the merchant)"), required=False, rows=4)


class AppealDecisionForm(forms.Form):
    accept = forms.TypedChoiceField(
        label=_("Decision"),
        choices=[("1", _("accept: clear the finding")), ("0", _("reject: keep the finding"))],
        coerce=lambda v: v == "1",
    )
    note = forms.CharField(label=_("Note to the owner"), widget=forms.Textarea(attrs={"rows": 4}), required=False)


def _form_page(
    request: HttpRequest,
    *,
    title: str,
    form_class: type[forms.Form],
    back: str,
    apply: Callable[[Any], object],
    context: dict[str, Any] | None = None,
    done: str,
) -> HttpResponse:
    """Show a form; on a valid POST call ``apply(cleaned_data)``; DomainError goes back onto the form."""
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            apply(form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, done)
            return HttpResponseRedirect(back)
    return TemplateResponse(
        request,
        "curation/standing/admin/form.html",
        {"title": title, "form": form, "back": back, **(context or {}), **_site_context(request)},
    )


def _site_context(request: HttpRequest) -> dict[str, Any]:
    return dict(admin.site.each_context(request))


def _person(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


# --- complaints ------------------------------------------------------------------------------------------


def _when(moment: datetime) -> str:
    """A deadline as the console shows it: month-day and 24-hour time in the console's zone."""
    return date_format(timezone.localtime(moment), "m-d H:i")


class SlaFilter(admin.SimpleListFilter):
    title = _("SLA")
    parameter_name = "sla"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("first_breached", _("first response breached")),
            ("resolution_breached", _("resolution breached")),
            ("ok", _("within SLA")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Complaint]) -> QuerySet[Complaint]:
        value = self.value()
        if value == "first_breached":
            return queryset.filter(first_response_breached=True)  # type: ignore[misc]
        if value == "resolution_breached":
            return queryset.filter(resolution_breached=True)  # type: ignore[misc]
        if value == "ok":
            return queryset.filter(first_response_breached=False, resolution_breached=False)  # type: ignore[misc]
        return queryset


class AgeFilter(admin.SimpleListFilter):
    title = _("age")
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("lt24", _("under 24 hours")), ("24to72", _("24 to 72 hours")), ("gt72", _("over 72 hours"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Complaint]) -> QuerySet[Complaint]:
        now = timezone.now()
        value = self.value()
        if value == "lt24":
            return queryset.filter(created_at__gt=now - timedelta(hours=24))
        if value == "24to72":
            return queryset.filter(created_at__lte=now - timedelta(hours=24), created_at__gt=now - timedelta(hours=72))
        if value == "gt72":
            return queryset.filter(created_at__lte=now - timedelta(hours=72))
        return queryset


class ComplaintMessageInline(admin.TabularInline):
    model = ComplaintMessage
    extra = 0
    fields = ("created_at", "author_role", "author", "body")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Complaint)
class ComplaintAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = [
        "short_id",
        "created_at",
        "age",
        "sla_state",
        "state",
        "category",
        "merchant",
        "assignee",
        "outcome",
    ]
    list_filter = ["state", SlaFilter, AgeFilter, "category", "outcome", ("assignee", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["public_id", "merchant__name_zh", "merchant__name_en", "member__email", "text"]
    list_select_related = ["merchant", "assignee"]
    ordering = ["created_at"]
    inlines = [ComplaintMessageInline]

    class Media:
        css = {"all": ["css/ops.css"]}

    readonly_fields = (
        "public_id",
        "member",
        "merchant",
        "redemption",
        "partner",
        "category",
        "text",
        "photo_link",
        "state",
        "outcome",
        "resolution_note",
        "assignee",
        "created_at",
        "first_response_due",
        "first_responded_at",
        "resolution_due",
        "resolved_at",
        "sla_state",
        "actions_links",
        "audit_trail",
    )
    fields = readonly_fields
    actions = ["assign_to_me"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Complaint]:
        return with_sla(super().get_queryset(request))

    @admin.display(description=_("ticket"))
    def short_id(self, obj: Complaint) -> str:
        return obj.public_id.hex[:8]

    @admin.display(description=_("age"), ordering="created_at")
    def age(self, obj: Complaint) -> str:
        hours = int(complaint_sla(complaint=obj).age.total_seconds() // 3600)
        return f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h"

    @admin.display(description=_("SLA"))
    def sla_state(self, obj: Complaint) -> str:
        """Which deadline and when: "first response overdue since 12-03 14:00", "resolution due in 5h (12-04 09:30)"."""
        sla = complaint_sla(complaint=obj)
        first, resolution = _when(obj.first_response_due), _when(obj.resolution_due)
        if sla.first_response_breached and obj.first_responded_at is None:
            text = _("first response overdue since %(due)s") % {"due": first}
            return format_html('<strong class="sla-breach">{}</strong>', text)
        if sla.resolution_breached and obj.resolved_at is None:
            return format_html(
                '<strong class="sla-breach">{}</strong>', _("resolution overdue since %(due)s") % {"due": resolution}
            )
        if sla.first_response_breached:
            return format_html(
                '<span class="sla-late">{}</span>', _("first response was late (due %(due)s)") % {"due": first}
            )
        if sla.resolution_breached:
            return format_html(
                '<span class="sla-late">{}</span>', _("resolved late (due %(due)s)") % {"due": resolution}
            )
        if sla.first_response_left is not None:
            hours = max(0, int(sla.first_response_left.total_seconds() // 3600))
            return str(_("first response due in %(h)sh (%(due)s)") % {"h": hours, "due": first})
        if sla.resolution_left is not None:
            hours = max(0, int(sla.resolution_left.total_seconds() // 3600))
            return str(_("resolution due in %(h)sh (%(due)s)") % {"h": hours, "due": resolution})
        return str(_("answered and resolved in time"))

    @admin.display(description=_("photo"))
    def photo_link(self, obj: Complaint) -> str:
        if not obj.photo:
            return "—"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>',
            reverse("curation:complaint_photo", kwargs={"public_id": obj.public_id}),
            _("open the photo"),
        )

    @admin.display(description=_("handle"))
    def actions_links(self, obj: Complaint) -> str:
        if obj.pk is None or obj.state == Complaint.State.RESOLVED:
            return "—"
        return format_html(
            '<a class="button" href="{}">{}</a> <a class="button" href="{}">{}</a> <a class="button" href="{}">{}</a>',
            reverse("admin:curation_complaint_reply", args=[obj.pk]),
            _("Reply"),
            reverse("admin:curation_complaint_resolve", args=[obj.pk]),
            _("Resolve"),
            reverse("admin:curation_complaint_assign", args=[obj.pk]),
            _("Assign"),
        )

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/reply/", wrap(self.reply_view), name="curation_complaint_reply"),
            path("<int:pk>/resolve/", wrap(self.resolve_view), name="curation_complaint_resolve"),
            path("<int:pk>/assign/", wrap(self.assign_view), name="curation_complaint_assign"),
            *super().get_urls(),
        ]

    def _get(self, request: HttpRequest, pk: int) -> Complaint:
        if not self.has_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(Complaint.objects.select_related("member", "merchant"), pk=pk)

    def _context(self, complaint: Complaint) -> dict[str, Any]:
        return {
            "complaint": complaint,
            "thread": complaint_messages(complaint=complaint, include_internal=True),
            "sla": complaint_sla(complaint=complaint),
        }

    def reply_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        complaint = self._get(request, pk)
        return _form_page(
            request,
            title=str(_("Reply to the member")),
            form_class=ReplyForm,
            back=reverse("admin:curation_complaint_change", args=[pk]),
            apply=lambda d: standing.complaint_reply(
                complaint=complaint, actor=_person(request), body=d["body"], internal=d["internal"]
            ),
            context=self._context(complaint),
            done=str(_("Reply recorded.")),
        )

    def resolve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        complaint = self._get(request, pk)
        return _form_page(
            request,
            title=str(_("Resolve the complaint")),
            form_class=ResolveForm,
            back=reverse("admin:curation_complaint_change", args=[pk]),
            apply=lambda d: standing.complaint_resolve(
                complaint=complaint, actor=_person(request), outcome=d["outcome"], note=d["note"]
            ),
            context=self._context(complaint),
            done=str(_("Complaint resolved.")),
        )

    def assign_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        complaint = self._get(request, pk)
        return _form_page(
            request,
            title=str(_("Assign the complaint")),
            form_class=AssignForm,
            back=reverse("admin:curation_complaint_change", args=[pk]),
            apply=lambda d: standing.complaint_assign(
                complaint=complaint, assignee=d["assignee"], actor=_person(request)
            ),
            context=self._context(complaint),
            done=str(_("Complaint assigned.")),
        )

    @admin.action(description=_("Assign to me"), permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Complaint]) -> None:
        done = 0
        for complaint in queryset:
            try:
                standing.complaint_assign(complaint=complaint, assignee=_person(request), actor=_person(request))
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{complaint}: {exc.detail}", messages.ERROR)
        if done:
            self.message_user(request, _("%(n)s complaints assigned to you.") % {"n": done}, messages.SUCCESS)


# --- findings and appeals -----------------------------------------------------------------------------------


class AppealInline(admin.StackedInline):
    model = Appeal
    extra = 0
    fields = ("state", "author", "text", "created_at", "decided_by", "decided_at", "decision_note")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FixByFilter(admin.SimpleListFilter):
    title = _("fix-by date")
    parameter_name = "fix_by"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("passed", _("passed")), ("week", _("within 7 days"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Finding]) -> QuerySet[Finding]:
        today = standing.evaluation_day()
        if self.value() == "passed":
            return queryset.filter(fix_by__lt=today)
        if self.value() == "week":
            return queryset.filter(fix_by__gte=today, fix_by__lte=today + timedelta(days=7))
        return queryset


@admin.register(Finding)
class FindingAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["merchant", "rule_kind", "rule_version", "evaluated_on", "fix_by", "state", "summary", "appealed"]
    list_filter = ["state", "rule_kind", FixByFilter, "merchant__city"]
    search_fields = ["merchant__name_zh", "merchant__name_en", "public_id"]
    list_select_related = ["merchant", "appeal"]
    ordering = ["fix_by", "pk"]
    inlines = [AppealInline]
    # The evidence is shown once, in words (the latest evaluation's, and the first one's only where it differs);
    # the recorded data behind it stays at hand, folded.
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "public_id",
                    "merchant",
                    "rule",
                    "rule_kind",
                    "rule_version",
                    "evaluated_on",
                    "summary",
                    "first_summary",
                    "last_breached_on",
                    "state",
                    "fix_by",
                    "decided_by",
                    "decided_at",
                    "decision_reason",
                    "cleared_automatically",
                    "actions_links",
                )
            },
        ),
        (_("Recorded data"), {"classes": ["collapse"], "fields": ("evidence", "latest_evidence")}),
        (None, {"fields": ("audit_trail",)}),
    )
    readonly_fields = tuple(str(name) for _title, options in fieldsets for name in options["fields"])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("evidence"))
    def summary(self, obj: Finding) -> str:
        return standing.evidence_summary(kind=obj.rule_kind, evidence=obj.latest_evidence or obj.evidence)

    @admin.display(description=_("evidence when found"))
    def first_summary(self, obj: Finding) -> str:
        if not obj.latest_evidence or obj.latest_evidence == obj.evidence:
            return "—"  # the same as above
        return standing.evidence_summary(kind=obj.rule_kind, evidence=obj.evidence)

    @admin.display(description=_("appeal"), boolean=True)
    def appealed(self, obj: Finding) -> bool:
        return hasattr(obj, "appeal")

    @admin.display(description=_("decide"))
    def actions_links(self, obj: Finding) -> str:
        if obj.pk is None or not obj.is_active:
            return "—"
        links = [("clear", _("Clear")), ("remove", _("Remove the merchant (淘汰)"))]
        if obj.state == Finding.State.OPEN:
            links.insert(1, ("suspend", _("Suspend the merchant")))
        return format_html(
            " ".join('<a class="button" href="{}">{}</a>' for _ in links),
            *[
                x
                for action, label in links
                for x in (reverse("admin:curation_finding_decide", args=[obj.pk, action]), label)
            ],
        )

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/decide/<str:action>/",
                self.admin_site.admin_view(self.decide_view),
                name="curation_finding_decide",
            ),
            *super().get_urls(),
        ]

    def decide_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        finding = get_object_or_404(Finding.objects.select_related("merchant"), pk=pk)
        services: dict[str, tuple[Any, str, str]] = {
            "clear": (standing.finding_clear, str(_("Clear the finding")), str(_("Finding cleared."))),
            "suspend": (standing.finding_suspend, str(_("Suspend the merchant")), str(_("Merchant suspended."))),
            "remove": (standing.finding_remove, str(_("Remove the merchant (淘汰)")), str(_("Merchant removed."))),
        }
        if action not in services:
            raise PermissionDenied
        service, title, done = services[action]
        return _form_page(
            request,
            title=title,
            form_class=ReasonForm,
            back=reverse("admin:curation_finding_change", args=[pk]),
            apply=lambda d: service(finding=finding, actor=_person(request), reason=d["reason"]),
            context={
                "finding": finding,
                "summary": standing.evidence_summary(kind=finding.rule_kind, evidence=finding.latest_evidence),
            },
            done=done,
        )


@admin.register(Appeal)
class AppealAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["finding", "merchant", "excerpt", "state", "created_at", "decided_by"]
    list_filter = ["state"]
    search_fields = ["finding__merchant__name_zh", "text"]
    list_select_related = ["finding__merchant", "decided_by"]
    ordering = ["created_at"]
    readonly_fields = (
        "finding",
        "author",
        "text",
        "state",
        "created_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "decide_link",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("merchant"))
    def merchant(self, obj: Appeal) -> str:
        return str(obj.finding.merchant)

    @admin.display(description=_("appeal"))
    def excerpt(self, obj: Appeal) -> str:
        return obj.text[:80]

    @admin.display(description=_("decide"))
    def decide_link(self, obj: Appeal) -> str:
        if obj.pk is None or obj.state != Appeal.State.PENDING:
            return "—"
        return format_html(
            '<a class="button" href="{}">{}</a>', reverse("admin:curation_appeal_decide", args=[obj.pk]), _("Decide")
        )

    def get_urls(self) -> list[Any]:
        return [
            path("<int:pk>/decide/", self.admin_site.admin_view(self.decide_view), name="curation_appeal_decide"),
            *super().get_urls(),
        ]

    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        appeal = get_object_or_404(Appeal.objects.select_related("finding__merchant"), pk=pk)
        return _form_page(
            request,
            title=str(_("Decide the appeal")),
            form_class=AppealDecisionForm,
            back=reverse("admin:curation_appeal_changelist"),
            apply=lambda d: standing.appeal_decide(
                appeal=appeal, actor=_person(request), accept=d["accept"], note=d["note"]
            ),
            context={
                "appeal": appeal,
                "finding": appeal.finding,
                "summary": standing.evidence_summary(kind=appeal.finding.rule_kind, evidence=appeal.finding.evidence),
            },
            done=str(_("Appeal decided.")),
        )


# --- rules, licences, runs ---------------------------------------------------------------------------------


@admin.register(RemovalRule)
class RemovalRuleAdmin(AuditHistoryMixin, HistoryAdminMixin):
    history_reason_required = True
    list_display = ["kind", "version", "is_active", "active_from", "fix_days", "parameters", "description"]
    list_filter = ["kind", "is_active"]
    readonly_fields = ["created_at", "audit_trail"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A version that produced findings is history: change it by adding a new version.
        if obj is not None and obj.findings.exists():
            return ["kind", "version", "parameters", "fix_days", "active_from", "created_at", "audit_trail"]
        return list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: RemovalRule, form: Any, change: bool) -> None:
        from core.services import audit_record

        super().save_model(request, obj, form, change)
        audit_record(
            actor=_person(request),
            action="curation.removal_rule_change" if change else "curation.removal_rule_add",
            obj=obj,
            after={"parameters": obj.parameters, "version": obj.version, "is_active": obj.is_active},
        )


@admin.register(MerchantLicence)
class MerchantLicenceAdmin(admin.ModelAdmin):
    list_display = ["merchant", "kind", "number", "expires_on", "recorded_at"]
    list_filter = ["kind"]
    search_fields = ["merchant__name_zh", "number"]
    autocomplete_fields = ["merchant"]
    date_hierarchy = "expires_on"


@admin.register(EvaluationRun)
class EvaluationRunAdmin(ReadOnlyAdmin):
    list_display = [
        "evaluated_on",
        "started_at",
        "finished_at",
        "attempts",
        "merchants_evaluated",
        "findings_created",
        "findings_cleared",
    ]
