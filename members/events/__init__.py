"""Member events (专属活动): events, registration with a member-priority window, the waitlist with
promotion and a confirm deadline, cancellation, check-in at the door and no-shows.

``services`` holds every write (under the event's row lock), ``selectors`` the reads others reuse.
The door's scanner lives in ``redemptions`` (it verifies the member's rotating code) and calls
``services.event_checkin``.
"""
