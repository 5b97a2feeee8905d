"""Members: plans, subscriptions and their periods, payments, refunds, the programme switch,
and the built-in sandbox payment gateway's own records.

Design of renewal (decided): a subscription is the member's card and may span several
back-to-back periods. Each paid period is a :class:`SubscriptionPeriod` linked to the
:class:`Payment` that bought it. Renewal charges a ``renewal`` payment shortly before the
end; when it settles, a new period starting exactly at the old ``period_end`` is appended
and ``Subscription.period_end`` is extended in the same transaction, so entitlement has no
gap and the "one current subscription per member" constraint is never touched. The
periodic job rolls ``period_start`` (and the savings meter) over when a new period begins.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.history import tracked
from core.i18n import localized

CNY = "CNY"


class Plan(models.Model):
    """What a member can buy (or try). Data, editable in admin; prices in integer fen."""

    code = models.SlugField(_("code"), unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=60)
    name_en = models.CharField(_("name (English)"), max_length=80)
    price_fen = models.BigIntegerField(_("price (fen)"))
    currency = models.CharField(_("currency"), max_length=3, default=CNY)
    duration_days = models.PositiveIntegerField(_("duration (days)"))
    is_trial = models.BooleanField(
        _("free trial"), default=False, help_text=_("A trial is free and can be taken once per person.")
    )
    is_active = models.BooleanField(_("on sale"), default=True)
    savings_guarantee = models.BooleanField(
        _("savings guarantee"),
        default=False,
        help_text=_(
            "省不回年费，退差价: at the end of each paid year of this plan, a member whose recorded savings are "
            "below the fee paid gets the difference refunded. Applies to years bought while it is on."
        ),
    )
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)

    history = tracked()  # console edits kept with who, when, why (core.history)

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        ordering = ["sort_order", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(duration_days__gt=0), name="members_plan_duration_gt_0"),
            models.CheckConstraint(
                condition=(Q(is_trial=True, price_fen=0) | Q(is_trial=False, price_fen__gt=0)),
                name="members_plan_trial_free_paid_priced",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return localized(self, "name")


class SubscriptionState(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("awaiting payment")
    TRIALING = "trialing", _("trial")
    ACTIVE = "active", _("active")
    CANCEL_AT_PERIOD_END = "cancel_at_period_end", _("ends at period end")
    EXPIRED = "expired", _("expired")
    PAYMENT_FAILED = "payment_failed", _("payment failed")
    REFUNDED = "refunded", _("refunded")


#: A member holds at most one subscription in these states (database constraint).
CURRENT_STATES = (
    SubscriptionState.PENDING_PAYMENT,
    SubscriptionState.TRIALING,
    SubscriptionState.ACTIVE,
    SubscriptionState.CANCEL_AT_PERIOD_END,
)
#: States in which the card works inside its period.
ENTITLED_STATES = (SubscriptionState.TRIALING, SubscriptionState.ACTIVE, SubscriptionState.CANCEL_AT_PERIOD_END)
#: States that were bought with money (refundable).
PAID_STATES = (SubscriptionState.ACTIVE, SubscriptionState.CANCEL_AT_PERIOD_END)


class Subscription(models.Model):
    """A member's card. ``period_start``/``period_end`` bound the period in force (the end is
    extended when a renewal settles); they are empty until payment."""

    State = SubscriptionState

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("member")
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions", verbose_name=_("plan"))
    state = models.CharField(_("state"), max_length=24, choices=SubscriptionState.choices, db_index=True)
    is_trial = models.BooleanField(_("trial"), default=False)
    period_start = models.DateTimeField(_("period start"), null=True, blank=True)
    period_end = models.DateTimeField(_("period end"), null=True, blank=True, db_index=True)
    auto_renew = models.BooleanField(_("auto-renew"), default=True)
    savings_fen = models.BigIntegerField(
        _("savings this period (fen)"), default=0, help_text=_("Fed by redemptions; reset when a new period begins.")
    )
    reminded_7d_at = models.DateTimeField(null=True, blank=True, editable=False)
    reminded_1d_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(state__in=CURRENT_STATES), name="members_one_current_subscription"
            ),
            models.UniqueConstraint(fields=["user"], condition=Q(is_trial=True), name="members_one_trial_per_person"),
            models.CheckConstraint(
                condition=Q(period_start__isnull=True) | Q(period_end__gt=F("period_start")),
                name="members_subscription_period_ordered",
            ),
            models.CheckConstraint(
                condition=Q(state=SubscriptionState.PENDING_PAYMENT)
                | Q(state=SubscriptionState.PAYMENT_FAILED)
                | Q(period_start__isnull=False, period_end__isnull=False),
                name="members_subscription_period_when_started",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan.code} · {self.user} · {self.state}"


class Payment(models.Model):
    """One payment order at the provider. The money fields never change after creation;
    refunds are :class:`Refund` rows and ``refunded_fen`` counts them (the database refuses
    a total above the amount)."""

    class Kind(models.TextChoices):
        INITIAL = "initial", _("first payment")
        RENEWAL = "renewal", _("renewal")

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        PAID = "paid", _("paid")
        FAILED = "failed", _("failed")

    public_id = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, help_text=_("Our order number at the provider.")
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="payments", verbose_name=_("subscription")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.INITIAL)
    plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("plan bought")
    )
    provider = models.CharField(_("provider"), max_length=20)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    currency = models.CharField(_("currency"), max_length=3, default=CNY)
    period_start = models.DateTimeField(
        _("renews from"), null=True, blank=True, help_text=_("For a renewal: the start of the period it buys.")
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    provider_txn_id = models.CharField(_("provider transaction id"), max_length=64, null=True, blank=True)
    checkout_url = models.CharField(_("checkout URL"), max_length=2048, blank=True)  # a signed gateway request
    refunded_fen = models.BigIntegerField(_("refunded (fen)"), default=0)
    flag_reason = models.CharField(_("flagged for"), max_length=40, blank=True)
    flag_detail = models.JSONField(_("flag detail"), null=True, blank=True)
    flagged_at = models.DateTimeField(_("flagged"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="members_payment_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(refunded_fen__gte=0) & Q(refunded_fen__lte=F("amount_fen")),
                name="members_payment_refund_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(refunded_fen=0) | Q(state="paid"), name="members_payment_refund_only_paid"
            ),
            models.UniqueConstraint(fields=["provider", "provider_txn_id"], name="members_payment_provider_txn_unique"),
            models.UniqueConstraint(
                fields=["subscription", "period_start"],
                condition=Q(kind="renewal") & ~Q(state="failed"),
                name="members_payment_one_renewal_per_period",
            ),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="members_payment_state_idx")]

    def __str__(self) -> str:
        return f"{self.public_id} ¥{self.amount_fen / 100:.2f} {self.state}"

    @property
    def refundable_fen(self) -> int:
        return self.amount_fen - self.refunded_fen if self.state == self.State.PAID else 0


class FlaggedPayment(Payment):
    """Payments an operator must look at (amount mismatch, paid after closing...)."""

    class Meta:
        proxy = True
        verbose_name = _("flagged payment")
        verbose_name_plural = _("flagged payments")


class SubscriptionPeriod(models.Model):
    """One back-to-back period of a subscription (trial, first year, each renewal, extensions)."""

    class Kind(models.TextChoices):
        TRIAL = "trial", _("trial")
        PAID = "paid", _("paid")
        RENEWAL = "renewal", _("renewal")
        EXTENSION = "extension", _("extension")

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="periods")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    payment = models.OneToOneField(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="period", verbose_name=_("payment")
    )
    savings_fen = models.BigIntegerField(_("savings (fen)"), default=0, help_text=_("Archived at roll-over."))
    guaranteed = models.BooleanField(
        _("savings guarantee"),
        default=False,
        help_text=_("Bought with the plan's savings guarantee (copied from the plan when the year was paid)."),
    )

    class Meta:
        verbose_name = _("subscription period")
        verbose_name_plural = _("subscription periods")
        ordering = ["subscription", "start"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "start"], name="members_period_subscription_start"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="members_period_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {timezone.localtime(self.start):%Y-%m-%d}–{timezone.localtime(self.end):%Y-%m-%d}"


class Refund(models.Model):
    """A refund ledger entry: money returned against one payment. The amount and the refund number
    (``public_id``, our ``out_refund_no`` at the gateway) are fixed when the entry is written, before
    the gateway is called, and every retry sends the same number. Its state then follows the gateway:
    ``requested`` (written, not yet accepted) → ``processing`` (accepted, money on its way) →
    ``succeeded`` or ``failed`` (final; a failed refund no longer counts against the payment)."""

    class Kind(models.TextChoices):
        FULL = "full", _("full")
        PRORATED = "prorated", _("prorated")
        GUARANTEE = "guarantee", _("savings guarantee")

    class State(models.TextChoices):
        REQUESTED = "requested", _("requested")
        PROCESSING = "processing", _("processing")
        SUCCEEDED = "succeeded", _("refunded")
        FAILED = "failed", _("failed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("payment"))
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("subscription")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    currency = models.CharField(_("currency"), max_length=3, default=CNY)
    reason = models.TextField(_("reason"))
    request_key = models.CharField(_("request key"), max_length=255)
    actor_label = models.CharField(_("by"), max_length=120)
    provider_refund_id = models.CharField(_("provider refund id"), max_length=64, blank=True)
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.REQUESTED)
    provider_state = models.CharField(_("gateway state"), max_length=20, blank=True)
    attempts = models.PositiveIntegerField(_("gateway calls"), default=0)
    last_error = models.CharField(_("last error"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    settled_at = models.DateTimeField(_("settled"), null=True, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="members_refund_amount_gt_0"),
            models.UniqueConstraint(fields=["payment", "request_key"], name="members_refund_payment_request_key"),
        ]
        indexes = [
            models.Index(
                fields=["state", "created_at"],
                condition=Q(state__in=["requested", "processing"]),
                name="members_refund_open_idx",
            )
        ]

    def __str__(self) -> str:
        return f"−¥{self.amount_fen / 100:.2f} ({self.kind}, {self.state})"


class GuaranteeSettlement(models.Model):
    """The year-end settlement of one paid year bought with the savings guarantee: what was paid, what
    was saved, what came back. One per period (the one-to-one is the exactly-once: a rerun or a second
    job finds it and does nothing); the money goes back as a :class:`Refund` of kind ``guarantee``."""

    class Outcome(models.TextChoices):
        REFUNDED = "refunded", _("difference refunded")
        COVERED = "covered", _("the savings covered the fee")
        EXCLUDED = "excluded", _("excluded (the year was refunded)")

    period = models.OneToOneField(
        SubscriptionPeriod, on_delete=models.PROTECT, related_name="guarantee_settlement", verbose_name=_("year")
    )
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="guarantee_settlements", verbose_name=_("subscription")
    )
    fee_fen = models.BigIntegerField(_("fee paid (fen)"))
    saved_fen = models.BigIntegerField(_("savings recorded (fen)"))
    due_fen = models.BigIntegerField(_("difference refunded (fen)"), default=0)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    refund = models.OneToOneField(
        "Refund", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("refund")
    )
    settled_at = models.DateTimeField(_("settled"))

    class Meta:
        verbose_name = _("savings guarantee settlement")
        verbose_name_plural = _("savings guarantee settlements")
        ordering = ["-settled_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(due_fen__gte=0), name="members_guarantee_due_gte_0"),
            models.CheckConstraint(
                condition=Q(outcome="refunded", due_fen__gt=0, refund__isnull=False)
                | (~Q(outcome="refunded") & Q(due_fen=0)),
                name="members_guarantee_refunded_has_refund",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.get_outcome_display()} ¥{self.due_fen / 100:.2f}"


class Programme(models.Model):
    """The singleton switch of the whole programme (row id 1)."""

    class RefundMode(models.TextChoices):
        FULL = "full", _("full")
        PRORATED = "prorated", _("prorated")

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    sales_open = models.BooleanField(_("sales open"), default=True)
    suspended_at = models.DateTimeField(_("suspended"), null=True, blank=True)
    effective_date = models.DateField(_("cards end on"), null=True, blank=True)
    effective_at = models.DateTimeField(_("cards end at"), null=True, blank=True)
    refund_mode = models.CharField(_("refund"), max_length=10, choices=RefundMode.choices, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    last_report = models.JSONField(_("last run report"), null=True, blank=True)

    class Meta:
        verbose_name = _("programme")
        verbose_name_plural = _("programme")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="members_programme_singleton")]

    def __str__(self) -> str:
        return str(_("Programme (sales open)") if self.sales_open else _("Programme (suspended)"))


class SuspensionRefund(models.Model):
    """Marks a subscription as processed by the programme suspension: one row per
    subscription (unique), written in the same transaction as its refunds."""

    subscription = models.OneToOneField(Subscription, on_delete=models.PROTECT, related_name="suspension")
    refunded_fen = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("suspension refund")
        verbose_name_plural = _("suspension refunds")

    def __str__(self) -> str:
        return f"{self.subscription_id}: {self.refunded_fen}"


class PaymentAgreement(models.Model):
    """A member's recurring-payment agreement with a gateway (Alipay 周期扣款, WeChat Pay 委托代扣): the
    member signs it on the gateway's page; renewals are then charged under it. ``public_id`` is our
    agreement number at the gateway (``external_agreement_no``), fixed before the member is sent there;
    ``agreement_no`` is the gateway's, known once signed. ``pending`` → ``active`` (signed) → ``ended``
    (terminated by the member at the gateway, or by us); one active agreement per member and gateway."""

    class State(models.TextChoices):
        PENDING = "pending", _("waiting for signature")
        ACTIVE = "active", _("active")
        ENDED = "ended", _("ended")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payment_agreements", verbose_name=_("member")
    )
    provider = models.CharField(_("provider"), max_length=20)
    agreement_no = models.CharField(_("gateway agreement number"), max_length=64, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    signed_at = models.DateTimeField(_("signed"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    #: The day (China Standard Time) the gateway accepted the next debit for (WeChat Pay 预约扣费), once booked.
    charge_booked_for = models.DateField(_("debit booked for"), null=True, blank=True)
    #: When the member switched auto-renew off and we asked the gateway to end it (retried until it is ended).
    end_requested_at = models.DateTimeField(_("end requested"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment agreement")
        verbose_name_plural = _("payment agreements")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "provider"], condition=Q(state="active"), name="members_one_active_agreement"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.agreement_no or self.public_id} {self.state}"


class PaymentNotification(models.Model):
    """Every provider notification we accepted (signature valid), once per notify id."""

    provider = models.CharField(max_length=20)
    notify_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=40)
    out_trade_no = models.CharField(max_length=64)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="notifications")
    outcome = models.CharField(max_length=30)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("payment notification")
        verbose_name_plural = _("payment notifications")
        ordering = ["-received_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["provider", "notify_id"], name="members_notification_once")]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} {self.out_trade_no} → {self.outcome}"


class ReconciliationIssue(models.Model):
    """A difference between the gateway and our ledger that an operator must look at: a bill line
    the ledger lacks, a ledger line the bill lacks, different amounts, a refund the gateway failed,
    a notification refused for naming another merchant or amount. Recorded once per difference."""

    class Kind(models.TextChoices):
        NOT_IN_LEDGER = "not_in_ledger", _("on the gateway's bill, not in the ledger")
        NOT_IN_BILL = "not_in_bill", _("in the ledger, not on the gateway's bill")
        AMOUNT_DIFFERS = "amount_differs", _("amounts differ")
        REFUND_FAILED = "refund_failed", _("refund failed at the gateway")
        NOTIFICATION_REFUSED = "notification_refused", _("notification refused")

    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    provider = models.CharField(_("provider"), max_length=20)
    day = models.DateField(_("bill day"), null=True, blank=True)
    out_trade_no = models.CharField(_("order number"), max_length=64)
    out_refund_no = models.CharField(_("refund number"), max_length=64, blank=True)
    detail = models.JSONField(_("detail"), default=dict)
    created_at = models.DateTimeField(_("found"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolved_by = models.CharField(_("resolved by"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("reconciliation issue")
        verbose_name_plural = _("reconciliation issues")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "provider", "out_trade_no", "out_refund_no"], name="members_reconciliation_issue_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.out_trade_no} {self.out_refund_no}".strip()


# --- The sandbox gateway's own side (what a real gateway keeps on its servers) -------------


class SandboxOrder(models.Model):
    class Status(models.TextChoices):
        NOTPAY = "NOTPAY", "NOTPAY"
        SUCCESS = "SUCCESS", "SUCCESS"
        PAYERROR = "PAYERROR", "PAYERROR"
        CLOSED = "CLOSED", "CLOSED"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    out_trade_no = models.CharField(max_length=64, unique=True)
    amount_fen = models.BigIntegerField()
    currency = models.CharField(max_length=3, default=CNY)
    description = models.CharField(max_length=200)
    return_url = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NOTPAY)
    transaction_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    payer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    refunded_fen = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("sandbox order")
        verbose_name_plural = _("sandbox orders")
        constraints = [
            models.CheckConstraint(
                condition=Q(refunded_fen__lte=F("amount_fen")), name="members_sandbox_refund_within_amount"
            )
        ]

    def __str__(self) -> str:
        return f"{self.out_trade_no} {self.status}"


class SandboxRefund(models.Model):
    """A refund the sandbox gateway accepted, once per refund number (as real gateways do)."""

    out_refund_no = models.CharField(max_length=64, unique=True)
    order = models.ForeignKey(SandboxOrder, on_delete=models.CASCADE, related_name="refunds")
    amount_fen = models.BigIntegerField()
    refund_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("sandbox refund")
        verbose_name_plural = _("sandbox refunds")

    def __str__(self) -> str:
        return f"{self.out_refund_no} {self.amount_fen}"


class SandboxEvent(models.Model):
    """A notification the sandbox gateway owes our notify endpoint (its outbox)."""

    notify_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    order = models.ForeignKey(SandboxOrder, on_delete=models.CASCADE, related_name="events")
    refund = models.ForeignKey(SandboxRefund, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=40)
    hold = models.BooleanField(default=False, help_text="Kept back until released (tests of late/reordered delivery).")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("sandbox notification")
        verbose_name_plural = _("sandbox notifications")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.event_type} {self.order.out_trade_no}"
