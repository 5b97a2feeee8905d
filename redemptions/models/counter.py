"""Redemptions: what a member saved at a shop, the refused scans, tap-to-claim, NFC tags and surge flags.

The invariants the database holds:

- a member code is used once: ``Redemption.code_id`` is unique (voided redemptions keep it);
- a member's redemptions per shop per local day: ``MemberDay`` is one counter row per
  (member, merchant, day), raised by one guarded upsert (see ``services``) and never negative;
- money adds up: bill > 0, 0 <= discount <= bill, charge = bill - discount;
- one pending claim per member per shop, and a claim turns into at most one redemption;
- one open surge flag per merchant.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.sealing import SealedCharField

#: The unique constraint on ``Redemption.code_id``.
CODE_USED_ONCE = "redemption_code_used_once"


class Channel(models.TextChoices):
    STAFF_SCAN = "staff_scan", _("staff scanned the member's QR code")
    STAFF_TYPED = "staff_typed", _("staff typed the member's code")
    MEMBER_CLAIM = "member_claim", _("member tapped or scanned at the counter")
    PARTNER_POS = "partner_pos", _("partner POS")
    STAFF_OFFLINE = "staff_offline", _("staff scanned the member's QR code offline")
    PARTNER_PLATFORM = "partner_platform", _("paid through a partner platform")


class Redemption(models.Model):
    class Status(models.TextChoices):
        CONFIRMED = "confirmed", _("confirmed")
        VOIDED = "voided", _("voided")

    Channel = Channel

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("member")
    )
    subscription = models.ForeignKey(
        "members.Subscription", on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("subscription")
    )
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("merchant")
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="redemptions_confirmed",
        verbose_name=_("staff"),
    )
    partner = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="redemptions",
        verbose_name=_("partner application"),
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    code_id = models.CharField(
        _("code id"), max_length=64, help_text=_("The member code (or claim) this redemption used up.")
    )
    partner_order_id = models.CharField(
        _("partner's order id"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("The order id a partner platform reported it under (its code id is derived from it)."),
    )
    bill_fen = models.BigIntegerField(_("bill (fen)"))
    discount_fen = models.BigIntegerField(_("discount (fen)"))
    charge_fen = models.BigIntegerField(_("charged (fen)"))
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    rate_bp = models.PositiveIntegerField(_("discount rate (basis points)"))
    cap_fen = models.BigIntegerField(_("cap (fen)"), null=True, blank=True)
    funded_by = models.CharField(_("funded by"), max_length=10, default="merchant")
    local_date = models.DateField(_("local day"))
    member_birth_year = models.PositiveSmallIntegerField(
        _("member's birth year at the visit"),
        null=True,
        blank=True,
        help_text=_("As the member's profile gave it when the visit was confirmed (the shop's audience figures)."),
    )
    confirmed_at = models.DateTimeField(_("confirmed at"), default=timezone.now)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.CONFIRMED)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    voided_by_label = models.CharField(_("voided by"), max_length=120, blank=True)
    void_reason = models.TextField(_("void reason"), blank=True)

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-confirmed_at", "-id"]
        indexes = [
            # Covers the dashboard's aggregates (daily series, new/returning, audience) as index-only scans.
            models.Index(
                fields=["merchant", "local_date", "status", "member", "member_birth_year", "bill_fen", "discount_fen"],
                name="redemption_merchant_day_covers",
            ),
            models.Index(fields=["merchant", "confirmed_at"], name="redemption_merchant_at_idx"),
            models.Index(fields=["member", "-confirmed_at"], name="redemption_member_idx"),
        ]
        constraints = [
            # A code is used once: the confirmation reads this name from the violation (services).
            models.UniqueConstraint(fields=["code_id"], name=CODE_USED_ONCE),
            models.CheckConstraint(condition=Q(bill_fen__gt=0), name="redemption_bill_positive"),
            models.CheckConstraint(
                condition=Q(discount_fen__gte=0, discount_fen__lte=F("bill_fen")), name="redemption_discount_in_bill"
            ),
            models.CheckConstraint(
                condition=Q(charge_fen=F("bill_fen") - F("discount_fen")), name="redemption_charge_adds_up"
            ),
            models.CheckConstraint(
                condition=Q(status="confirmed", voided_at__isnull=True) | Q(status="voided", voided_at__isnull=False),
                name="redemption_void_time_with_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id.hex[:8]} ¥{self.bill_fen / 100:.2f}"


class RedemptionOutbox(models.Model):
    """What a confirmation or a void leaves to do after its commit: credit or reverse attribution, the
    partner webhook and (for a confirmation) the member's "you saved" notice.

    Written in the money transaction, processed after the commit exactly once: the row is the idempotency
    key (one per redemption and event), and it is marked done in the transaction that writes the side
    effects, so a processor that dies leaves either everything or nothing of a row."""

    class Event(models.TextChoices):
        CONFIRMED = "confirmed", _("confirmed")
        VOIDED = "voided", _("voided")

    redemption = models.ForeignKey(
        Redemption, on_delete=models.CASCADE, related_name="outbox", verbose_name=_("redemption")
    )
    event = models.CharField(_("event"), max_length=10, choices=Event.choices)
    created_at = models.DateTimeField(_("written"), default=timezone.now)
    done_at = models.DateTimeField(_("processed"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("failed attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("outbox entry")
        verbose_name_plural = _("outbox entries")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["redemption", "event"], name="redemptionoutbox_once_per_event"),
        ]
        indexes = [
            models.Index(fields=["id"], condition=Q(done_at__isnull=True), name="redemptionoutbox_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.redemption_id}"


class OfflineRedemption(models.Model):
    """A redemption a scanner accepted while the shop's network was down, as it reached the server.

    One row per record the scanner kept (``client_id``, generated on the device: a record sent twice is
    answered from its row). ``accepted``: it became a redemption. ``flagged``: it became a redemption though
    something was over (the member's daily limit, the shop's capacity) or off (paused, offline acceptance
    switched off): the shop gave the discount, so it counts, and the owner and curation see why.
    ``conflict``: no redemption (the code was used elsewhere, the card was not entitled at the scan); shown
    to the owner and fed to curation as a fraud signal. ``refused``: not a genuine, live code at the scan
    time, or too late (nothing to honour)."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", _("accepted")
        FLAGGED = "flagged", _("accepted, flagged")
        CONFLICT = "conflict", _("conflict")
        REFUSED = "refused", _("refused")

    client_id = models.UUIDField(_("record id on the scanner"), unique=True)
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="offline_redemptions", verbose_name=_("merchant")
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    code_text = models.CharField(_("code"), max_length=240)
    code_id = models.CharField(_("code id"), max_length=64, blank=True, db_index=True)
    bill_fen = models.BigIntegerField(_("bill (fen)"))
    scanned_at = models.DateTimeField(_("scanned at (scanner's clock)"))
    received_at = models.DateTimeField(_("synced at"), default=timezone.now)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    redemption = models.OneToOneField(
        Redemption, on_delete=models.SET_NULL, null=True, blank=True, related_name="offline_record"
    )

    class Meta:
        verbose_name = _("offline redemption")
        verbose_name_plural = _("offline redemptions")
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["merchant", "outcome", "-received_at"], name="offline_merchant_outcome_idx")]

    def __str__(self) -> str:
        return f"{self.outcome} ¥{self.bill_fen / 100:.2f}"


class MemberDay(models.Model):
    """How many redemptions a member has at a shop on a local day (the per-member limit)."""

    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    local_date = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "merchant", "local_date"], name="memberday_unique"),
            models.CheckConstraint(condition=Q(count__gte=0), name="memberday_count_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}@{self.merchant_id} {self.local_date}: {self.count}"


class RefusedScan(models.Model):
    """Every refused prepare/confirm/claim, for support and fraud review (as check-in systems keep)."""

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    reason = models.CharField(_("reason"), max_length=40, db_index=True)
    code_kind = models.CharField(_("code kind"), max_length=10, blank=True)
    code_text = models.CharField(_("code"), max_length=200, blank=True)
    step = models.CharField(_("step"), max_length=10)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, blank=True)
    merchant = models.ForeignKey(
        "merchants.Merchant",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="refused_scans",
        verbose_name=_("merchant"),
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    partner = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("refused scan")
        verbose_name_plural = _("refused scans")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["merchant", "code_kind", "-at"], name="refusedscan_attempts_idx")]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.at):%Y-%m-%d %H:%M:%S} {self.reason}"


class NfcTag(models.Model):
    """An NFC tag (or printed QR stand) at a merchant's counter: it holds the URL of the claim page.

    Plain tags are location hints only (the staff confirmation step decides). NTAG 424 DNA tags with
    SUN hold keys; each tap is verified and its counter must grow.
    """

    class Kind(models.TextChoices):
        PLAIN = "plain", _("plain tag or printed QR stand")
        SUN = "sun", _("NTAG 424 DNA with Secure Unique NFC")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="nfc_tags", verbose_name=_("merchant")
    )
    label = models.CharField(_("label"), max_length=60, help_text=_("Where it is, e.g. 'till 1'."))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.PLAIN)
    # The tag's AES keys (32 hex digits each), sealed at rest (core.sealing): a database copy cannot forge taps.
    meta_read_key = SealedCharField(_("SDM meta read key (hex)"), blank=True)
    file_read_key = SealedCharField(_("SDM file read key (hex)"), blank=True)
    uid = models.CharField(_("tag UID (hex)"), max_length=14, blank=True)
    last_counter = models.PositiveIntegerField(_("last accepted tap counter"), null=True, blank=True)
    last_tap_at = models.DateTimeField(_("last tap"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("NFC tag")
        verbose_name_plural = _("NFC tags")
        ordering = ["merchant", "label"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="plain") | (Q(kind="sun") & ~Q(meta_read_key="") & ~Q(file_read_key="")),
                name="nfctag_sun_has_keys",
            )
        ]

    def __str__(self) -> str:
        return self.label


class Claim(models.Model):
    """Tap or scan at the counter (碰一碰): a member asks for the discount on a bill; staff confirm."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting for staff")
        CONFIRMED = "confirmed", _("confirmed")
        REJECTED = "rejected", _("rejected")
        EXPIRED = "expired", _("expired")
        CANCELLED = "cancelled", _("cancelled")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="claims", verbose_name=_("member")
    )
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="claims", verbose_name=_("merchant")
    )
    tag = models.ForeignKey(
        NfcTag, on_delete=models.SET_NULL, null=True, blank=True, related_name="claims", verbose_name=_("tag")
    )
    tag_verified = models.BooleanField(_("tag verified (SUN)"), default=False)
    bill_fen = models.BigIntegerField(_("bill (fen)"))
    discount_fen = models.BigIntegerField(_("discount (fen)"))
    short_number = models.CharField(_("short number"), max_length=4)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reject_reason = models.CharField(_("reason"), max_length=200, blank=True)
    redemption = models.OneToOneField(
        Redemption, on_delete=models.SET_NULL, null=True, blank=True, related_name="claim"
    )

    class Meta:
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["merchant", "status", "expires_at"], name="claim_console_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "merchant"], condition=Q(status="pending"), name="claim_one_pending_per_shop"
            ),
            models.CheckConstraint(condition=Q(bill_fen__gt=0), name="claim_bill_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.short_number} ¥{self.bill_fen / 100:.2f}"

    @property
    def code_id(self) -> str:
        return f"claim.{self.public_id.hex}"


class SurgeFlag(models.Model):
    """The surge detector saw a merchant's hourly rate far above its own baseline."""

    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="surge_flags", verbose_name=_("merchant")
    )
    detected_at = models.DateTimeField(_("detected"), default=timezone.now)
    hour_count = models.PositiveIntegerField(_("redemptions in the last hour"))
    baseline = models.FloatField(_("trailing 4-week average for that hour"))
    cleared_at = models.DateTimeField(_("cleared"), null=True, blank=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("surge flag")
        verbose_name_plural = _("surge flags")
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant"], condition=Q(cleared_at__isnull=True), name="surgeflag_one_open_per_merchant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.merchant} {timezone.localtime(self.detected_at):%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None
