"""Webhooks to partner apps, signed per the Standard Webhooks scheme.

``emit`` records the event and one delivery per interested endpoint inside the
caller's transaction and sends them after commit. A failed delivery is retried
with backoff (``RETRY_SCHEDULE``, about 27 hours in all) by the periodic
``core.tasks.deliver_due_webhooks`` job; operators see the log and replay from admin.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable
from standardwebhooks import Webhook

from .cache import UNAVAILABLE as REDIS_UNAVAILABLE
from .models import PartnerApplication, WebhookDelivery, WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

#: Wait before attempt 2, 3, ... (after the first immediate one): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_SCHEDULE = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
]
TIMEOUT_SECONDS = 5


def emit(
    event_type: str,
    data: Mapping[str, Any],
    *,
    applications: Iterable[PartnerApplication] | None = None,
) -> WebhookEvent | None:
    """Record an event for every active endpoint that wants it (optionally only these applications'),
    and deliver after the surrounding transaction commits. Returns None when nobody listens."""
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(is_active=True).select_related("application")
        if endpoint.wants(event_type)
    ]
    if not endpoints:
        return None  # nobody listens: do not evaluate the caller's application filter either
    if applications is not None:
        wanted = {app.pk for app in applications}
        endpoints = [endpoint for endpoint in endpoints if endpoint.application_id in wanted]
    if not endpoints:
        return None
    msg_id = "msg_" + uuid.uuid4().hex
    payload = json.loads(
        json.dumps(
            {"type": event_type, "timestamp": timezone.now(), "data": dict(data)},
            cls=DjangoJSONEncoder,
            ensure_ascii=False,
        )
    )
    event = WebhookEvent.objects.create(msg_id=msg_id, type=event_type, payload=payload)
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(event=event, endpoint=endpoint, next_attempt_at=now) for endpoint in endpoints]
    )
    ids = [delivery.pk for delivery in deliveries]

    def send() -> None:
        from .tasks import deliver_webhook

        for delivery_id in ids:
            try:
                deliver_webhook.delay(delivery_id)
            except (BrokerUnavailable, *REDIS_UNAVAILABLE) as exc:  # the row stays due: the retry job sends it
                logger.warning("webhook delivery %s not queued (%s); the retry job will send it", delivery_id, exc)
                return

    transaction.on_commit(send)
    return event


def signed_request(delivery: WebhookDelivery, *, at: Any = None) -> urllib.request.Request:
    event, endpoint = delivery.event, delivery.endpoint
    body = json.dumps(event.payload, ensure_ascii=False, separators=(",", ":"))
    timestamp = at or timezone.now()
    signature = Webhook(endpoint.secret).sign(msg_id=event.msg_id, timestamp=timestamp, data=body)
    return urllib.request.Request(  # noqa: S310 (partner URLs are http(s) URLs validated by URLField)
        endpoint.url,
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "RedCard-Webhooks/1",
            "webhook-id": event.msg_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature,
        },
    )


def deliver(delivery_id: int) -> str | None:
    """Attempt one delivery now. Returns the new state, or None if it was not due or is being sent."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("event", "endpoint")
            .filter(pk=delivery_id, state__in=[WebhookDelivery.State.PENDING, WebhookDelivery.State.FAILED])
            .first()
        )
        if delivery is None:
            return None
        status, error = None, ""
        try:
            with urllib.request.urlopen(signed_request(delivery), timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            error = str(getattr(exc, "reason", exc))[:500]
        now = timezone.now()
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = status
        delivery.last_error = error
        if status is not None and 200 <= status < 300:
            delivery.state = WebhookDelivery.State.SUCCEEDED
            delivery.next_attempt_at = None
        elif delivery.attempts > len(RETRY_SCHEDULE):
            delivery.state = WebhookDelivery.State.DEAD
            delivery.next_attempt_at = None
        else:
            delivery.state = WebhookDelivery.State.FAILED
            delivery.next_attempt_at = now + RETRY_SCHEDULE[delivery.attempts - 1]
        delivery.save()
        if delivery.state != WebhookDelivery.State.SUCCEEDED:
            logger.warning("webhook %s to %s failed: %s", delivery.event.msg_id, delivery.endpoint.url, error)
        return str(delivery.state)


def deliver_due(*, limit: int = 500) -> int:
    """Send every delivery whose next attempt is due (the periodic retry job)."""
    due = list(
        WebhookDelivery.objects.filter(
            state__in=[WebhookDelivery.State.PENDING, WebhookDelivery.State.FAILED],
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in due:
        deliver(delivery_id)
    return len(due)


def replay(*, delivery: WebhookDelivery, actor: Any) -> None:
    """Send a delivery again now (admin's replay button), whatever its state; recorded in the audit trail."""
    from .services import audit_record

    with transaction.atomic():
        before = {"state": delivery.state, "attempts": delivery.attempts}
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=WebhookDelivery.State.PENDING, next_attempt_at=timezone.now()
        )
        audit_record(actor=actor, action="webhook.replay", obj=delivery, before=before, after={"state": "pending"})
        transaction.on_commit(lambda: deliver(delivery.pk))
