"""Platform background jobs (thin: they call services)."""

import smtplib

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


@shared_task(
    autoretry_for=(OSError, smtplib.SMTPException),
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=8,
    acks_late=False,  # a worker lost mid-send must not mail the person twice
)
def email_notice(notice_id: int) -> bool:
    """E-mail one notice, retried with backoff (30 s, 1 min, 2 min, ... up to an hour, 8 times) while the
    mail server refuses."""
    from core.services import notice_email_send

    return notice_email_send(notice_id=notice_id)
