"""The app's Celery tasks, one module per domain; Celery's autodiscovery imports this module."""

from .attribution.tasks import credits_catch_up, home_districts_refresh, touches_purge
from .counter.tasks import claims_expire, outbox_catch_up, outbox_process, surge_detect

__all__ = [
    "claims_expire",
    "credits_catch_up",
    "home_districts_refresh",
    "outbox_catch_up",
    "outbox_process",
    "surge_detect",
    "touches_purge",
]
