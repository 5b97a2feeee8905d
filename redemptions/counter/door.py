"""Check-in at an event's door with the member's rotating card code (the scanner's event mode).

The code is verified exactly as at the counter (:func:`redemptions.counter.services.code_read`: signature,
live window, typed-code attempt limit); the member's place is then checked in by the members app
(``members.events.services.event_checkin``), which holds the once-per-registration guarantee. A person
without a card shows their registration QR instead. Refusals are kept like the counter's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from core.errors import DomainError
from members.events import selectors as event_selectors
from members.events import services as event_services
from members.models import Event, EventCheckIn

from . import codes
from .services import Counter, code_read, refusal_record


@dataclass(frozen=True)
class DoorResult:
    checkin: EventCheckIn
    member_masked: str
    places: int


def door_event(*, public_id: Any) -> Event:
    """A published (or cancelled, to say so at the door) event. Raises ``event_not_found``."""
    event = event_selectors.event_by_public_id(public_id=public_id)
    if event is None:
        raise DomainError("event_not_found")
    return event


def door_merchant(event: Event) -> Any:
    return event.venue or event.organiser


def event_door_scan(*, event: Event, text: str, counter: Counter, at: datetime | None = None) -> DoorResult:
    """Check in whoever shows ``text`` (a member code, its typed fallback, or a registration QR).

    Raises ``event_door_not_authorized``, the code refusals (``code_invalid``, ``code_expired``,
    ``code_attempts_exceeded``, ``event_ticket_invalid``) and the door refusals of
    ``event_checkin`` (``event_not_registered``, ``event_already_checked_in``, ``event_not_today``,
    ``event_on_waitlist``, ``event_payment_pending``, ``event_cancelled``). Every refusal is recorded."""
    at = at or timezone.now()
    member = None
    try:
        event_services.door_authorize(event=event, user=counter.staff, partner=counter.partner)
        if event_services.looks_like_ticket(text):
            registration = event_services.ticket_registration(text=text, event=event)
            member = registration.user
            checkin = event_services.event_checkin(
                event=event,
                registration=registration,
                method=EventCheckIn.Method.REGISTRATION_QR,
                by=counter.actor,
                at=at,
            )
        else:
            scanned = code_read(text=text, merchant=door_merchant(event), at=at)
            member = scanned.member
            checkin = event_services.event_checkin(
                event=event, user=member, method=EventCheckIn.Method.MEMBER_CODE, by=counter.actor, at=at
            )
    except DomainError as exc:
        refusal_record(
            error=exc,
            step="door",
            merchant=door_merchant(event),
            counter=counter,
            code_text=text,
            code_kind="numeric" if codes.looks_numeric(text or "") else "qr",
            member=member,
            at=at,
        )
        raise
    return DoorResult(checkin=checkin, member_masked=member.masked_name, places=checkin.places)
