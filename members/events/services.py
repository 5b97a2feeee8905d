"""Every write of member events.

Locking: every change to who holds which place takes the event's row lock first
(``select_for_update`` on :class:`Event`), then the registration rows. ``Event.places_taken`` and
``Event.waitlist_seq`` change only under that lock, so the last place goes once, waitlist numbers
follow the order in which registrations got the lock, and a cancellation, a capacity change and the
promotion job never hand the same place out twice (the database's check constraint
``places_taken <= capacity`` backs it). Check-in is guarded by the one-to-one
:class:`EventCheckIn` row: the same code scanned at two doors checks in once.

Side effects (notices, webhooks) are written in the transaction (``core.services.notify``,
``core.webhooks.emit``) and leave it on commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import webhooks
from core.db import violates
from core.errors import DomainError
from core.models import User
from core.services import Actor, audit_record, notify
from merchants.selectors import partner_granted, staff_membership

from ..models import Event, EventCheckIn, EventRegistration, RegistrationState
from ..models.events import LIVE_STATES
from ..payments.base import Payer
from ..selectors import entitlement
from . import errors  # noqa: F401  (registers the refusal codes)
from . import payments as event_payments

State = RegistrationState

TICKET_SALT = "members.events.ticket"
TICKET_PREFIX = "RE:"


# --- Settings and small helpers ------------------------------------------------------------------


def no_show_limit() -> int:
    """No-shows (inside :func:`no_show_window`) from which a member loses the priority window; 0: never."""
    return int(getattr(settings, "REDCARD_EVENT_NO_SHOW_LIMIT", 2))


def no_show_window() -> timedelta:
    return timedelta(days=int(getattr(settings, "REDCARD_EVENT_NO_SHOW_DAYS", 180)))


def event_zone(event: Event) -> ZoneInfo:
    return ZoneInfo(event.city.timezone)


def local_text(event: Event, moment: datetime) -> str:
    """``moment`` in the event city's local time, 24-hour clock (``2026-12-05 19:30``)."""
    return moment.astimezone(event_zone(event)).strftime("%Y-%m-%d %H:%M")


def event_local_dates(event: Event) -> tuple[date, date]:
    zone = event_zone(event)
    return event.starts_at.astimezone(zone).date(), event.ends_at.astimezone(zone).date()


def cancel_cutoff(event: Event) -> datetime:
    return event.starts_at - timedelta(hours=event.cancel_cutoff_hours)


def _locked_event(event_id: int) -> Event:
    try:
        return Event.objects.select_for_update(of=("self",)).select_related("city").get(pk=event_id)
    except Event.DoesNotExist as exc:
        raise DomainError("event_not_found") from exc


def _locked_registration(registration_id: int) -> EventRegistration:
    return EventRegistration.objects.select_for_update(of=("self",)).select_related("user").get(pk=registration_id)


def _emit(kind: str, registration: EventRegistration, event: Event, **extra: Any) -> None:
    webhooks.emit(
        f"event.{kind}",
        {
            "event": event.public_id,
            "registration": registration.public_id,
            "member": registration.user.public_id,
            "state": registration.state,
            "places": registration.places,
            "waitlist_position": registration.waitlist_position,
            **extra,
        },
    )


def _set_state(registration: EventRegistration, target: str, *, actor: Actor, reason: str, **changes: Any) -> None:
    before = {"state": registration.state}
    registration.state = target
    for name, value in changes.items():
        setattr(registration, name, value)
    registration.save(update_fields=["state", *changes])
    audit_record(
        actor=actor,
        action=f"members.event_registration_{target}",
        obj=registration,
        reason=reason,
        before=before,
        after={"state": target},
    )


def _release(event: Event, registration: EventRegistration) -> None:
    """Give the registration's places back (caller holds the event lock and saves nothing else)."""
    if registration.holds_places:
        Event.objects.filter(pk=event.pk).update(places_taken=F("places_taken") - registration.places)
        event.places_taken -= registration.places


def _take(event: Event, places: int) -> None:
    Event.objects.filter(pk=event.pk).update(places_taken=F("places_taken") + places)
    event.places_taken += places


# --- Organising: create, review, capacity, cancel ------------------------------------------------


@dataclass(frozen=True)
class EventInput:
    title: str
    description: str
    city_id: int
    lat: float
    lng: float
    starts_at: datetime
    ends_at: datetime
    capacity: int
    members_open_at: datetime
    public_open_at: datetime
    address: str = ""
    venue_id: int | None = None
    price_fen: int = 0
    member_price_fen: int | None = None
    max_guests: int = 0
    cancel_cutoff_hours: int = 24
    offer_hours: int = 12


def _validate(data: EventInput) -> None:
    problems: list[str] = []
    if not data.title.strip():
        problems.append(str(_("a title is required")))
    if data.ends_at <= data.starts_at:
        problems.append(str(_("it must end after it starts")))
    if not data.members_open_at <= data.public_open_at <= data.starts_at:
        problems.append(
            str(_("members' registration must open before (or with) the public's, and both before the start"))
        )
    if data.capacity < 1:
        problems.append(str(_("the capacity must be at least 1")))
    if data.price_fen < 0 or (data.member_price_fen is not None and not 0 <= data.member_price_fen <= data.price_fen):
        problems.append(str(_("prices must be positive and the member price at most the price")))
    if data.max_guests not in (0, 1):
        problems.append(str(_("at most one guest per registration")))
    if data.venue_id is None and not data.address.strip():
        problems.append(str(_("give the shop or an address")))
    if problems:
        raise DomainError("event_invalid", problems="; ".join(problems))


def event_create(*, data: EventInput, actor: Actor, organiser_id: int | None = None, submit: bool = True) -> Event:
    """A new event of the programme (``organiser_id`` None) or of a merchant, sent to review when
    ``submit``. Raises ``event_invalid``. Curators publish it with :func:`event_review`."""
    _validate(data)
    with transaction.atomic():
        event = Event.objects.create(
            organiser_id=organiser_id,
            state=Event.State.IN_REVIEW if submit else Event.State.DRAFT,
            created_by=actor if isinstance(actor, User) else None,
            **{name: getattr(data, name) for name in EventInput.__dataclass_fields__},
        )
        audit_record(actor=actor, action="members.event_created", obj=event, after={"state": event.state})
    return event


_REVIEW: dict[str, set[str]] = {
    Event.State.DRAFT: {Event.State.IN_REVIEW},
    Event.State.IN_REVIEW: {Event.State.PUBLISHED, Event.State.REJECTED},
    Event.State.REJECTED: {Event.State.IN_REVIEW},
}


def _event_transition(event: Event, target: str, *, actor: Actor, reason: str, **changes: Any) -> None:
    if target not in _REVIEW.get(event.state, set()):
        raise DomainError("event_transition_invalid", current=event.state, target=target)
    before = event.state
    event.state = target
    for name, value in changes.items():
        setattr(event, name, value)
    event.save(update_fields=["state", *changes])
    audit_record(
        actor=actor,
        action=f"members.event_{target}",
        obj=event,
        reason=reason,
        before={"state": before},
        after={"state": target},
    )


def event_submit(*, event: Event, actor: Actor) -> Event:
    with transaction.atomic():
        event = _locked_event(event.pk)
        _event_transition(event, Event.State.IN_REVIEW, actor=actor, reason="")
    return event


def event_review(*, event: Event, approve: bool, actor: Actor, note: str = "") -> Event:
    """A curator publishes or rejects an event in review (a rejection needs a note)."""
    if not approve and not note.strip():
        raise DomainError("event_reason_required")
    with transaction.atomic():
        event = _locked_event(event.pk)
        _event_transition(
            event,
            Event.State.PUBLISHED if approve else Event.State.REJECTED,
            actor=actor,
            reason=note,
            review_note=note,
            reviewed_by=actor if isinstance(actor, User) else None,
        )
        if approve:
            webhooks.emit("event.published", {"event": event.public_id, "starts_at": event.starts_at})
    return event


def event_capacity_set(*, event: Event, capacity: int, actor: Actor, at: datetime | None = None) -> Event:
    """Change the capacity; never below the places already taken. Raising it promotes from the
    waitlist at once. Raises ``event_capacity_invalid``."""
    return event_capacity_change(event=event, capacity=capacity, actor=actor, at=at)[0]


def event_capacity_change(
    *, event: Event, capacity: int, actor: Actor, at: datetime | None = None
) -> tuple[Event, list[EventRegistration]]:
    """:func:`event_capacity_set`, also returning the registrations offered a place by the change
    (the console and the organisers' API both come here)."""
    at = at or timezone.now()
    with transaction.atomic():
        event = _locked_event(event.pk)
        if capacity < max(1, event.places_taken):
            raise DomainError("event_capacity_invalid", taken=event.places_taken)
        before = event.capacity
        event.capacity = capacity
        event.save(update_fields=["capacity"])
        audit_record(
            actor=actor,
            action="members.event_capacity",
            obj=event,
            before={"capacity": before},
            after={"capacity": capacity},
        )
        offered = promote_locked(event, at=at, actor=actor)
    return event, offered


def event_cancel(*, event: Event, reason: str, actor: Actor, at: datetime | None = None) -> Event:
    """Cancel the event: every live registration ends with the reason and its people are told.
    Raises ``event_reason_required``, ``event_cancelled``."""
    if not reason.strip():
        raise DomainError("event_reason_required")
    at = at or timezone.now()
    with transaction.atomic():
        event = _locked_event(event.pk)
        if event.state == Event.State.CANCELLED:
            raise DomainError("event_cancelled")
        before = event.state
        event.state = Event.State.CANCELLED
        event.cancel_reason = reason
        event.places_taken = 0
        event.save(update_fields=["state", "cancel_reason", "places_taken"])
        audit_record(actor=actor, action="members.event_cancelled", obj=event, reason=reason, before={"state": before})
        live = EventRegistration.objects.select_for_update(of=("self",)).select_related("user")
        for registration in live.filter(event=event, state__in=LIVE_STATES).order_by("pk"):
            event_payments.refund_for(
                registration=registration, reason=f"event cancelled: {reason}", request_key="event-cancelled"
            )
            event_payments.pending_close_for(registration=registration)
            _set_state(
                registration,
                State.CANCELLED,
                actor=actor,
                reason=reason,
                ended_at=at,
                end_reason=reason[:200],
                offer_expires_at=None,
            )
            notify(
                user=registration.user,
                kind="event_cancelled",
                title=_("Event cancelled: %(title)s"),
                body=_("The organiser cancelled the event (%(reason)s)."),
                url=f"/membership/events/{event.public_id}/",
                context={"title": event.title, "reason": reason},
            )
            _emit("cancelled", registration, event, reason=reason, by="organiser")
        webhooks.emit("event.cancelled", {"event": event.public_id, "reason": reason})
    return event


# --- Registration ----------------------------------------------------------------------------------


def no_show_count(*, user: User, at: datetime) -> int:
    return EventRegistration.objects.filter(
        user=user, no_show=True, event__ends_at__gte=at - no_show_window(), event__ends_at__lte=at
    ).count()


@dataclass(frozen=True)
class Access:
    """When ``user`` may register for ``event`` and at what price per place."""

    opens_at: datetime
    as_member: bool
    priority: bool
    price_fen: int
    penalised: bool = False


def registration_access(*, event: Event, user: User, at: datetime) -> Access:
    """Entitled members open at ``members_open_at`` (unless their no-shows reached the limit) and pay
    the member price; everyone else opens at ``public_open_at`` and pays the price."""
    member = entitlement(user=user, at=at).entitled
    price = event.member_price_fen if member and event.member_price_fen is not None else event.price_fen
    penalised = member and no_show_limit() > 0 and no_show_count(user=user, at=at) >= no_show_limit()
    priority = member and not penalised
    return Access(
        opens_at=event.members_open_at if priority else event.public_open_at,
        as_member=member,
        priority=priority,
        price_fen=price,
        penalised=penalised,
    )


def registration_create(
    *, event: Event, user: User, guests: int = 0, at: datetime | None = None, payer: Payer | None = None
) -> EventRegistration:
    """Register ``user`` (and ``guests``) for ``event``: a place while places are free (paid events
    wait for payment, their checkout opened for ``payer``: the channel hint as for the card's checkout),
    else the next waitlist number.

    Raises ``event_not_published``, ``event_cancelled``, ``event_started``, ``event_not_open_yet``
    (with ``opens_at`` in local time), ``event_guests_not_allowed``, ``event_already_registered``."""
    at = at or timezone.now()
    with transaction.atomic():
        event = _locked_event(event.pk)
        if event.state == Event.State.CANCELLED:
            raise DomainError("event_cancelled")
        if event.state != Event.State.PUBLISHED:
            raise DomainError("event_not_published")
        if at >= event.starts_at:
            raise DomainError("event_started")
        access = registration_access(event=event, user=user, at=at)
        if at < access.opens_at:
            raise DomainError("event_not_open_yet", opens_at=local_text(event, access.opens_at))
        if not 0 <= guests <= event.max_guests:
            raise DomainError("event_guests_not_allowed", max_guests=event.max_guests)
        if EventRegistration.objects.filter(event=event, user=user, state__in=LIVE_STATES).exists():
            raise DomainError("event_already_registered")
        places = 1 + guests
        payment = None
        registration = EventRegistration(
            event=event, user=user, places=places, as_member=access.as_member, price_fen=access.price_fen * places
        )
        if event.capacity - event.places_taken >= places and not _queue_waiting(event):
            registration.state = State.PENDING_PAYMENT if registration.price_fen else State.REGISTERED
            registration.confirmed_at = None if registration.price_fen else at
            _take(event, places)
        else:
            registration.state = State.WAITLISTED
            Event.objects.filter(pk=event.pk).update(waitlist_seq=F("waitlist_seq") + 1)
            event.waitlist_seq += 1
            registration.waitlist_position = event.waitlist_seq
        try:
            with transaction.atomic():
                registration.save()
        except IntegrityError as exc:  # a second live registration of the same person
            if not violates(exc, "members_eventreg_one_live"):
                raise
            raise DomainError("event_already_registered") from exc
        audit_record(actor=user, action=f"members.event_registration_{registration.state}", obj=registration)
        if registration.state == State.PENDING_PAYMENT:
            payment = event_payments.payment_open(registration=registration)
        else:
            _emit("registered" if registration.state != State.WAITLISTED else "waitlisted", registration, event)
    if payment is not None:  # the order is committed; now the provider (outside the transaction)
        event_payments.checkout_create(payment=payment, payer=payer)
    return registration


def _queue_waiting(event: Event) -> bool:
    """Someone is already waiting (a place freed for them must not go to a newcomer)."""
    return EventRegistration.objects.filter(event=event, state=State.WAITLISTED).exists()


def _locked_for_giving_back(registration: EventRegistration, *, at: datetime) -> tuple[Event, EventRegistration]:
    """The event and the registration, locked, if places may be given back now (a live registration,
    before the cut-off unless only waiting). Raises ``event_registration_not_live``,
    ``event_cancel_cutoff_passed``."""
    event = _locked_event(registration.event_id)
    registration = _locked_registration(registration.pk)
    if registration.state not in LIVE_STATES:
        raise DomainError("event_registration_not_live")
    if registration.state != State.WAITLISTED and at >= cancel_cutoff(event):
        raise DomainError("event_cancel_cutoff_passed", cutoff=local_text(event, cancel_cutoff(event)))
    return event, registration


def registration_cancel(
    *, registration: EventRegistration, actor: Actor, reason: str = "", at: datetime | None = None
) -> EventRegistration:
    """The person gives their place back (or leaves the waitlist). A place can be given back until
    the cut-off; the freed places go to the waitlist at once.

    Raises ``event_registration_not_live``, ``event_cancel_cutoff_passed``."""
    at = at or timezone.now()
    with transaction.atomic():
        event, registration = _locked_for_giving_back(registration, at=at)
        event_payments.refund_for(
            registration=registration, reason="cancelled before the cut-off", request_key="cancelled"
        )
        event_payments.pending_close_for(registration=registration)
        _release(event, registration)
        _set_state(
            registration,
            State.CANCELLED,
            actor=actor,
            reason=reason,
            ended_at=at,
            end_reason=(reason or "cancelled by the person")[:200],
            offer_expires_at=None,
        )
        _emit("cancelled", registration, event, reason=reason, by="person")
        promote_locked(event, at=at, actor="system:event_promotion")
    return registration


def registration_reduce(
    *, registration: EventRegistration, actor: Actor, places: int = 1, at: datetime | None = None
) -> EventRegistration:
    """The person gives back part of their places (the guest's) and keeps the rest: the freed place
    goes to the waitlist at once and, for a paid place, its share of the payment is refunded, once
    (a second request finds nothing left to give back). Until the cut-off, as a cancellation.

    Raises ``event_registration_not_live``, ``event_cancel_cutoff_passed``, ``event_places_invalid``,
    ``event_payment_pending`` (the order is open at the provider for the whole amount: cancel and
    register again instead)."""
    at = at or timezone.now()
    with transaction.atomic():
        event, registration = _locked_for_giving_back(registration, at=at)
        if not 1 <= places < registration.places:
            raise DomainError("event_places_invalid", places=registration.places)
        if registration.state == State.PENDING_PAYMENT:
            raise DomainError("event_payment_pending")
        event_payments.refund_places(
            registration=registration, places=places, reason="a place given back before the cut-off"
        )
        if registration.holds_places:
            Event.objects.filter(pk=event.pk).update(places_taken=F("places_taken") - places)
            event.places_taken -= places
        before = {"places": registration.places, "price_fen": registration.price_fen}
        share = registration.price_fen * places // registration.places
        registration.places -= places
        registration.price_fen -= share
        registration.save(update_fields=["places", "price_fen"])
        audit_record(
            actor=actor,
            action="members.event_registration_reduced",
            obj=registration,
            before=before,
            after={"places": registration.places, "price_fen": registration.price_fen},
        )
        _emit("reduced", registration, event, places_given_back=places)
        promote_locked(event, at=at, actor="system:event_promotion")
    return registration


def promote_locked(event: Event, *, at: datetime, actor: Actor) -> list[EventRegistration]:
    """Offer freed places to the waitlist in order (caller holds the event lock). The first waiting
    person who does not fit stops the queue (nobody jumps it). No offers once the event started."""
    if event.state != Event.State.PUBLISHED or at >= event.starts_at:
        return []
    offered: list[EventRegistration] = []
    waiting = (
        EventRegistration.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(event=event, state=State.WAITLISTED)
        .order_by("waitlist_position")
    )
    for registration in waiting:
        if event.capacity - event.places_taken < registration.places:
            break
        deadline = min(at + timedelta(hours=event.offer_hours), event.starts_at)
        _take(event, registration.places)
        _set_state(registration, State.OFFERED, actor=actor, reason="place freed", offer_expires_at=deadline)
        notify(
            user=registration.user,
            kind="event_place_offered",
            title=_("A place is free for you: %(title)s"),
            body=_("Confirm it by %(deadline)s or it goes to the next person on the waitlist."),
            url=f"/membership/events/{event.public_id}/",
            context={"title": event.title, "deadline": local_text(event, deadline)},
        )
        _emit("promoted", registration, event, confirm_by=deadline)
        offered.append(registration)
    return offered


def offer_confirm(
    *, registration: EventRegistration, user: User, at: datetime | None = None, payer: Payer | None = None
) -> EventRegistration:
    """The promoted person takes the offered place (paid events then wait for payment, their checkout opened
    for ``payer``).
    Raises ``event_offer_not_open``, ``event_offer_expired``."""
    at = at or timezone.now()
    with transaction.atomic():
        event = _locked_event(registration.event_id)
        registration = _locked_registration(registration.pk)
        if registration.user_id != user.pk or registration.state != State.OFFERED:
            raise DomainError("event_offer_not_open")
        if registration.offer_expires_at is not None and at >= registration.offer_expires_at:
            raise DomainError("event_offer_expired")
        paid = registration.price_fen > 0
        _set_state(
            registration,
            State.PENDING_PAYMENT if paid else State.REGISTERED,
            actor=user,
            reason="offer confirmed",
            offer_expires_at=None,
            confirmed_at=None if paid else at,
        )
        payment = event_payments.payment_open(registration=registration) if paid else None
        if not paid:
            _emit("registered", registration, event, from_waitlist=True)
    if payment is not None:
        event_payments.checkout_create(payment=payment, payer=payer)
    return registration


def offers_expire(*, now: datetime | None = None) -> dict[str, int]:
    """The promotion job: lapse offers whose deadline passed and pass their places on."""
    now = now or timezone.now()
    lapsed = promoted = 0
    event_ids = (
        EventRegistration.objects.filter(state=State.OFFERED, offer_expires_at__lte=now)
        .values_list("event_id", flat=True)
        .distinct()
    )
    for event_id in list(event_ids):
        with transaction.atomic():
            event = _locked_event(event_id)
            due = (
                EventRegistration.objects.select_for_update(of=("self",))
                .select_related("user")
                .filter(event=event, state=State.OFFERED, offer_expires_at__lte=now)
                .order_by("waitlist_position")
            )
            for registration in due:
                _release(event, registration)
                _set_state(
                    registration,
                    State.LAPSED,
                    actor="system:event_promotion",
                    reason="offer not confirmed in time",
                    ended_at=now,
                    end_reason="offer not confirmed in time",
                )
                _emit("lapsed", registration, event)
                lapsed += 1
            promoted += len(promote_locked(event, at=now, actor="system:event_promotion"))
    return {"lapsed": lapsed, "promoted": promoted}


def waitlist_promote(*, event: Event, at: datetime | None = None) -> int:
    """Offer whatever places are free to the waitlist now (the promotion job and admin use it)."""
    at = at or timezone.now()
    with transaction.atomic():
        event = _locked_event(event.pk)
        return len(promote_locked(event, at=at, actor="system:event_promotion"))


# --- At the door -----------------------------------------------------------------------------------

#: The OAuth scope of organisers' tools (partner apps granted on the organising or hosting shop).
PARTNER_SCOPE = "events:write"


def event_merchants(event: Event) -> list[Any]:
    return [merchant for merchant in (event.organiser, event.venue) if merchant is not None]


def may_manage(*, event: Event, user: Any = None, partner: Any = None) -> bool:
    """Door staff and organisers: staff of the organising or hosting shop, operators and superusers
    (any event), or a partner app granted ``events:write`` on the organising or hosting shop."""
    if partner is not None:
        return any(
            partner_granted(application=partner, merchant=merchant, scope=PARTNER_SCOPE)
            for merchant in event_merchants(event)
        )
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser or user.groups.filter(name="operator").exists():
        return True
    return any(staff_membership(user=user, merchant=merchant) is not None for merchant in event_merchants(event))


def door_authorize(*, event: Event, user: Any = None, partner: Any = None) -> None:
    """Raises ``event_door_not_authorized`` unless the person or partner may run this event's door."""
    if not may_manage(event=event, user=user, partner=partner):
        raise DomainError("event_door_not_authorized")


def ticket_text(*, registration: EventRegistration) -> str:
    """The registration QR of a person without a card: signed, names the registration only."""
    return TICKET_PREFIX + signing.dumps(str(registration.public_id), salt=TICKET_SALT, compress=False)


def looks_like_ticket(text: str) -> bool:
    return (text or "").strip().startswith(TICKET_PREFIX)


def ticket_registration(*, text: str, event: Event) -> EventRegistration:
    """The registration of a scanned registration QR, for ``event``. Raises ``event_ticket_invalid``
    (forged, or another event's)."""
    text = (text or "").strip()
    try:
        public_id = signing.loads(text[len(TICKET_PREFIX) :], salt=TICKET_SALT)
        registration = EventRegistration.objects.select_related("user").get(public_id=public_id)
    except (signing.BadSignature, EventRegistration.DoesNotExist, ValueError) as exc:
        raise DomainError("event_ticket_invalid") from exc
    if registration.event_id != event.pk:
        raise DomainError("event_not_registered")
    return registration


def door_day_refusal(*, event: Event, at: datetime) -> DomainError | None:
    """Why the door of this event is not open at ``at`` (cancelled, not today in the city), or None."""
    if event.state == Event.State.CANCELLED:
        return DomainError("event_cancelled")
    first, last = event_local_dates(event)
    if not first <= at.astimezone(event_zone(event)).date() <= last:
        return DomainError("event_not_today")
    return None


def door_refusal(*, event: Event, registration: EventRegistration | None, at: datetime) -> DomainError | None:
    """Why this person may not come in (in the order staff should hear it), or None."""
    day = door_day_refusal(event=event, at=at)
    if day is not None:
        return day
    if registration is None or registration.state in (State.CANCELLED, State.LAPSED):
        return DomainError("event_not_registered")
    if registration.state in (State.WAITLISTED, State.OFFERED):
        return DomainError("event_on_waitlist")
    if registration.state == State.PENDING_PAYMENT:
        return DomainError("event_payment_pending")
    return None


def event_checkin(
    *,
    event: Event,
    method: str,
    by: Actor,
    user: User | None = None,
    registration: EventRegistration | None = None,
    at: datetime | None = None,
) -> EventCheckIn:
    """Check a person in (by their member, read from their card's code, or by their registration,
    read from their registration QR). Once per registration, whichever door is first.

    Raises ``event_cancelled``, ``event_not_today``, ``event_not_registered``, ``event_on_waitlist``,
    ``event_payment_pending``, ``event_already_checked_in`` (with the local time of the first)."""
    at = at or timezone.now()
    day = door_day_refusal(event=event, at=at)
    if day is not None:
        raise day
    with transaction.atomic():
        if registration is None:
            registration = (
                EventRegistration.objects.select_for_update(of=("self",))
                .select_related("user")
                .filter(event=event, user=user)
                .order_by("-pk")
                .first()
            )
        else:
            registration = _locked_registration(registration.pk)
        first = EventCheckIn.objects.filter(registration=registration).values_list("at", flat=True).first()
        if registration is not None and first is not None:
            raise DomainError("event_already_checked_in", at=local_text(event, first))
        refusal = door_refusal(event=event, registration=registration, at=at)
        if refusal is not None:
            raise refusal
        assert registration is not None
        try:
            with transaction.atomic():
                checkin = EventCheckIn.objects.create(
                    registration=registration,
                    at=at,
                    method=method,
                    places=registration.places,
                    staff=by if isinstance(by, User) else None,
                    by_label=(by.email if isinstance(by, User) else str(by))[:120],
                )
        except IntegrityError as exc:  # the other door won the race
            raise DomainError("event_already_checked_in", at=local_text(event, at)) from exc
        audit_record(actor=by, action="members.event_checked_in", obj=registration, after={"places": checkin.places})
        _emit("checked_in", registration, event, method=method, at=at)
    return checkin


# --- After the event ---------------------------------------------------------------------------------


def no_shows_settle(*, now: datetime | None = None) -> dict[str, int]:
    """For events that ended: registered people who never checked in are no-shows (each event once).
    A member whose no-shows reach ``REDCARD_EVENT_NO_SHOW_LIMIT`` in ``REDCARD_EVENT_NO_SHOW_DAYS``
    registers with the public (no priority window) until older ones fall out of the window."""
    now = now or timezone.now()
    events = no_shows = 0
    for event_id in list(
        Event.objects.filter(
            state=Event.State.PUBLISHED, ends_at__lte=now, no_shows_settled_at__isnull=True
        ).values_list("pk", flat=True)
    ):
        with transaction.atomic():
            event = _locked_event(event_id)
            if event.no_shows_settled_at is not None:
                continue
            count = EventRegistration.objects.filter(
                event=event, state=State.REGISTERED, checkin__isnull=True, no_show=False
            ).update(no_show=True)
            event.no_shows_settled_at = now
            event.save(update_fields=["no_shows_settled_at"])
            audit_record(
                actor="system:event_no_shows", action="members.event_no_shows", obj=event, after={"no_shows": count}
            )
            events += 1
            no_shows += count
    return {"events": events, "no_shows": no_shows}
