"""Platform background jobs (thin: they call services)."""

from celery import shared_task

from core.api import idempotency


@shared_task
def purge_idempotency_keys() -> int:
    return idempotency.purge_expired()


@shared_task(ignore_result=False)
def ping(value: str = "pong") -> str:
    """A round trip through the broker, used by the health check's test and by operators."""
    return value


@shared_task
def deliver_webhook(delivery_id: int) -> str | None:
    from core.webhooks import deliver

    return deliver(delivery_id)


@shared_task
def deliver_due_webhooks() -> int:
    from core.webhooks import deliver_due

    return deliver_due()
