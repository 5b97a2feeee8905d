"""Intake: merchant applications, admission rules and their results, reviews, visits and decisions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from merchants.models import Category, City, District, Merchant

from .rules import VersionedRule


class Application(models.Model):
    """A merchant owner's request to join. Changed only through :mod:`curation.intake.services`."""

    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        SUBMITTED = "submitted", _("submitted")
        IN_REVIEW = "in_review", _("in review")
        CHANGES_REQUESTED = "changes_requested", _("changes requested")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        WITHDRAWN = "withdrawn", _("withdrawn")

    OPEN_STATES = (State.DRAFT, State.SUBMITTED, State.IN_REVIEW, State.CHANGES_REQUESTED)
    EDITABLE_STATES = (State.DRAFT, State.CHANGES_REQUESTED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="merchant_applications",
        verbose_name=_("owner"),
    )
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.DRAFT, db_index=True)
    # The business
    legal_name = models.CharField(_("legal name"), max_length=120, blank=True)
    name_zh = models.CharField(_("shop name (Chinese)"), max_length=80, blank=True)
    name_en = models.CharField(_("shop name (English)"), max_length=120, blank=True)
    uscc = models.CharField(_("Unified Social Credit Code"), max_length=18, blank=True)
    food_licence = models.CharField(_("food business licence"), max_length=20, blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("category")
    )
    # Where
    city = models.ForeignKey(
        City, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("city")
    )
    district = models.ForeignKey(
        District, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("district")
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    # The shop
    average_spend_fen = models.BigIntegerField(_("average spend (fen)"), null=True, blank=True)
    external_rating = models.DecimalField(_("external rating"), max_digits=2, decimal_places=1, null=True, blank=True)
    opening_hours = models.JSONField(_("opening hours"), default=dict, blank=True)
    dine_in = models.BooleanField(_("dine-in"), default=True)
    # The offer
    offer_rate_bp = models.PositiveIntegerField(_("discount (basis points)"), null=True, blank=True)
    offer_cap_fen = models.BigIntegerField(_("cap per redemption (fen)"), null=True, blank=True)
    offer_min_bill_fen = models.BigIntegerField(_("minimum bill (fen)"), null=True, blank=True)
    daily_capacity = models.PositiveIntegerField(_("daily RedCard capacity"), null=True, blank=True)
    # Contacts and notes
    contact_name = models.CharField(_("contact name"), max_length=60, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=20, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    links = models.TextField(_("links to photos or notes"), blank=True, help_text=_("One URL per line."))
    # Review
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="applications_to_review",
        verbose_name=_("reviewer"),
    )
    merchant = models.OneToOneField(
        Merchant,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="application",
        verbose_name=_("merchant"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True, db_index=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        ordering = ["submitted_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner"],
                condition=models.Q(state__in=["draft", "submitted", "in_review", "changes_requested"]),
                name="application_one_open_per_owner",
            )
        ]

    def __str__(self) -> str:
        return self.name_zh or self.legal_name or str(self.public_id)[:8]

    @property
    def is_editable(self) -> bool:
        return self.state in self.EDITABLE_STATES

    @property
    def age_days(self) -> int | None:
        if self.submitted_at is None:
            return None
        return (timezone.now() - self.submitted_at).days


class AdmissionRule(VersionedRule):
    """One written admission rule; thresholds are its parameters."""

    class Kind(models.TextChoices):
        SEATS_LEFT = "seats_left", _("seats left in the city")
        CATEGORY_OPEN = "category_open", _("category open in the city")
        MIN_RATING = "min_rating", _("external rating at least")
        DINE_IN = "dine_in", _("dine-in")
        MIN_OFFER = "min_offer", _("offer at least")
        SPEND_IN_BAND = "spend_in_band", _("average spend within the category band")
        LICENCES_VALID = "licences_valid", _("valid licence numbers")
        UNIQUE_LICENCE = "unique_licence", _("no other merchant with the same licence")
        NOT_RECENTLY_REMOVED = "not_recently_removed", _("not removed recently")

    kind = models.CharField(_("type"), max_length=30, choices=Kind.choices)
    description = models.CharField(_("description"), max_length=200, blank=True)

    class Meta(VersionedRule.Meta):
        verbose_name = _("admission rule")
        verbose_name_plural = _("admission rules")
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="admissionrule_kind_version")]


class RuleResult(models.Model):
    class Outcome(models.TextChoices):
        PASS = "pass", _("pass")
        FAIL = "fail", _("fail")
        NEEDS_JUDGEMENT = "needs_judgement", _("needs judgement")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="rule_results")
    rule = models.ForeignKey(AdmissionRule, on_delete=models.PROTECT, related_name="results")
    kind = models.CharField(_("type"), max_length=30)
    rule_version = models.PositiveIntegerField(_("rule version"))
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    evidence = models.JSONField(_("evidence"), default=dict)
    evaluated_at = models.DateTimeField(_("evaluated"), default=timezone.now)

    class Meta:
        verbose_name = _("rule result")
        verbose_name_plural = _("rule results")
        ordering = ["kind"]
        constraints = [models.UniqueConstraint(fields=["application", "kind"], name="ruleresult_one_per_kind")]

    def __str__(self) -> str:
        return f"{self.kind} v{self.rule_version}: {self.outcome}"


class SiteVisit(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="visits")
    visited_on = models.DateField(_("visit date"))
    visitor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("visitor")
    )
    score = models.PositiveSmallIntegerField(_("score (1–5)"))
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("on-site visit")
        verbose_name_plural = _("on-site visits")
        ordering = ["-visited_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(score__gte=1, score__lte=5), name="sitevisit_score_1_5")
        ]

    def __str__(self) -> str:
        return f"{self.visited_on} {self.score}/5"


class Decision(models.Model):
    class Kind(models.TextChoices):
        APPROVE = "approve", _("approve")
        REJECT = "reject", _("reject")
        REQUEST_CHANGES = "request_changes", _("request changes")

    class Reason(models.TextChoices):
        MEETS_STANDARDS = "meets_standards", _("meets the admission standards")
        QUALITY = "quality", _("food or service quality below our standard")
        PRICE_BAND = "price_band", _("average spend outside the category band")
        NO_SEATS = "no_seats", _("no seats left in the city")
        CATEGORY_CLOSED = "category_closed", _("category not open in the city")
        LICENCE = "licence", _("licence missing or invalid")
        OFFER = "offer", _("offer below the programme minimum")
        INCOMPLETE = "incomplete", _("information missing or unclear")
        DUPLICATE = "duplicate", _("shop already on RedCard")
        OTHER = "other", _("other")

    #: The reasons each kind of decision may give: an approval does not say "licence invalid", a rejection
    #: does not say "meets the standards".
    REASONS_OF_KIND: dict[str, tuple[str, ...]] = {
        Kind.APPROVE: (Reason.MEETS_STANDARDS, Reason.OTHER),
        Kind.REJECT: tuple(r for r in Reason if r != "meets_standards"),
        Kind.REQUEST_CHANGES: (
            Reason.INCOMPLETE,
            Reason.LICENCE,
            Reason.OFFER,
            Reason.PRICE_BAND,
            Reason.QUALITY,
            Reason.OTHER,
        ),
    }

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(_("decision"), max_length=20, choices=Kind.choices)
    reason_code = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    message = models.TextField(_("message to the merchant"), blank=True)
    override_reason = models.TextField(_("override reason"), blank=True)
    overridden_rules = models.JSONField(_("overridden rules"), default=list, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.reason_code})"
