"""Periodic jobs of this app, merged into CELERY_BEAT_SCHEDULE by the settings (no Django imports here)."""

BEAT: dict[str, dict] = {
    "merchants.promote_due": {"task": "merchants.promote_due", "schedule": 3600.0},
}
