"""Webhooks to partner apps, signed per the Standard Webhooks scheme.

``emit`` records the event and one delivery per interested endpoint inside the
caller's transaction and sends them after commit. A failed delivery is retried
with backoff (``RETRY_SCHEDULE``, about 27 hours in all) by the periodic
``core.tasks.deliver_due_webhooks`` job; operators see the log and replay from admin.

A delivery is claimed with one conditional UPDATE (a lease), sent with no transaction open and no row lock
held, and its result recorded with another UPDATE. Redirects are not followed; an endpoint that resolves to
a loopback, private, link-local or otherwise non-public address is refused unless an operator allowed that
network (``REDCARD_WEBHOOK_ALLOWED_NETWORKS``). The retry job sends ``REDCARD_WEBHOOK_CONCURRENCY`` at a time.
Each request carries one signature per live secret of the endpoint (a rotation keeps the previous one for
a while: ``endpoint_rotate_secret``).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, connections, transaction
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


def emit_many(
    events: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    applications: Sequence[Collection[int] | None] | None = None,
) -> int:
    """Record many events at once (a batch job's per-row events): one INSERT of events and one of deliveries
    for the endpoints that want each type, then one retry-job run after commit sends them through the bounded
    pool. ``applications``, beside ``events``, gives each event the ids of the partner applications whose
    endpoints may receive it (None: any), as ``emit``'s filter does for one. Returns the number of deliveries
    recorded (0, after one read, when nobody listens)."""
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
    if not endpoints:
        return 0
    now = timezone.now()
    rows: list[tuple[WebhookEvent, list[WebhookEndpoint]]] = []
    for index, (event_type, data) in enumerate(events):
        allowed = applications[index] if applications is not None else None
        wanting = [
            endpoint
            for endpoint in endpoints
            if endpoint.wants(event_type) and (allowed is None or endpoint.application_id in allowed)
        ]
        if wanting:
            payload = json.loads(
                json.dumps({"type": event_type, "timestamp": now, "data": dict(data)}, cls=DjangoJSONEncoder)
            )
            rows.append((WebhookEvent(msg_id="msg_" + uuid.uuid4().hex, type=event_type, payload=payload), wanting))
    if not rows:
        return 0
    WebhookEvent.objects.bulk_create([event for event, _ in rows])
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(event=event, endpoint=endpoint, next_attempt_at=now)
            for event, wanting in rows
            for endpoint in wanting
        ]
    )

    def send() -> None:
        from .tasks import deliver_due_webhooks

        try:
            deliver_due_webhooks.delay()
        except (BrokerUnavailable, *REDIS_UNAVAILABLE) as exc:  # the periodic run sends them
            logger.warning("webhook batch not queued (%s); the retry job will send it", exc)

    transaction.on_commit(send)
    return len(deliveries)


LEASE = timedelta(seconds=TIMEOUT_SECONDS * 6)


def signatures(endpoint: WebhookEndpoint, *, msg_id: str, timestamp: Any, body: str) -> str:
    """The ``webhook-signature`` header: one ``v1,<sig>`` per live secret, space-separated (Standard Webhooks),
    so that a partner who still verifies with the previous secret during a rotation keeps accepting."""
    return " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body) for secret in endpoint.live_secrets()
    )


def signed_request(delivery: WebhookDelivery, *, at: Any = None) -> urllib.request.Request:
    event, endpoint = delivery.event, delivery.endpoint
    body = json.dumps(event.payload, ensure_ascii=False, separators=(",", ":"))
    timestamp = at or timezone.now()
    return urllib.request.Request(  # noqa: S310 (partner URLs are http(s) URLs validated by URLField)
        endpoint.url,
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "RedCard-Webhooks/1",
            "webhook-id": event.msg_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signatures(endpoint, msg_id=event.msg_id, timestamp=timestamp, body=body),
        },
    )


# --- Where a delivery may go -------------------------------------------------------------------------------


class DestinationRefused(OSError):
    """The endpoint resolves to an address partners may not point us at."""


def destination_allowed(address: str) -> bool:
    """Public addresses only, unless an operator listed the network in ``REDCARD_WEBHOOK_ALLOWED_NETWORKS``:
    loopback, private, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved
    and unspecified addresses are refused (a partner must not reach our own network through us)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for network in getattr(settings, "REDCARD_WEBHOOK_ALLOWED_NETWORKS", []):
        if ip in ipaddress.ip_network(network, strict=False):
            return True
    return ip.is_global and not ip.is_multicast


class _GuardedConnection:
    """Checks the address actually connected to (after DNS, so a name that re-resolves elsewhere between a
    check and the connection gains nothing) before a byte of the request is sent."""

    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        peer = self.sock.getpeername()[0]
        if not destination_allowed(peer):
            self.sock.close()
            raise DestinationRefused(f"refused destination address {peer}")


class _GuardedHTTPConnection(_GuardedConnection, http.client.HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnection, http.client.HTTPSConnection):
    pass


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_GuardedHTTPConnection, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_GuardedHTTPSConnection, req, context=ssl.create_default_context())


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the partner's answer, not a new destination: it counts as a failed attempt."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_GuardedHTTPHandler, _GuardedHTTPSHandler, _NoRedirects)


# --- Delivery: claim, send outside any transaction, record ---------------------------------------------------


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Take a due delivery for one attempt: one conditional UPDATE moves its next attempt past the lease, so
    no other sender takes it meanwhile and no lock is held while the partner answers. A sender that dies
    mid-way leaves it due again when the lease ends."""
    now = timezone.now()
    taken = WebhookDelivery.objects.filter(
        pk=delivery_id,
        state__in=[WebhookDelivery.State.PENDING, WebhookDelivery.State.FAILED],
        next_attempt_at__lte=now,
    ).update(next_attempt_at=now + LEASE)
    if not taken:
        return None
    return WebhookDelivery.objects.select_related("event", "endpoint").get(pk=delivery_id)


def _send(delivery: WebhookDelivery) -> tuple[int | None, str]:
    try:
        with _opener().open(signed_request(delivery), timeout=TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:  # 3xx (not followed), 4xx, 5xx
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as exc:
        return None, str(getattr(exc, "reason", exc))[:500]


def deliver(delivery_id: int) -> str | None:
    """Attempt one due delivery now. Returns the new state, or None if it was not due or another sender has
    it. The HTTP call runs outside any transaction and row lock (``core.webhooks`` module note)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    status, error = _send(delivery)
    now = timezone.now()
    attempts = delivery.attempts + 1
    if status is not None and 200 <= status < 300:
        state, next_at = WebhookDelivery.State.SUCCEEDED, None
    elif attempts > len(RETRY_SCHEDULE):
        state, next_at = WebhookDelivery.State.DEAD, None
    else:
        state, next_at = WebhookDelivery.State.FAILED, now + RETRY_SCHEDULE[attempts - 1]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=attempts,
        last_attempt_at=now,
        last_status_code=status,
        last_error=error,
        state=state,
        next_attempt_at=next_at,
    )
    if state != WebhookDelivery.State.SUCCEEDED:
        logger.warning("webhook %s to %s failed: %s", delivery.event.msg_id, delivery.endpoint.url, error)
    return str(state)


def _deliver_in_thread(delivery_id: int) -> str | None:
    try:
        return deliver(delivery_id)
    finally:
        connections.close_all()  # this worker thread's own connection


def deliver_due(*, limit: int = 500) -> int:
    """Send every delivery whose next attempt is due (the periodic retry job), ``REDCARD_WEBHOOK_CONCURRENCY``
    at a time: 500 slow partners take 500 x 5 s / 8 in the worst case instead of 500 x 5 s. Inside a caller's
    transaction (other threads could not see its rows) they go one by one."""
    due = list(
        WebhookDelivery.objects.filter(
            state__in=[WebhookDelivery.State.PENDING, WebhookDelivery.State.FAILED],
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    workers = max(1, int(getattr(settings, "REDCARD_WEBHOOK_CONCURRENCY", 8)))
    if workers == 1 or len(due) <= 1 or connection.in_atomic_block:
        for delivery_id in due:
            deliver(delivery_id)
        return len(due)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook") as pool:
        list(pool.map(_deliver_in_thread, due))
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


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, actor: Any, overlap: timedelta | None = None) -> str:
    """Give ``endpoint`` a new signing secret; the previous one keeps signing beside it for ``overlap``
    (``REDCARD_WEBHOOK_SECRET_OVERLAP_HOURS``, 24 h) so the partner can switch without missing an event.
    Audited (without the secrets). Returns the new secret, to hand to the partner."""
    from .models import new_webhook_secret
    from .services import audit_record

    if overlap is None:
        overlap = timedelta(hours=getattr(settings, "REDCARD_WEBHOOK_SECRET_OVERLAP_HOURS", 24))
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret, locked.secret = locked.secret, new_webhook_secret()
        locked.previous_secret_until = timezone.now() + overlap
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
        audit_record(
            actor=actor,
            action="webhook.secret_rotate",
            obj=locked,
            after={"previous_secret_until": locked.previous_secret_until.isoformat()},
        )
    endpoint.refresh_from_db()
    return endpoint.secret
