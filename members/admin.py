"""The operators' console for members: plans, subscriptions (refund / extend actions),
the read-only payment and refund ledger, flagged payments and the programme switch."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from core.admin import AuditHistoryMixin, HistoryAdminMixin, ReadOnlyAdmin
from core.errors import DomainError

from .models import (
    FlaggedPayment,
    GuaranteeSettlement,
    Payment,
    PaymentAgreement,
    PaymentNotification,
    Plan,
    Programme,
    ReconciliationIssue,
    Refund,
    SandboxOrder,
    Subscription,
    SubscriptionPeriod,
)
from .services.common import programme_get
from .services.reconciliation import issues_resolve
from .services.refunds import payment_refund_flagged, refund_quote, refund_retry, subscription_refund
from .services.subscriptions import subscription_extend
from .services.suspension import programme_preview, programme_suspend, suspension_run
from .templatetags.members_tags import yuan


@admin.register(Plan)
class PlanAdmin(AuditHistoryMixin, HistoryAdminMixin):
    history_reason_required = True  # a price or a duration is a decision
    list_display = [
        "code",
        "name_zh",
        "name_en",
        "price_display",
        "duration_days",
        "is_trial",
        "is_active",
        "savings_guarantee",
    ]
    list_filter = ["is_active", "is_trial"]
    readonly_fields = ["audit_trail"]

    @admin.display(description=_("price"))
    def price_display(self, obj: Plan) -> str:
        return yuan(obj.price_fen)


class PeriodInline(admin.TabularInline):
    model = SubscriptionPeriod
    extra = 0
    can_delete = False
    fields = ["kind", "start", "end", "payment", "savings_fen", "guaranteed"]
    readonly_fields = fields  # type: ignore[assignment]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RefundForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class ExtendForm(forms.Form):
    days = forms.IntegerField(label=_("Days"), min_value=1, max_value=366, initial=30)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


@admin.register(Subscription)
class SubscriptionAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["public_id", "user", "plan", "state", "period_start", "period_end", "auto_renew", "savings"]
    list_filter = ["state", "plan", "auto_renew", ("period_end", admin.DateFieldListFilter)]
    search_fields = ["user__email", "public_id"]
    list_select_related = ["user", "plan"]
    date_hierarchy = "period_end"
    inlines = [PeriodInline]
    actions = ["refund_full", "refund_prorated", "extend"]
    readonly_fields = [
        "public_id",
        "user",
        "plan",
        "state",
        "is_trial",
        "period_start",
        "period_end",
        "auto_renew",
        "savings_fen",
        "created_at",
        "ended_at",
        "audit_trail",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("savings"))
    def savings(self, obj: Subscription) -> str:
        return yuan(obj.savings_fen)

    def _refund(self, request: HttpRequest, queryset: QuerySet[Subscription], mode: str) -> HttpResponse | None:
        form = RefundForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            done = 0
            for subscription in queryset:
                try:
                    subscription_refund(
                        subscription_id=subscription.pk,
                        mode=mode,
                        reason=form.cleaned_data["reason"],
                        actor=request.user,  # type: ignore[arg-type]
                    )
                    done += 1
                except DomainError as exc:
                    self.message_user(request, f"{subscription.public_id}: {exc.detail}", messages.ERROR)
            self.message_user(request, _("%(count)d subscription(s) refunded.") % {"count": done}, messages.SUCCESS)
            return None
        rows = [(s, yuan(refund_quote(subscription=s, mode=mode))) for s in queryset.select_related("user")]
        title = _("Refund in full") if mode == "full" else _("Refund the unused days")
        return self._action_page(request, queryset, form=form, title=title, action=f"refund_{mode}", rows=rows)

    @admin.action(description=_("Refund in full (asks for a reason)"), permissions=["refund"])
    def refund_full(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> HttpResponse | None:
        return self._refund(request, queryset, "full")

    @admin.action(description=_("Refund unused days (asks for a reason)"), permissions=["refund"])
    def refund_prorated(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> HttpResponse | None:
        return self._refund(request, queryset, "prorated")

    @admin.action(description=_("Extend by some days"), permissions=["change"])
    def extend(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> HttpResponse | None:
        form = ExtendForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            for subscription in queryset:
                try:
                    subscription_extend(
                        subscription_id=subscription.pk,
                        days=form.cleaned_data["days"],
                        reason=form.cleaned_data["reason"],
                        actor=request.user,  # type: ignore[arg-type]
                    )
                except DomainError as exc:
                    self.message_user(request, f"{subscription.public_id}: {exc.detail}", messages.ERROR)
            return None
        rows = [(s, "") for s in queryset.select_related("user")]
        return self._action_page(
            request, queryset, form=form, title=_("Extend subscriptions"), action="extend", rows=rows
        )

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.add_refund")

    def _action_page(
        self, request: HttpRequest, queryset: QuerySet, *, form: forms.Form, title: Any, action: str, rows: list
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "rows": rows,
            "action": action,
            "ids": [str(pk) for pk in queryset.values_list("pk", flat=True)],
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "members/admin/action_form.html", context)


@admin.register(Payment)
class PaymentAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    list_display = ["public_id", "subscription", "kind", "amount", "state", "refunded", "provider", "created_at"]
    list_filter = ["state", "kind", "provider"]
    search_fields = ["public_id", "provider_txn_id", "subscription__user__email"]
    list_select_related = ["subscription__user", "subscription__plan"]
    readonly_fields = ["audit_trail"]

    @admin.display(description=_("amount"))
    def amount(self, obj: Payment) -> str:
        return yuan(obj.amount_fen)

    @admin.display(description=_("refunded"))
    def refunded(self, obj: Payment) -> str:
        return yuan(obj.refunded_fen)


@admin.register(FlaggedPayment)
class FlaggedPaymentAdmin(PaymentAdmin):
    list_display = ["public_id", "subscription", "amount", "state", "flag_reason", "flag_detail", "flagged_at"]
    list_filter = ["flag_reason", "state"]
    actions = ["refund_flagged"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Payment]:
        return super().get_queryset(request).filter(flagged_at__isnull=False)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Return the money of paid flagged payments"), permissions=["refund"])
    def refund_flagged(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        for payment in queryset:
            try:
                actor: Any = request.user
                payment_refund_flagged(payment_id=payment.pk, reason=str(payment.flag_reason), actor=actor)
            except DomainError as exc:
                self.message_user(request, f"{payment.public_id}: {exc.detail}", messages.ERROR)

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.add_refund")


class RefundRetryMixin:
    """The operators' queue of failed refunds (the card's and the events'): the list filters by state,
    and the action sends each selected failed refund again through the ledger (a new entry, the same
    amount and reason; each failed entry once)."""

    @admin.action(description=_("Send failed refunds again"), permissions=["refund"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        sent = 0
        for refund in queryset.select_related("payment"):
            try:
                actor: Any = request.user
                refund_retry(refund=refund, actor=actor)
                sent += 1
            except DomainError as exc:
                self.message_user(request, f"{refund.public_id}: {exc.detail}", messages.ERROR)  # type: ignore[attr-defined]
        if sent:
            self.message_user(  # type: ignore[attr-defined]
                request, _("%(count)d refund(s) sent again.") % {"count": sent}, messages.SUCCESS
            )

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("members.add_refund"))


@admin.register(Refund)
class RefundAdmin(RefundRetryMixin, ReadOnlyAdmin):
    actions = ["retry_failed"]
    list_display = [
        "public_id",
        "payment",
        "subscription",
        "kind",
        "amount",
        "state",
        "provider_state",
        "attempts",
        "reason",
        "actor_label",
        "created_at",
        "settled_at",
    ]
    list_filter = ["state", "kind"]
    search_fields = ["public_id", "subscription__user__email", "reason"]
    list_select_related = ["payment", "subscription__user", "subscription__plan"]

    @admin.display(description=_("amount"))
    def amount(self, obj: Refund) -> str:
        return yuan(obj.amount_fen)


@admin.register(GuaranteeSettlement)
class GuaranteeSettlementAdmin(ReadOnlyAdmin):
    """The savings guarantee settled at the end of each guaranteed paid year (the job writes them)."""

    list_display = ["settled_at", "subscription", "period", "fee_fen", "saved_fen", "due_fen", "outcome", "refund"]
    list_filter = ["outcome"]
    search_fields = ["subscription__user__email", "subscription__public_id"]
    list_select_related = ["subscription__user", "subscription__plan", "period", "refund"]


@admin.register(ReconciliationIssue)
class ReconciliationIssueAdmin(ReadOnlyAdmin):
    """Differences between the gateways and the ledger; an operator settles each and marks it resolved."""

    list_display = ["created_at", "kind", "provider", "day", "out_trade_no", "out_refund_no", "resolved_at"]
    list_filter = [("resolved_at", admin.EmptyFieldListFilter), "kind", "provider"]
    search_fields = ["out_trade_no", "out_refund_no"]
    readonly_fields = ["detail"]
    actions = ["resolve"]

    @admin.action(description=_("Mark as resolved"), permissions=["resolve"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[ReconciliationIssue]) -> None:
        done = issues_resolve(issue_ids=list(queryset.values_list("pk", flat=True)), actor=request.user)  # type: ignore[arg-type]
        self.message_user(request, _("%(count)d issue(s) resolved.") % {"count": done}, messages.SUCCESS)

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("members.change_reconciliationissue")


@admin.register(PaymentNotification)
class PaymentNotificationAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "provider", "event_type", "out_trade_no", "outcome"]
    list_filter = ["provider", "outcome", "event_type"]
    search_fields = ["out_trade_no", "notify_id"]


@admin.register(PaymentAgreement)
class PaymentAgreementAdmin(ReadOnlyAdmin):
    """Recurring agreements (Alipay 周期扣款, WeChat Pay 委托代扣) as the gateway's notices and queries left them:
    the debit booked (WeChat Pay 预约扣费) and an end the member asked for that the gateway has not confirmed."""

    list_display = [
        "public_id",
        "user",
        "provider",
        "state",
        "agreement_no",
        "signed_at",
        "charge_booked_for",
        "end_requested_at",
        "ended_at",
    ]
    list_filter = ["provider", "state"]
    search_fields = ["public_id", "agreement_no", "user__email"]


@admin.register(SandboxOrder)
class SandboxOrderAdmin(ReadOnlyAdmin):
    list_display = ["out_trade_no", "amount_fen", "status", "refunded_fen", "created_at", "paid_at"]
    list_filter = ["status"]


#: What an operator types to suspend the programme: its name, as members know it.
PROGRAMME_NAMES = ("小红卡", "RedCard")


class SuspendForm(forms.Form):
    """Two steps: the settings and a dry run (who and how much), then the name typed to proceed."""

    effective_date = forms.DateField(label=_("Cards end on"), widget=forms.DateInput(attrs={"type": "date"}))
    refund_mode = forms.ChoiceField(label=_("Refund"), choices=Programme.RefundMode.choices)
    reason = forms.CharField(label=_("Reason (sent to members)"), widget=forms.Textarea(attrs={"rows": 3}))
    typed_name = forms.CharField(label=_("Type the programme's name (小红卡) to proceed"), required=False)
    confirm = forms.BooleanField(
        label=_("I understand: new sales stop at once and every paid member is refunded."), required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.data.get("step") == "suspend":
            if data.get("typed_name", "").strip() not in PROGRAMME_NAMES:
                self.add_error("typed_name", _("Type the programme's name exactly: 小红卡."))
            if not data.get("confirm"):
                self.add_error("confirm", _("Tick this to confirm."))
        return data


@admin.register(Programme)
class ProgrammeAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["__str__", "sales_open", "suspended_at", "effective_date", "refund_mode"]
    readonly_fields = [
        "sales_open",
        "suspended_at",
        "effective_date",
        "effective_at",
        "refund_mode",
        "reason",
        "last_report",
        "audit_trail",
    ]
    fields = readonly_fields  # type: ignore[assignment]
    actions = ["suspend"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Programme]:
        programme_get()
        return super().get_queryset(request)

    def get_urls(self) -> list:
        return [
            path("suspend/", self.admin_site.admin_view(self.suspend_view), name="members_programme_suspend"),
            *super().get_urls(),
        ]

    @admin.action(description=_("Suspend the programme and refund everyone…"), permissions=["change"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Programme]) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:members_programme_suspend"))

    def suspend_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        from .models import PAID_STATES
        from .models import Subscription as Sub

        form = SuspendForm(request.POST or None)
        preview = None
        if request.method == "POST" and form.is_valid() and request.POST.get("step") == "preview":
            # The dry run: the same batches as the real run, nothing written.
            preview = suspension_run(
                programme=programme_preview(
                    effective_date=form.cleaned_data["effective_date"],
                    refund_mode=form.cleaned_data["refund_mode"],
                    reason=form.cleaned_data["reason"],
                ),
                actor=request.user,  # type: ignore[arg-type]
                dry_run=True,
            )
        elif request.method == "POST" and form.is_valid() and request.POST.get("step") == "suspend":
            from .tasks import suspend_programme

            try:
                programme_suspend(
                    effective_date=form.cleaned_data["effective_date"],
                    refund_mode=form.cleaned_data["refund_mode"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,  # type: ignore[arg-type]
                )
            except DomainError as exc:
                self.message_user(request, exc.detail, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:members_programme_changelist"))
            suspend_programme.delay(
                form.cleaned_data["effective_date"].isoformat(),
                form.cleaned_data["refund_mode"],
                form.cleaned_data["reason"],
                request.user.pk,
            )
            self.message_user(
                request,
                _("Sales are stopped. Refunds are running; the report appears on the programme page."),
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:members_programme_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Suspend the programme"),
            "form": form,
            "preview": preview,
            "preview_yuan": f"{preview.refunded_fen / 100:,.2f}" if preview else "",
            "paid_count": Sub.objects.filter(state__in=PAID_STATES).count(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "members/admin/suspend.html", context)


from .events import admin as events_admin  # noqa: E402,F401  (registers the member events console)
