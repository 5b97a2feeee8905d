"""Periodic jobs of this app, merged into CELERY_BEAT_SCHEDULE by the settings (no Django imports here)."""

from datetime import timedelta

BEAT: dict[str, dict] = {
    "members-reconcile-payments": {"task": "members.tasks.reconcile_payments", "schedule": timedelta(minutes=2)},
    "members-reconcile-refunds": {"task": "members.tasks.reconcile_refunds", "schedule": timedelta(minutes=2)},
    # The gateways publish the previous day's bill from about 10:00 China time (02:00 UTC).
    "members-reconcile-bills": {"task": "members.tasks.reconcile_bills", "schedule": timedelta(hours=6)},
    "members-advance-subscriptions": {"task": "members.tasks.advance_subscriptions", "schedule": timedelta(minutes=5)},
    # The savings guarantee of paid years that ended (each year once; idempotent, safe to rerun).
    "members-settle-guarantees": {"task": "members.tasks.settle_guarantees", "schedule": timedelta(hours=1)},
    "members-charge-renewals": {"task": "members.tasks.charge_renewals", "schedule": timedelta(hours=1)},
    # WeChat Pay 预约扣费: bookings are taken only within Beijing [08:00, 19:30) the day before; hourly is enough.
    "members-book-renewals": {"task": "members.tasks.book_renewals", "schedule": timedelta(hours=1)},
    "members-reconcile-agreements": {"task": "members.tasks.reconcile_agreements", "schedule": timedelta(minutes=10)},
    "members-send-reminders": {"task": "members.tasks.send_reminders", "schedule": timedelta(hours=1)},
    "members-sandbox-redeliver": {"task": "members.tasks.sandbox_redeliver", "schedule": timedelta(minutes=1)},
    # Member events: offers from the waitlist not confirmed in time pass on; no-shows after the event.
    "members-events-expire-offers": {"task": "members.events.tasks.expire_offers", "schedule": timedelta(minutes=1)},
    "members-events-reconcile-payments": {
        "task": "members.events.tasks.reconcile_payments",
        "schedule": timedelta(minutes=1),
    },
    "members-events-settle-no-shows": {
        "task": "members.events.tasks.settle_no_shows",
        "schedule": timedelta(minutes=30),
    },
}
