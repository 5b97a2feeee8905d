"""Member events (专属活动): events with a capacity, a member-priority window, a waitlist with
promotion and a confirm deadline, and check-in at the door.

Invariants the database holds:

- ``Event.places_taken`` (places held by registrations that are pending payment, registered or
  offered) never exceeds ``Event.capacity``; it changes only under the event's row lock
  (``members.events.services``), and a check constraint refuses anything above capacity.
- One live registration per person and event (a partial unique constraint).
- One check-in per registration (``EventCheckIn.registration`` is one-to-one), so the same code
  scanned at two doors checks in once.
- A waitlist position is unique per event (arrival order under the event lock).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

CNY = "CNY"


class Event(models.Model):
    """An event of the programme or of a listed merchant. Shown once a curator published it."""

    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        IN_REVIEW = "in_review", _("in review")
        PUBLISHED = "published", _("published")
        REJECTED = "rejected", _("rejected")
        CANCELLED = "cancelled", _("cancelled")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    organiser = models.ForeignKey(
        "merchants.Merchant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="organised_events",
        verbose_name=_("organising merchant"),
        help_text=_("Empty for an event of the RedCard programme itself."),
    )
    venue = models.ForeignKey(
        "merchants.Merchant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="hosted_events",
        verbose_name=_("at the shop"),
        help_text=_("The shop where it takes place; leave empty and give an address instead."),
    )
    city = models.ForeignKey("merchants.City", on_delete=models.PROTECT, related_name="events", verbose_name=_("city"))
    address = models.CharField(_("address"), max_length=200, blank=True)
    lat = models.FloatField(_("latitude"))
    lng = models.FloatField(_("longitude"))
    starts_at = models.DateTimeField(_("starts"), db_index=True)
    ends_at = models.DateTimeField(_("ends"))
    capacity = models.PositiveIntegerField(_("capacity (places)"))
    places_taken = models.PositiveIntegerField(_("places taken"), default=0, editable=False)
    waitlist_seq = models.PositiveIntegerField(default=0, editable=False)
    price_fen = models.BigIntegerField(_("price per place (fen)"), default=0, help_text=_("0 for a free event."))
    member_price_fen = models.BigIntegerField(
        _("member price per place (fen)"), null=True, blank=True, help_text=_("Empty: members pay the price.")
    )
    currency = models.CharField(_("currency"), max_length=3, default=CNY)
    members_open_at = models.DateTimeField(_("members may register from"))
    public_open_at = models.DateTimeField(_("everyone may register from"))
    max_guests = models.PositiveSmallIntegerField(
        _("guests per registration"), default=0, help_text=_("0: one place per person; 1: the person plus a guest.")
    )
    cancel_cutoff_hours = models.PositiveIntegerField(_("cancellation cut-off (hours before start)"), default=24)
    offer_hours = models.PositiveIntegerField(_("hours to confirm a place offered from the waitlist"), default=12)
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.DRAFT, db_index=True)
    review_note = models.TextField(_("review note"), blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    cancel_reason = models.TextField(_("cancellation reason"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    no_shows_settled_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["state", "city", "starts_at"], name="members_event_listing_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="members_event_ends_after_start"),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="members_event_capacity_gte_1"),
            models.CheckConstraint(condition=Q(places_taken__lte=F("capacity")), name="members_event_within_capacity"),
            models.CheckConstraint(
                condition=Q(members_open_at__lte=F("public_open_at")) & Q(public_open_at__lte=F("starts_at")),
                name="members_event_windows_ordered",
            ),
            models.CheckConstraint(condition=Q(price_fen__gte=0), name="members_event_price_gte_0"),
            models.CheckConstraint(
                condition=Q(member_price_fen__isnull=True)
                | (Q(member_price_fen__gte=0) & Q(member_price_fen__lte=F("price_fen"))),
                name="members_event_member_price_within_price",
            ),
            models.CheckConstraint(condition=Q(max_guests__lte=1), name="members_event_guests_lte_1"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_free(self) -> bool:
        return self.price_fen == 0 and not self.member_price_fen


class RegistrationState(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("awaiting payment")
    REGISTERED = "registered", _("registered")
    WAITLISTED = "waitlisted", _("on the waitlist")
    OFFERED = "offered", _("place offered")
    CANCELLED = "cancelled", _("cancelled")
    LAPSED = "lapsed", _("lapsed")


#: A person holds at most one registration in these states per event (database constraint).
LIVE_STATES = (
    RegistrationState.PENDING_PAYMENT,
    RegistrationState.REGISTERED,
    RegistrationState.WAITLISTED,
    RegistrationState.OFFERED,
)
#: States that hold places of the capacity (``Event.places_taken``).
HOLDING_STATES = (RegistrationState.PENDING_PAYMENT, RegistrationState.REGISTERED, RegistrationState.OFFERED)


class EventRegistration(models.Model):
    """One person's registration (their places, their waitlist position, their state)."""

    State = RegistrationState

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="registrations", verbose_name=_("event"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="event_registrations", verbose_name=_("person")
    )
    places = models.PositiveSmallIntegerField(_("places"), default=1)
    state = models.CharField(_("state"), max_length=16, choices=RegistrationState.choices, db_index=True)
    as_member = models.BooleanField(_("registered as a member"), default=False)
    price_fen = models.BigIntegerField(_("amount due (fen)"), default=0)
    waitlist_position = models.PositiveIntegerField(_("waitlist number"), null=True, blank=True)
    offer_expires_at = models.DateTimeField(_("confirm by"), null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(_("registered at"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("place confirmed at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("cancelled or lapsed at"), null=True, blank=True)
    end_reason = models.CharField(_("reason"), max_length=200, blank=True)
    no_show = models.BooleanField(_("no-show"), default=False)

    class Meta:
        verbose_name = _("event registration")
        verbose_name_plural = _("event registrations")
        ordering = ["event", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "user"], condition=Q(state__in=LIVE_STATES), name="members_eventreg_one_live"
            ),
            models.UniqueConstraint(
                fields=["event", "waitlist_position"],
                condition=Q(waitlist_position__isnull=False),
                name="members_eventreg_waitlist_position_unique",
            ),
            models.CheckConstraint(condition=Q(places__gte=1) & Q(places__lte=2), name="members_eventreg_places_1_2"),
            models.CheckConstraint(condition=Q(price_fen__gte=0), name="members_eventreg_price_gte_0"),
        ]
        indexes = [models.Index(fields=["event", "state", "waitlist_position"], name="members_eventreg_queue_idx")]

    def __str__(self) -> str:
        return f"{self.event} · {self.user} · {self.state}"

    @property
    def holds_places(self) -> bool:
        return self.state in HOLDING_STATES


class EventCheckIn(models.Model):
    """A registration checked in at the door: once (one-to-one), whichever door scans first."""

    class Method(models.TextChoices):
        MEMBER_CODE = "member_code", _("member card code")
        REGISTRATION_QR = "registration_qr", _("registration QR")
        LIST = "list", _("ticked on the list")

    registration = models.OneToOneField(
        EventRegistration, on_delete=models.PROTECT, related_name="checkin", verbose_name=_("registration")
    )
    at = models.DateTimeField(_("checked in at"))
    method = models.CharField(_("method"), max_length=16, choices=Method.choices)
    places = models.PositiveSmallIntegerField(_("people"), default=1)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    by_label = models.CharField(_("by"), max_length=120)

    class Meta:
        verbose_name = _("event check-in")
        verbose_name_plural = _("event check-ins")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.registration} @ {self.at:%Y-%m-%d %H:%M}"


class EventPayment(models.Model):
    """The payment order of a paid registration at the provider (``public_id`` is our
    ``out_trade_no``). Written, and committed, before the provider is called; one open or paid order
    per registration."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        PAID = "paid", _("paid")
        FAILED = "failed", _("not paid")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    registration = models.ForeignKey(
        EventRegistration, on_delete=models.PROTECT, related_name="payments", verbose_name=_("registration")
    )
    provider = models.CharField(_("provider"), max_length=20)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    currency = models.CharField(_("currency"), max_length=3, default=CNY)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    provider_txn_id = models.CharField(_("provider transaction id"), max_length=64, null=True, blank=True)
    checkout_url = models.CharField(_("checkout URL"), max_length=2048, blank=True)  # a signed gateway request
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)
    failed_at = models.DateTimeField(_("not paid at"), null=True, blank=True)
    refunded_fen = models.BigIntegerField(_("refunded (fen)"), default=0)

    class Meta:
        verbose_name = _("event payment")
        verbose_name_plural = _("event payments")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="members_eventpayment_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(refunded_fen__gte=0) & Q(refunded_fen__lte=F("amount_fen")),
                name="members_eventpayment_refunded_within_amount",
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_txn_id"], name="members_eventpayment_provider_txn_unique"
            ),
            models.UniqueConstraint(
                fields=["registration"],
                condition=Q(state__in=["pending", "paid"]),
                name="members_eventpayment_one_live_per_registration",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ¥{self.amount_fen / 100:.2f} {self.state}"


class EventRefund(models.Model):
    """A refund ledger entry of a paid place, kept as the card's :class:`~members.models.Refund` is and
    driven by the same ledger code (``members.services.refunds``): the amount and the refund number
    (``public_id``, our ``out_refund_no``, derived from the request key) are fixed when the entry is
    written, before the provider is called, so every retry is the same request. A payment can have
    several entries (the guest's place given back, then the rest); ``request_key`` names what each
    returns, so each part is refunded once, and ``EventPayment.refunded_fen`` (which the database keeps
    within the amount) counts the open and settled ones. State: ``requested`` → ``processing`` →
    ``succeeded`` or ``failed`` (flagged for an operator, who may retry it)."""

    class State(models.TextChoices):
        REQUESTED = "requested", _("requested")
        PROCESSING = "processing", _("processing")
        SUCCEEDED = "succeeded", _("refunded")
        FAILED = "failed", _("failed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    payment = models.ForeignKey(
        EventPayment, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("payment")
    )
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    currency = models.CharField(_("currency"), max_length=3, default=CNY)
    reason = models.CharField(_("reason"), max_length=200)
    request_key = models.CharField(_("request key"), max_length=255)
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.REQUESTED)
    provider_refund_id = models.CharField(_("provider refund id"), max_length=64, blank=True)
    provider_state = models.CharField(_("gateway state"), max_length=20, blank=True)
    attempts = models.PositiveIntegerField(_("provider calls"), default=0)
    last_error = models.CharField(_("last error"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    settled_at = models.DateTimeField(_("settled"), null=True, blank=True)

    class Meta:
        verbose_name = _("event refund")
        verbose_name_plural = _("event refunds")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="members_eventrefund_amount_gt_0"),
            models.UniqueConstraint(fields=["payment", "request_key"], name="members_eventrefund_payment_request_key"),
        ]

    def __str__(self) -> str:
        return f"−¥{self.amount_fen / 100:.2f} ({self.state})"
