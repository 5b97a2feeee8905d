"""``Idempotency-Key`` for every unsafe API request.

A retry with the same key and the same request returns the first response
(status, body, content type) without running the view again; the same key with
a different request is refused with ``idempotency_key_reused``; a retry while
the first request is still running gets 409 ``idempotency_key_in_progress``.
Keys are scoped per caller (the partner application or the signed-in person)
and expire after ``IDEMPOTENCY_KEY_TTL`` (24 h).

The first request inserts an ``in_progress`` row in its own short transaction:
the unique constraint on (caller, key) decides which of two concurrent requests
runs. Server errors (5xx) release the key so the client can retry.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import DomainError
from core.models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REPLAYED_HEADERS = ("Location", "Retry-After")


class Replay(Exception):
    """Carries a stored response back through DRF's exception handling."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def caller_of(request: Request) -> str:
    """The scope of a key: a partner application, a person, or an anonymous address."""
    auth = getattr(request, "auth", None)
    application_id = getattr(auth, "application_id", None)
    if application_id:
        return f"app:{application_id}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return "anon:" + (request.META.get("REMOTE_ADDR") or "?")


def request_fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    digest.update(str(request.method).encode() + b" " + request.get_full_path().encode() + b"\n")
    digest.update(request.body)
    return digest.hexdigest()


def begin(request: Request) -> IdempotencyRecord | None:
    """Claim the key or raise: ``Replay`` with the first response, or a DomainError."""
    if request.method not in UNSAFE_METHODS:
        return None
    key = request.META.get(HEADER)
    if key is None:
        return None
    if not key or len(key) > 255 or not key.isprintable():
        raise DomainError("idempotency_key_invalid")
    caller = caller_of(request)
    fingerprint = request_fingerprint(request)
    now = timezone.now()
    expires = now + settings.IDEMPOTENCY_KEY_TTL
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    caller=caller, key=key, request_hash=fingerprint, expires_at=expires
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(caller=caller, key=key).first()
            if existing is None:
                continue  # released between our insert and our read: claim again
            if existing.expires_at <= now:
                IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
                continue
            if existing.request_hash != fingerprint:
                raise DomainError("idempotency_key_reused") from None
            if existing.state == IdempotencyRecord.State.IN_PROGRESS:
                raise DomainError("idempotency_key_in_progress") from None
            raise Replay(stored_response(existing)) from None
    raise DomainError("idempotency_key_in_progress")


def stored_response(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.body or b""), status=record.status_code or 200, content_type=record.content_type or None
    )
    for name, value in record.headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def finish(record: IdempotencyRecord, response: Any) -> None:
    """Store the first response, or release the key after a server error."""
    if response.status_code >= 500:
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    if isinstance(response, Response) and not response.is_rendered:
        response.render()
    record.state = IdempotencyRecord.State.DONE
    record.status_code = response.status_code
    record.content_type = response.get("Content-Type", "")
    record.body = response.content
    record.headers = {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)}
    record.save(update_fields=["state", "status_code", "content_type", "body", "headers"])


def purge_expired() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
