"""Every periodic job in the beat schedule names a registered Celery task."""

from django.conf import settings


def test_every_beat_entry_names_a_registered_task():
    from redcard.celery import app

    app.loader.import_default_modules()
    missing = {
        name: entry["task"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items() if entry["task"] not in app.tasks
    }
    assert missing == {}
    assert len(settings.CELERY_BEAT_SCHEDULE) >= 10
