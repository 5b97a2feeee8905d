"""Merchant standing: complaints with an SLA, removal rules as data, findings, appeals, recorded licence
expiry dates and the daily evaluation runs.

The invariants the database holds:

- a member cannot file the same complaint twice (the service locks the member and looks back one minute);
- one open finding per merchant and rule type, and one finding per merchant, rule type and day;
- one appeal per finding;
- one evaluation run per day.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from merchants.models import Merchant

from .rules import VersionedRule

__all__ = [
    "Appeal",
    "Complaint",
    "ComplaintMessage",
    "EvaluationRun",
    "Finding",
    "MerchantLicence",
    "RemovalRule",
]


def complaint_photo_path(instance: Complaint, filename: str) -> str:
    """Photos are stored under an opaque name; the member's file name is not kept."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"complaints/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.{ext[:5]}"


class Complaint(models.Model):
    """A member's complaint about a redemption or a shop (客服 ticket). Changed only through
    ``curation.standing``; every step is in the audit trail."""

    class Category(models.TextChoices):
        REFUSED_CARD = "refused_card", _("refused the card")
        DISCOUNT_NOT_APPLIED = "discount_not_applied", _("discount not applied")
        SERVICE = "service", _("service")
        HYGIENE = "hygiene", _("hygiene")
        OTHER = "other", _("other")

    class State(models.TextChoices):
        NEW = "new", _("waiting for a first response")
        ANSWERED = "answered", _("answered, being handled")
        RESOLVED = "resolved", _("resolved")

    class Outcome(models.TextChoices):
        UPHELD = "upheld", _("upheld")
        NOT_UPHELD = "not_upheld", _("not upheld")
        RESOLVED_WITH_MERCHANT = "resolved_with_merchant", _("resolved with the merchant")
        REFUNDED_DISCOUNT = "refunded_discount", _("refunded the discount")

    #: Outcomes that count against the merchant in the removal rules.
    UPHELD_OUTCOMES = (Outcome.UPHELD, Outcome.REFUNDED_DISCOUNT)
    OPEN_STATES = (State.NEW, State.ANSWERED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="complaints", verbose_name=_("member")
    )
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="complaints", verbose_name=_("merchant")
    )
    redemption = models.ForeignKey(
        "redemptions.Redemption",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="complaints",
        verbose_name=_("redemption"),
    )
    partner = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="complaints_filed",
        verbose_name=_("filed by partner app"),
    )
    category = models.CharField(_("category"), max_length=24, choices=Category.choices)
    text = models.TextField(_("what happened"))
    photo = models.FileField(_("photo"), upload_to=complaint_photo_path, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.NEW)
    outcome = models.CharField(_("outcome"), max_length=24, choices=Outcome.choices, blank=True)
    resolution_note = models.TextField(_("resolution note"), blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="complaints_assigned",
        verbose_name=_("assigned to"),
    )
    created_at = models.DateTimeField(_("filed"), default=timezone.now)
    first_response_due = models.DateTimeField(_("first response due"))
    resolution_due = models.DateTimeField(_("resolution due"))
    first_responded_at = models.DateTimeField(_("first response"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        verbose_name = _("complaint")
        verbose_name_plural = _("complaints")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["state", "created_at"], name="complaint_queue_idx"),
            models.Index(fields=["merchant", "created_at"], name="complaint_merchant_idx"),
            models.Index(fields=["member", "-created_at"], name="complaint_member_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state="resolved", resolved_at__isnull=False, first_responded_at__isnull=False)
                & ~Q(outcome="")
                | Q(state__in=["new", "answered"], resolved_at__isnull=True, outcome=""),
                name="complaint_resolution_consistent",
            ),
            models.CheckConstraint(
                condition=Q(state="new", first_responded_at__isnull=True) | ~Q(state="new"),
                name="complaint_new_has_no_response",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} · {self.public_id.hex[:8]}"


class ComplaintMessage(models.Model):
    """One message on a complaint: a curator's reply to the member, the merchant's answer, the member's
    follow-up, or a curator's internal note (never shown to the member or the merchant)."""

    class Author(models.TextChoices):
        CURATOR = "curator", _("RedCard customer service")
        MERCHANT = "merchant", _("merchant")
        MEMBER = "member", _("member")
        INTERNAL = "internal", _("internal note")

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="messages")
    author_role = models.CharField(_("from"), max_length=10, choices=Author.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    body = models.TextField(_("message"))
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("complaint message")
        verbose_name_plural = _("complaint messages")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_author_role_display()} {timezone.localtime(self.created_at):%Y-%m-%d %H:%M}"


class RemovalRule(VersionedRule):
    """One written removal rule (淘汰机制); every finding names the rule and version that produced it."""

    class Kind(models.TextChoices):
        COMPLAINT_RATE = "complaint_rate", _("upheld complaint rate above a threshold")
        REFUSED_CARD = "refused_card", _("repeated upheld “refused the card” complaints")
        RATING_FLOOR = "rating_floor", _("external rating below a floor")
        DORMANT = "dormant", _("no redemptions for a long time")
        LICENCE_EXPIRED = "licence_expired", _("licence expired")
        SURGE_UNADDRESSED = "surge_unaddressed", _("repeated surge flags left unaddressed")
        OFFLINE_CONFLICTS = "offline_conflicts", _("repeated offline redemptions in conflict")

    kind = models.CharField(_("type"), max_length=24, choices=Kind.choices)
    fix_days = models.PositiveSmallIntegerField(
        _("days to fix"), default=14, help_text=_("The fix-by date of a warning is this many days after the finding.")
    )
    description = models.CharField(_("description"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(VersionedRule.Meta):
        verbose_name = _("removal rule")
        verbose_name_plural = _("removal rules")
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="removalrule_kind_version")]


class MerchantLicence(models.Model):
    """A licence the curators checked, with its expiry date (the ``licence_expired`` rule reads it)."""

    class Kind(models.TextChoices):
        FOOD = "food", _("food business licence")
        BUSINESS = "business", _("business licence")

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="licences")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.FOOD)
    number = models.CharField(_("number"), max_length=30)
    expires_on = models.DateField(_("expires on"))
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)

    class Meta:
        verbose_name = _("licence")
        verbose_name_plural = _("licences")
        constraints = [models.UniqueConstraint(fields=["merchant", "kind"], name="merchantlicence_one_per_kind")]
        indexes = [models.Index(fields=["expires_on"], name="merchantlicence_expiry_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number} → {self.expires_on}"


class Finding(models.Model):
    """A merchant breached a removal rule on ``evaluated_on``; ``evidence`` holds the numbers and the rows
    they came from. Open findings warn the merchant until a curator decides or the fix-by date passes
    with the rule no longer breached."""

    class State(models.TextChoices):
        OPEN = "open", _("open (warned)")
        SUSPENDED = "suspended", _("merchant suspended")
        REMOVED = "removed", _("merchant removed")
        CLEARED = "cleared", _("cleared")

    #: States that still hold the merchant back (promotion, listing).
    ACTIVE_STATES = (State.OPEN, State.SUSPENDED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="findings")
    rule = models.ForeignKey(RemovalRule, on_delete=models.PROTECT, related_name="findings", verbose_name=_("rule"))
    rule_kind = models.CharField(_("rule type"), max_length=24, choices=RemovalRule.Kind.choices)
    rule_version = models.PositiveIntegerField(_("rule version"))
    evaluated_on = models.DateField(_("found on"))
    evidence = models.JSONField(_("evidence"), default=dict)
    latest_evidence = models.JSONField(_("latest evidence"), default=dict, blank=True)
    last_breached_on = models.DateField(_("last breached on"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN)
    fix_by = models.DateField(_("fix by"))
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decision_reason = models.TextField(_("reason"), blank=True)
    cleared_automatically = models.BooleanField(_("cleared automatically"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        ordering = ["-evaluated_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "rule_kind"],
                condition=Q(state__in=["open", "suspended"]),
                name="finding_one_active_per_rule",
            ),
            models.UniqueConstraint(
                fields=["merchant", "rule_kind", "evaluated_on"], name="finding_one_per_rule_per_day"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["open", "suspended"]) | Q(decided_at__isnull=False),
                name="finding_decided_when_closed",
            ),
        ]
        indexes = [models.Index(fields=["state", "fix_by"], name="finding_state_fixby_idx")]

    def __str__(self) -> str:
        return f"{self.get_rule_kind_display()} v{self.rule_version} · {self.evaluated_on}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES


class Appeal(models.Model):
    """The owner's appeal against a finding (one per finding); curators accept (clears the finding) or reject."""

    class State(models.TextChoices):
        PENDING = "pending", _("waiting for a curator")
        ACCEPTED = "accepted", _("accepted")
        REJECTED = "rejected", _("rejected")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    finding = models.OneToOneField(Finding, on_delete=models.CASCADE, related_name="appeal")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("appeal"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(_("filed"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decision_note = models.TextField(_("decision note"), blank=True)

    class Meta:
        verbose_name = _("appeal")
        verbose_name_plural = _("appeals")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.finding} · {self.get_state_display()}"


class EvaluationRun(models.Model):
    """One daily evaluation of the removal rules. Re-running a day resumes it: findings already written
    stay, missing ones are added (the finding constraints make it safe)."""

    evaluated_on = models.DateField(_("day"), unique=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=1)
    merchants_evaluated = models.PositiveIntegerField(_("merchants evaluated"), default=0)
    findings_created = models.PositiveIntegerField(_("findings created"), default=0)
    findings_cleared = models.PositiveIntegerField(_("findings cleared automatically"), default=0)
    report = models.JSONField(_("report"), default=dict, blank=True)

    class Meta:
        verbose_name = _("evaluation run")
        verbose_name_plural = _("evaluation runs")
        ordering = ["-evaluated_on"]

    def __str__(self) -> str:
        return str(self.evaluated_on)
