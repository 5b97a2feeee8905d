"""Stable refusal codes of member events (registered once, never change meaning)."""

from django.utils.translation import gettext_lazy as _

from core.errors import register

register(
    {
        "event_not_found": (404, _("No such event.")),
        "event_not_published": (409, _("This event is not open for registration.")),
        "event_not_open_yet": (409, _("Registration for you opens at %(opens_at)s.")),
        "event_started": (409, _("This event has already started.")),
        "event_cancelled": (409, _("This event was cancelled.")),
        "event_already_registered": (409, _("You are already registered or on the waitlist for this event.")),
        "event_guests_not_allowed": (400, _("This event allows at most %(max_guests)s guest(s) per registration.")),
        "event_cancel_cutoff_passed": (
            409,
            _("Cancellation closed at %(cutoff)s; the place can no longer be given back."),
        ),
        "event_places_invalid": (400, _("You hold %(places)s place(s); you can give back fewer than that.")),
        "event_registration_not_live": (409, _("This registration is already cancelled or lapsed.")),
        "event_offer_not_open": (409, _("No place is waiting for your confirmation.")),
        "event_offer_expired": (409, _("The time to confirm this place has passed; it went to the next person.")),
        "event_capacity_invalid": (
            400,
            _("The capacity cannot be below the %(taken)s places already taken (and must be at least 1)."),
        ),
        "event_invalid": (400, _("The event is not valid: %(problems)s")),
        "event_transition_invalid": (409, _("The event cannot go from %(current)s to %(target)s.")),
        "event_reason_required": (400, _("A reason is required.")),
        "event_not_organiser": (403, _("You may not manage this event.")),
        # At the door (big and plain on the scanner).
        "event_not_registered": (404, _("Not registered for this event.")),
        "event_already_checked_in": (409, _("Already checked in at %(at)s.")),
        "event_not_today": (409, _("This event is not today.")),
        "event_on_waitlist": (409, _("On the waitlist: no confirmed place.")),
        "event_payment_pending": (409, _("The place is not paid yet.")),
        "event_ticket_invalid": (400, _("This registration QR is not valid.")),
        "event_door_not_authorized": (403, _("You may not check people in at this event.")),
    }
)
