"""Periodic jobs of this app, merged into CELERY_BEAT_SCHEDULE by the settings (no Django imports here)."""

from datetime import timedelta

BEAT = {
    "core-purge-idempotency-keys": {"task": "core.tasks.purge_idempotency_keys", "schedule": timedelta(hours=1)},
    "core-deliver-due-webhooks": {"task": "core.tasks.deliver_due_webhooks", "schedule": timedelta(seconds=30)},
}
