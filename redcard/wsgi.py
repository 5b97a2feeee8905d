import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redcard.settings.production")
application = get_wsgi_application()

# The URLconf and its views loaded now, before gunicorn (preload_app) forks the workers: shared by all of them
# instead of costing each new worker a second of CPU on its first request (core.warm).
from core.warm import warm_up  # noqa: E402 (needs the application's settings)

warm_up(
    paths=("/api/v1/redemptions/confirm/", "/api/v1/redemptions/card/status/", "/r/", "/"),
    modules=("redemptions.counter.tasks",),  # queued by every confirm's commit (the outbox drain)
)
