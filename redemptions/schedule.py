"""Periodic jobs of this app, merged into CELERY_BEAT_SCHEDULE by the settings (no Django imports here)."""

BEAT: dict[str, dict] = {
    # Hourly rate far above the shop's own baseline -> hold promotion, tell curators.
    "redemptions.surge_detect": {"task": "redemptions.tasks.surge_detect", "schedule": 15 * 60},
    # Issue 17: outbox rows a dead worker, a lost message or a failed attempt left (credit, webhook, notice).
    "redemptions.outbox_catch_up": {"task": "redemptions.tasks.outbox_catch_up", "schedule": 60},
    # Claims nobody answered (the pages already treat them as expired; this keeps the table tidy).
    "redemptions.claims_expire": {"task": "redemptions.tasks.claims_expire", "schedule": 60},
    # Issue 6: touches that arrived after the redemption they led to; retention; audience home districts.
    "redemptions.credits_catch_up": {"task": "redemptions.attribution_tasks.credits_catch_up", "schedule": 10 * 60},
    "redemptions.touches_purge": {"task": "redemptions.attribution_tasks.touches_purge", "schedule": 24 * 3600},
    "redemptions.home_districts_refresh": {
        "task": "redemptions.attribution_tasks.home_districts_refresh",
        "schedule": 24 * 3600,
    },
}
