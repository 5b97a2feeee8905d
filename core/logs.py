"""Request context in every log line: a request id and the client's address (behind our trusted proxies).

``RequestContextMiddleware`` gives each request an id (the one our proxy sent in ``X-Request-ID`` when
``REDCARD_TRUSTED_PROXIES`` > 0, else a fresh one), returns it in the ``X-Request-ID`` response header, and
keeps it with the client address in a context variable; ``RequestContextFilter`` puts both on every log
record made while the request runs; ``JsonFormatter`` writes one JSON object a line (``LOG_FORMAT=json``,
the production default).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

_context: ContextVar[tuple[str, str] | None] = ContextVar("redcard_request", default=None)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def client_ip(request: HttpRequest) -> str:
    """The client's address: ``REMOTE_ADDR`` with no trusted proxy, else the entry ``REDCARD_TRUSTED_PROXIES``
    places from the end of ``X-Forwarded-For`` (the same rule as DRF's ``NUM_PROXIES``)."""
    remote = str(request.META.get("REMOTE_ADDR") or "")
    proxies = settings.REDCARD_TRUSTED_PROXIES
    forwarded = request.headers.get("x-forwarded-for")
    if proxies <= 0 or not forwarded:
        return remote
    addresses = forwarded.split(",")
    return addresses[-min(proxies, len(addresses))].strip()


def request_id(request: HttpRequest) -> str:
    offered = request.headers.get("x-request-id", "")
    if settings.REDCARD_TRUSTED_PROXIES > 0 and _REQUEST_ID.match(offered):
        return offered
    return uuid.uuid4().hex


def current() -> tuple[str, str] | None:
    """``(request id, client address)`` of the request being served, if any."""
    return _context.get()


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request_id(request)
        request.request_id = rid  # type: ignore[attr-defined]
        token = _context.set((rid, client_ip(request)))
        try:
            response = self.get_response(request)
        finally:
            _context.reset(token)
        response["X-Request-ID"] = rid
        return response


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        rid, ip = _context.get() or ("-", "-")
        record.request_id = getattr(record, "request_id", rid)
        record.client_ip = getattr(record, "client_ip", ip)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request id, client address,
    and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "client_ip": getattr(record, "client_ip", "-"),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
