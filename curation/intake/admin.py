"""The intake console: the application queue, the rule checklist, assignment, on-site visits and
decisions (approve / reject / request changes) through intermediate form pages calling
:mod:`curation.intake.services`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from core.admin import AuditHistoryMixin, HistoryAdminMixin
from core.errors import DomainError
from curation.models import AdmissionRule, Application, Decision, RuleResult, SiteVisit
from merchants.validators import opening_hours_text

from . import services
from .evidence import describe, percent, yuan
from .forms import AssignForm, DecisionForm


class AgeFilter(admin.SimpleListFilter):
    title = _("age")
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("lt2", _("under 2 days")), ("2to7", _("2 to 7 days")), ("gt7", _("over 7 days"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Application]) -> QuerySet[Application]:
        now = timezone.now()
        value = self.value()
        if value == "lt2":
            return queryset.filter(submitted_at__gt=now - timedelta(days=2))
        if value == "2to7":
            return queryset.filter(submitted_at__lte=now - timedelta(days=2), submitted_at__gt=now - timedelta(days=7))
        if value == "gt7":
            return queryset.filter(submitted_at__lte=now - timedelta(days=7))
        return queryset


class SiteVisitInline(admin.TabularInline):
    model = SiteVisit
    extra = 1
    fields = ["visited_on", "visitor", "score", "notes"]
    autocomplete_fields = ["visitor"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a visit record is not rewritten; add another

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DecisionInline(admin.TabularInline):
    model = Decision
    extra = 0
    can_delete = False
    fields = ["at", "kind", "reason_code", "message", "override_reason", "overridden_rules", "actor"]
    readonly_fields = ["at", "kind", "reason_code", "message", "override_reason", "overridden_rules", "actor"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


#: Fields of the application that read better in words: money in ¥, discounts in %, hours as text, the place
#: rounded to a metre. Each maps to a display method of ``ApplicationAdmin``.
READABLE = {
    "average_spend_fen": "average_spend",
    "offer_rate_bp": "offer_rate",
    "offer_cap_fen": "offer_cap",
    "offer_min_bill_fen": "offer_min_bill",
    "opening_hours": "hours",
    "lat": "place",
    "lng": "place",
}
APPLICANT_FIELDS: list[Any] = list(dict.fromkeys(READABLE.get(name, name) for name in services.EDITABLE_FIELDS))


@admin.register(Application)
class ApplicationAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["__str__", "city", "category", "state", "reviewer", "submitted_at", "age", "failed_rules"]
    list_filter = ["state", "city", "category", ("reviewer", admin.RelatedOnlyFieldListFilter), AgeFilter]
    search_fields = ["name_zh", "name_en", "legal_name", "uscc", "food_licence", "owner__email"]
    list_select_related = ["city", "category", "reviewer"]
    ordering = ["submitted_at", "id"]
    change_form_template = "curation/admin/application_change_form.html"
    readonly_fields = [
        "public_id",
        "owner",
        "state",
        "reviewer",
        "merchant",
        "submitted_at",
        "decided_at",
        "checklist",
        *APPLICANT_FIELDS,
        "audit_trail",
    ]
    fieldsets = [
        (None, {"fields": ["public_id", "owner", "state", "reviewer", "merchant", "submitted_at", "decided_at"]}),
        (_("Admission rules"), {"fields": ["checklist"]}),
        (_("The application"), {"fields": APPLICANT_FIELDS}),
        (_("History"), {"fields": ["audit_trail"], "classes": ["collapse"]}),
    ]
    inlines = [SiteVisitInline, DecisionInline]
    actions = ["assign", "evaluate", "approve", "reject", "request_changes"]

    class Media:
        css = {"all": ["css/ops.css"]}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # owners apply through the wizard or the API

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Application]:
        return super().get_queryset(request).prefetch_related("rule_results")

    @admin.display(description=_("age (days)"), ordering="submitted_at")
    def age(self, obj: Application) -> int | None:
        return obj.age_days

    @admin.display(description=_("average spend"))
    def average_spend(self, obj: Application) -> str:
        return "—" if obj.average_spend_fen is None else yuan(obj.average_spend_fen)

    @admin.display(description=_("member discount"))
    def offer_rate(self, obj: Application) -> str:
        return "—" if obj.offer_rate_bp is None else percent(obj.offer_rate_bp)

    @admin.display(description=_("cap per visit"))
    def offer_cap(self, obj: Application) -> str:
        return "—" if obj.offer_cap_fen is None else yuan(obj.offer_cap_fen)

    @admin.display(description=_("minimum bill"))
    def offer_min_bill(self, obj: Application) -> str:
        return "—" if obj.offer_min_bill_fen is None else yuan(obj.offer_min_bill_fen)

    @admin.display(description=_("opening hours"))
    def hours(self, obj: Application) -> str:
        return opening_hours_text(obj.opening_hours) if obj.opening_hours else "—"

    @admin.display(description=_("place (latitude, longitude)"))
    def place(self, obj: Application) -> str:
        return "—" if obj.lat is None or obj.lng is None else f"{obj.lat:.5f}, {obj.lng:.5f}"

    @admin.display(description=_("failed rules"))
    def failed_rules(self, obj: Application) -> str:
        labels = dict(AdmissionRule.Kind.choices)
        failed = [r.kind for r in obj.rule_results.all() if r.outcome == RuleResult.Outcome.FAIL]
        return ", ".join(str(labels.get(kind, kind)) for kind in failed) or "—"

    @admin.display(description=_("checklist"))
    def checklist(self, obj: Application) -> SafeString:
        if obj is None or obj.pk is None:
            return SafeString("")
        results = list(obj.rule_results.select_related("rule").order_by("kind"))
        rows = [(r, describe(r.kind, r.evidence)) for r in results]
        failed = sum(r.outcome == RuleResult.Outcome.FAIL for r in results)
        return SafeString(render_to_string("curation/admin/checklist.html", {"rows": rows, "failed": failed}))

    # The visit inline goes through the service (audited, curator checked).
    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not SiteVisit:
            return super().save_formset(request, form, formset, change)
        for visit in formset.save(commit=False):
            if visit.pk is None:
                services.visit_record(
                    application=form.instance,
                    visitor=visit.visitor,
                    visited_on=visit.visited_on,
                    score=visit.score,
                    notes=visit.notes,
                    actor=request.user,  # type: ignore[arg-type]
                )
        return None

    def get_urls(self) -> list[Any]:
        own = [
            path(
                "<int:pk>/decide/<str:kind>/",
                self.admin_site.admin_view(self.decide_view),
                name="curation_application_decide",
            ),
            path("<int:pk>/assign/", self.admin_site.admin_view(self.assign_view), name="curation_application_assign"),
            path(
                "<int:pk>/evaluate/",
                self.admin_site.admin_view(self.evaluate_view),
                name="curation_application_evaluate",
            ),
        ]
        return own + super().get_urls()

    # --- single-application pages (buttons on the change page) --------------------------------------

    def _change_url(self, pk: int) -> str:
        return reverse("admin:curation_application_change", args=[pk])

    def decide_view(self, request: HttpRequest, pk: int, kind: str) -> HttpResponse:
        if kind not in Decision.Kind.values:
            raise Http404
        if not self.has_change_permission(request):
            raise PermissionDenied
        app = get_object_or_404(Application, pk=pk)
        return self._decision_page(request, [app], kind, back=self._change_url(pk))

    def assign_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        app = get_object_or_404(Application, pk=pk)
        return self._assign_page(request, [app], back=self._change_url(pk))

    def evaluate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        app = get_object_or_404(Application, pk=pk)
        if request.method == "POST":
            services.rules_evaluate(application=app, actor=request.user)  # type: ignore[arg-type]
            self.message_user(request, _("Rules evaluated."), messages.SUCCESS)
            return HttpResponseRedirect(self._change_url(pk))
        return TemplateResponse(
            request,
            "curation/admin/decision.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Evaluate the admission rules again"),
                "kind": "evaluate",
                "applications": [(app, [])],
                "form": None,
                "back": self._change_url(pk),
                "opts": self.model._meta,
            },
        )

    # --- shared intermediate pages ----------------------------------------------------------------

    def _decision_page(self, request: HttpRequest, apps: list[Application], kind: str, back: str) -> HttpResponse:
        bound = request.method == "POST" and "apply" in request.POST
        form = DecisionForm(request.POST if bound else None, kind=kind)
        if bound and form.is_valid():
            handler: Any = {
                Decision.Kind.APPROVE: services.application_approve,
                Decision.Kind.REJECT: services.application_reject,
                Decision.Kind.REQUEST_CHANGES: services.application_request_changes,
            }[Decision.Kind(kind)]
            failed = False
            for app in apps:
                extra = {"override_reason": form.cleaned_data.get("override_reason", "")} if kind == "approve" else {}
                try:
                    handler(
                        application=app,
                        actor=request.user,
                        reason_code=form.cleaned_data["reason_code"],
                        message=form.cleaned_data["message"],
                        **extra,
                    )
                    self.message_user(request, _("%(app)s: done.") % {"app": app}, messages.SUCCESS)
                except DomainError as exc:
                    failed = True
                    self.message_user(request, f"{app}: {exc.detail}", messages.ERROR)
            if not (failed and len(apps) == 1):
                return HttpResponseRedirect(back)
        failing = {app.pk: [r for r in app.rule_results.all() if r.outcome == RuleResult.Outcome.FAIL] for app in apps}
        return TemplateResponse(
            request,
            "curation/admin/decision.html",
            {
                **self.admin_site.each_context(request),
                "title": Decision.Kind(kind).label,
                "kind": kind,
                "applications": [(app, failing[app.pk]) for app in apps],
                "form": form,
                "action": request.POST.get("action", ""),
                "back": back,
                "opts": self.model._meta,
            },
        )

    def _assign_page(self, request: HttpRequest, apps: list[Application], back: str) -> HttpResponse:
        bound = request.method == "POST" and "apply" in request.POST
        form = AssignForm(request.POST if bound else None, initial={"reviewer": request.user.pk})
        if bound and form.is_valid():
            for app in apps:
                try:
                    services.application_assign(
                        application=app,
                        reviewer=form.cleaned_data["reviewer"],
                        actor=request.user,  # type: ignore[arg-type]
                    )
                except DomainError as exc:
                    self.message_user(request, f"{app}: {exc.detail}", messages.ERROR)
            return HttpResponseRedirect(back)
        return TemplateResponse(
            request,
            "curation/admin/decision.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Assign a reviewer"),
                "kind": "assign",
                "applications": [(app, []) for app in apps],
                "form": form,
                "action": request.POST.get("action", ""),
                "back": back,
                "opts": self.model._meta,
            },
        )

    # --- changelist actions -------------------------------------------------------------------------

    def _back(self, request: HttpRequest) -> str:
        return request.get_full_path()

    @admin.action(description=_("Assign a reviewer"), permissions=["change"])
    def assign(self, request: HttpRequest, queryset: QuerySet[Application]) -> HttpResponse:
        return self._assign_page(request, list(queryset), back=self._back(request))

    @admin.action(description=_("Evaluate the admission rules again"), permissions=["change"])
    def evaluate(self, request: HttpRequest, queryset: QuerySet[Application]) -> None:
        for app in queryset:
            services.rules_evaluate(application=app, actor=request.user)  # type: ignore[arg-type]
        self.message_user(request, _("Rules evaluated."), messages.SUCCESS)

    @admin.action(description=_("Approve…"), permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Application]) -> HttpResponse:
        return self._decision_page(request, list(queryset), Decision.Kind.APPROVE, back=self._back(request))

    @admin.action(description=_("Reject…"), permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Application]) -> HttpResponse:
        return self._decision_page(request, list(queryset), Decision.Kind.REJECT, back=self._back(request))

    @admin.action(description=_("Request changes…"), permissions=["change"])
    def request_changes(self, request: HttpRequest, queryset: QuerySet[Application]) -> HttpResponse:
        return self._decision_page(request, list(queryset), Decision.Kind.REQUEST_CHANGES, back=self._back(request))


@admin.register(AdmissionRule)
class AdmissionRuleAdmin(AuditHistoryMixin, HistoryAdminMixin):
    history_reason_required = True
    list_display = ["kind", "version", "parameters", "active_from", "is_active", "description"]
    list_filter = ["kind", "is_active"]
    readonly_fields = ["audit_trail"]
    ordering = ["kind", "-version"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # results keep pointing at the version they used

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is not None and obj.results.exists():
            # A used version is history: change thresholds by adding a new version.
            return ["kind", "version", "parameters", "active_from", "audit_trail"]
        return ["audit_trail"]
