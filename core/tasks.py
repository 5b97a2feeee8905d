"""Platform background jobs (thin: they call services)."""

from celery import shared_task

from core.api import idempotency


@shared_task
def purge_idempotency_keys() -> int:
    return idempotency.purge_expired()


@shared_task
def ping(value: str = "pong") -> str:
    """A round trip through the broker, used by the health check's test and by operators."""
    return value
