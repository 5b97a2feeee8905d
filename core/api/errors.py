"""Every API error as ``application/problem+json`` (RFC 9457) with a stable ``code``.

Shape::

    {"type": "https://redcard.example/problems/<code>", "title": "...", "status": 400,
     "code": "validation_failed", "detail": "...", "fields": {"name": [{"code": "...", "detail": "..."}]}}

``detail`` and ``title`` follow the request language (Accept-Language; zh-Hans by default).
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any

import psycopg
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core.errors import CODES, DomainError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://redcard.example/problems/"

#: The database is away (restarting, failing over, refusing connections): a 503 the caller may retry, never a 500.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)
#: Seconds a client waits before retrying a 503.
RETRY_AFTER_SECONDS = 5

_DRF_CODES = {
    "invalid": "validation_failed",
    "error": "server_error",
}


def _title(status: int) -> str:
    titles = {
        400: _("Bad request"),
        401: _("Authentication required"),
        403: _("Forbidden"),
        404: _("Not found"),
        405: _("Method not allowed"),
        406: _("Not acceptable"),
        409: _("Conflict"),
        415: _("Unsupported media type"),
        422: _("Unprocessable request"),
        429: _("Too many requests"),
        500: _("Server error"),
        503: _("Service unavailable"),
    }
    try:
        return titles.get(status) or HTTPStatus(status).phrase
    except ValueError:
        return str(status)


def problem_body(
    *, status: int, code: str, detail: str, fields: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": _title(status),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if fields:
        body["fields"] = fields
    body.update(extra)
    return body


def _flatten_fields(data: Any, prefix: str = "") -> dict[str, list[dict[str, str]]]:
    """DRF's nested ValidationError detail -> {"a.b.0.c": [{"code", "detail"}]}."""
    out: dict[str, list[dict[str, str]]] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten_fields(value, name))
    elif isinstance(data, list):
        if all(isinstance(item, (exceptions.ErrorDetail, str)) for item in data):
            out[prefix or "non_field_errors"] = [
                {"code": getattr(item, "code", "invalid") or "invalid", "detail": str(item)} for item in data
            ]
        else:
            for index, item in enumerate(data):
                out.update(_flatten_fields(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out[prefix or "non_field_errors"] = [
            {"code": getattr(data, "code", "invalid") or "invalid", "detail": str(data)}
        ]
    return out


def problem_from_domain_error(exc: DomainError) -> dict[str, Any]:
    extra = {"params": exc.params} if exc.params else {}
    return problem_body(status=exc.status, code=exc.code, detail=exc.detail, fields=exc.fields, **extra)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF ``EXCEPTION_HANDLER``: every error leaves as problem+json."""
    if isinstance(exc, DomainError):
        return Response(problem_from_domain_error(exc), status=exc.status, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, DataError):
        # A value PostgreSQL refuses (the middleware stops U+0000 before this): the caller's input, not a 5xx.
        logger.warning("database refused a value", exc_info=exc)
        set_rollback()
        return Response(invalid_input_body(None), status=400, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, DATABASE_UNAVAILABLE):
        logger.warning("database unavailable", exc_info=exc)
        return Response(unavailable_body(), status=503, content_type=PROBLEM_CONTENT_TYPE, headers=UNAVAILABLE_HEADERS)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)  # keeps WWW-Authenticate, Retry-After
    if response is None:
        logger.exception("unhandled API error", exc_info=exc)
        return Response(
            problem_body(status=500, code="server_error", detail=_("Something went wrong on our side. Please retry.")),
            status=500,
            content_type=PROBLEM_CONTENT_TYPE,
        )

    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        body = problem_body(
            status=response.status_code,
            code="validation_failed",
            detail=_("Some fields are not valid."),
            fields=_flatten_fields(exc.detail),
        )
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        code = _DRF_CODES.get(code, code)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.default_detail)
        if isinstance(exc, exceptions.PermissionDenied) and str(detail).startswith("CSRF Failed"):
            code, detail = "csrf_failed", _("The CSRF token is missing or invalid. Reload the page and retry.")
        extra: dict[str, Any] = {}
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            extra["retry_after"] = math.ceil(wait)
        body = problem_body(status=response.status_code, code=code, detail=str(detail), **extra)
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_response(request: HttpRequest, *, status: int, code: str, detail: str) -> JsonResponse:
    """For Django-level handlers (unknown URL, server error) under /api/."""
    return JsonResponse(
        problem_body(status=status, code=code, detail=detail),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
        json_dumps_params={"ensure_ascii": False},
    )


UNAVAILABLE_HEADERS = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def unavailable_body() -> dict[str, Any]:
    """``service_unavailable`` (503): the database could not be reached; nothing was written."""
    return problem_body(status=503, code="service_unavailable", detail=str(CODES["service_unavailable"][1]))


def invalid_input_body(where: str | None) -> dict[str, Any]:
    """``invalid_input``: ``where`` names the part of the request (``path``, ``query``, ``body``) when known."""
    extra: dict[str, Any] = {"where": where} if where else {}
    return problem_body(status=400, code="invalid_input", detail=str(CODES["invalid_input"][1]), **extra)


def machine_client(request: HttpRequest) -> bool:
    """Whether errors for this request are problem+json: the API and the OAuth token endpoints."""
    return request.path.startswith(("/api/", "/o/"))
