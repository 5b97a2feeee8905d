"""The Celery application. Tasks run inline when no broker is configured."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redcard.settings.dev")

app = Celery("redcard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
