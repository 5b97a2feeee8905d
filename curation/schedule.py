"""Periodic jobs of this app, merged into CELERY_BEAT_SCHEDULE by the settings (no Django imports here)."""

from celery.schedules import crontab

BEAT: dict[str, dict] = {
    # Merchant standing (issue 7). Times are UTC: 19:30 UTC is 03:30 in Asia/Shanghai, after the local day ends.
    "curation-ops-rollup": {"task": "curation.ops_rollup", "schedule": crontab(minute=15, hour=19)},
    "curation-evaluate-removal-rules": {
        "task": "curation.evaluate_removal_rules",
        "schedule": crontab(minute=30, hour=19),
    },
}
