"""Project middleware: a strict Content-Security-Policy on every response (no inline scripts, nothing from
other hosts), and the refusal of input PostgreSQL cannot store."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DataError
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict

logger = logging.getLogger(__name__)


def build_policy(style_attributes: bool = False, form_action: tuple[str, ...] = ()) -> str:
    """The policy of ``settings.CSP_POLICY``; ``form_action`` adds origins a form of the page may lead to (a
    form whose answer redirects to another site, as a consent page to the partner's redirect URI: browsers
    check the redirect's target against ``form-action`` too). A view sets it on its response itself."""
    policy = {name: list(values) for name, values in settings.CSP_POLICY.items()}
    if style_attributes:
        # Swagger UI and the admin set style="" at run time; scripts stay strict.
        policy["style-src"] = [*policy.get("style-src", []), "'unsafe-inline'"]
    if form_action:
        policy["form-action"] = [*policy.get("form-action", []), *form_action]
    return "; ".join(f"{name} {' '.join(values)}" for name, values in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.strict = build_policy()
        self.relaxed_styles = build_policy(style_attributes=True)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            relaxed = any(request.path.startswith(p) for p in settings.CSP_STYLE_ATTRIBUTE_PATHS)
            response["Content-Security-Policy"] = self.relaxed_styles if relaxed else self.strict
        return response


# --- Input PostgreSQL cannot store: U+0000 and lone surrogates ----------------------------------------

_JSON_TYPES = ("application/json", "application/problem+json")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def storable(text: str) -> bool:
    """Whether PostgreSQL can keep ``text``: no U+0000 and valid UTF-8 (no lone surrogate)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _storable_json(value: Any) -> bool:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return all(storable(key) and _storable_json(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_storable_json(item) for item in value)
    return True


def _storable_querydict(data: QueryDict) -> bool:
    return all(storable(key) and all(storable(v) for v in values) for key, values in data.lists())


def unstorable_part(request: HttpRequest) -> str | None:
    """``"path"``, ``"query"`` or ``"body"`` when that part of the request holds text the database would
    refuse (PostgreSQL raises ``DataError`` on U+0000 in any text, psycopg on a lone surrogate); ``None``
    when the request is clean. JSON bodies are decoded only when they hold a ``\\u`` escape or a raw NUL."""
    if not storable(request.path):
        return "path"
    if not _storable_querydict(request.GET):
        return "query"
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    content_type = request.content_type or ""
    if content_type in _JSON_TYPES or content_type.endswith("+json"):
        body = request.body
        if b"\\u" not in body and b"\x00" not in body:
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return "body" if b"\x00" in body else None  # malformed JSON: the parser answers it
        return None if _storable_json(data) else "body"
    if content_type in _FORM_TYPES and not _storable_querydict(request.POST):
        return "body"
    return None


class RejectUnstorableInputMiddleware:
    """400 (problem+json under ``/api/`` and ``/o/``, the 400 page elsewhere) for a request whose path, query
    or body carries U+0000 or a lone surrogate, before any view can pass it to the database (issue 18: these
    were 500s). A ``DataError`` that still reaches the top (a value PostgreSQL refuses for another reason)
    leaves the same way, logged."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = unstorable_part(request)
        if where is not None:
            logger.info("refused unstorable input in the %s of %s %r", where, request.method, request.path)
            return invalid_input_response(request, where)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DataError):
            logger.warning("database refused a value: %s %r", request.method, request.path, exc_info=exception)
            return invalid_input_response(request, None)
        return None


def invalid_input_response(request: HttpRequest, where: str | None) -> HttpResponse:
    from django.shortcuts import render

    from core.api.errors import invalid_input_body, machine_client

    if machine_client(request):
        return JsonResponse(
            invalid_input_body(where),
            status=400,
            content_type="application/problem+json",
            json_dumps_params={"ensure_ascii": False},
        )
    return render(request, "400.html", status=400)
