"""Reads of member events that pages, the API, admin and other apps reuse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from core.models import User

from ..models import Event, EventRegistration, RegistrationState

State = RegistrationState


def _events() -> QuerySet[Event]:
    return Event.objects.select_related("city", "venue", "organiser")


def upcoming_events(*, at: datetime | None = None, city_id: int | None = None) -> QuerySet[Event]:
    """Published events that have not ended, soonest first."""
    at = at or timezone.now()
    queryset = _events().filter(state=Event.State.PUBLISHED, ends_at__gt=at)
    if city_id is not None:
        queryset = queryset.filter(city_id=city_id)
    return queryset.order_by("starts_at", "pk")


def near(events: QuerySet[Event], *, lat: float, lng: float) -> list[Event]:
    """The events sorted by distance (equirectangular, good enough inside a city); ``distance_km`` set."""
    from math import cos, radians, sqrt

    rows = list(events)
    for event in rows:
        dx = radians(event.lng - lng) * cos(radians((event.lat + lat) / 2))
        dy = radians(event.lat - lat)
        event.distance_km = 6371.0 * sqrt(dx * dx + dy * dy)  # type: ignore[attr-defined]
    return sorted(rows, key=lambda event: (event.distance_km, event.starts_at))  # type: ignore[attr-defined]


def events_of_merchant(*, merchant: Any, at: datetime | None = None) -> QuerySet[Event]:
    """Published, not yet ended events the shop organises or hosts (its page lists them)."""
    return upcoming_events(at=at).filter(Q(organiser=merchant) | Q(venue=merchant))


def managed_events(*, merchant: Any) -> QuerySet[Event]:
    """Every event a shop organises or hosts, whatever its state (the shop's console)."""
    return _events().filter(Q(organiser=merchant) | Q(venue=merchant)).order_by("-starts_at", "-pk")


def event_by_public_id(*, public_id: Any, published_only: bool = True) -> Event | None:
    queryset = _events()
    if published_only:
        queryset = queryset.filter(state__in=(Event.State.PUBLISHED, Event.State.CANCELLED))
    return queryset.filter(public_id=public_id).first()


def registration_of(*, event: Event, user: Any) -> EventRegistration | None:
    """The person's latest registration for the event (live or not), or None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return (
        EventRegistration.objects.select_related("checkin")
        .filter(event=event, user=user)
        .order_by("-created_at", "-pk")
        .first()
    )


def waiting_ahead(*, registration: EventRegistration) -> int | None:
    """How many people wait before this one (0: next in line), or None when not waiting."""
    if registration.state != State.WAITLISTED or registration.waitlist_position is None:
        return None
    return EventRegistration.objects.filter(
        event_id=registration.event_id, state=State.WAITLISTED, waitlist_position__lt=registration.waitlist_position
    ).count()


def registrations_of_user(*, user: User) -> QuerySet[EventRegistration]:
    return (
        EventRegistration.objects.filter(user=user)
        .select_related("event", "event__city", "event__venue", "checkin")
        .order_by("-event__starts_at", "-pk")
    )


@dataclass(frozen=True)
class EventCounts:
    capacity: int
    places_taken: int
    registered: int
    registered_places: int
    offered: int
    pending_payment: int
    waitlisted: int
    checked_in: int
    checked_in_places: int
    no_shows: int
    cancelled: int

    @property
    def places_left(self) -> int:
        return max(0, self.capacity - self.places_taken)


def event_counts(*, event: Event) -> EventCounts:
    """The organiser's figures (one query)."""
    row = EventRegistration.objects.filter(event=event).aggregate(
        registered=Count("pk", filter=Q(state=State.REGISTERED)),
        registered_places=Sum("places", filter=Q(state=State.REGISTERED), default=0),
        offered=Count("pk", filter=Q(state=State.OFFERED)),
        pending_payment=Count("pk", filter=Q(state=State.PENDING_PAYMENT)),
        waitlisted=Count("pk", filter=Q(state=State.WAITLISTED)),
        checked_in=Count("checkin"),
        checked_in_places=Sum("checkin__places", default=0),
        no_shows=Count("pk", filter=Q(no_show=True)),
        cancelled=Count("pk", filter=Q(state__in=(State.CANCELLED, State.LAPSED))),
    )
    return EventCounts(capacity=event.capacity, places_taken=event.places_taken, **row)


def attendance(*, event: Event) -> QuerySet[EventRegistration]:
    """The organiser's list: everyone who registered, waitlist in order, with their check-in."""
    return (
        EventRegistration.objects.filter(event=event)
        .select_related("user", "checkin")
        .order_by("state", "waitlist_position", "created_at", "pk")
    )


def waitlist(*, event: Event) -> QuerySet[EventRegistration]:
    return (
        EventRegistration.objects.filter(event=event, state=State.WAITLISTED)
        .select_related("user")
        .order_by("waitlist_position")
    )


def door_events(*, user: Any, at: datetime | None = None) -> list[Event]:
    """Events of today or tomorrow (the door's pick list) this person may check people in at."""
    from .services import may_manage

    at = at or timezone.now()
    candidates = (
        _events()
        .filter(state=Event.State.PUBLISHED, ends_at__gt=at, starts_at__lt=at + timedelta(days=2))
        .order_by("starts_at", "pk")
    )
    return [event for event in candidates if may_manage(event=event, user=user)]
