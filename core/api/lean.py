"""A lean path beside DRF for one hot endpoint: a partner's bearer-token POST of JSON, answered without DRF's
request wrapping, negotiation, parsers and authentication classes, with exactly DRF's outcome.

The counter's confirm is the one request a shop makes per customer (issue 17: at most 8 ms of app-server CPU
per redemption). Measured in one run (bench/redemption), DRF's part of a request costs about 0.9 ms before
the view runs: an eighth of a confirm. ``lean_view`` serves the common request, a partner POS with its
token, in a plain Django view; **everything else goes to the DRF view unchanged**: a session (the staff
scanner), a missing or bad token, a token without the scope, an ``Idempotency-Key`` (stored by DRF's
``IdempotentMixin``), another content type or ``Accept``, a body the lean parser does not take. Nothing is
written before the lean path decides, so handing over costs one token read at most.

What the lean path keeps, and how:

- **Authentication**: the token read of ``core.oauth.PartnerValidator`` (one statement, token joined to its
  application) and DOT's checks (expiry, the application usable, no resource restriction), client
  credentials only (a person's token goes to DRF, which sets ``request.user``);
- **the scope**: the view's own scope permission (``scoped``'s ``required_scopes``);
- **the throttle**: ``ClientRateThrottle``'s count, once, after the body is taken (so a request handed over
  to DRF is never counted twice); a throttled request gets DRF's 429;
- **errors**: every exception of the handler goes through the API's ``EXCEPTION_HANDLER``
  (``core.api.errors.problem_exception_handler``): the same problem+json, status and headers as in DRF;
- **the answer**: DRF's ``JSONRenderer`` bytes, with the ``Allow`` header DRF sets.

drf-spectacular and the URL checks see the DRF view: the wrapper carries its ``cls`` and ``initkwargs``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.http import parse_header_parameters
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.oauth import PartnerValidator

from .errors import problem_exception_handler
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .throttling import ClientRateThrottle

#: What the lean path answers with; the ``Accept`` values it serves (others go to DRF's negotiation).
RENDERER = JSONRenderer()
ACCEPTED = frozenset({"", "*/*", "application/json"})

#: ``take(body)``: the handler's arguments from the JSON body, or None when DRF's serializer would not take it
#: as it is (DRF then answers); pure, before anything is counted or written.
Take = Callable[[dict[str, Any]], "dict[str, Any] | None"]
#: ``serve(request, token, arguments)``: the answer's (status, data); raises as the DRF view would.
Serve = Callable[[HttpRequest, Any, dict[str, Any]], tuple[int, Any]]


def partner_token(request: HttpRequest, scopes: tuple[str, ...]) -> Any | None:
    """The partner application's access token of a ``Bearer`` request, when DOT would accept it for a client
    (not a person) and it carries ``scopes``; otherwise None (DRF then answers, with its 401 or 403)."""
    kind, _, raw = request.headers.get("Authorization", "").partition(" ")
    if kind != "Bearer" or not raw or " " in raw:
        return None
    token = PartnerValidator()._load_access_token(raw)  # noqa: SLF001 (DOT's own lookup, one statement)
    if token is None or token.user_id is not None or token.application is None or token.resource:
        return None
    if not token.is_valid(list(scopes)) or not token.application.is_usable(request):
        return None
    return token


def throttled(token: Any) -> float | None:
    """Count the request against the partner's ``client`` rate, as ``ClientRateThrottle`` does: the seconds to
    wait when it is over, None when it may go on."""
    return ClientRateThrottle.count("client", f"app:{token.application_id}")


def json_object(request: HttpRequest) -> dict[str, Any] | None:
    """The JSON object of a request that DRF's JSONParser would take (``application/json``, UTF-8, said or not),
    or None (another type or charset, a body that is not JSON or not an object: DRF says what is wrong)."""
    media, params = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
    if media.lower() != "application/json" or params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        return None
    try:
        body = json.loads(request.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _finish(response: HttpResponse, methods: str) -> HttpResponse:
    response["Allow"] = methods  # what DRF's view sets (no Vary: Accept: the API has one renderer)
    return response


def _problem(exc: Exception, methods: str) -> HttpResponse:
    """An exception as DRF's view would have answered it (the API's exception handler, rendered)."""
    answer: Response = problem_exception_handler(exc, {})
    answer.accepted_renderer = RENDERER
    answer.accepted_media_type = RENDERER.media_type
    answer.renderer_context = {}  # type: ignore[attr-defined]  # set by DRF's finalize_response, read by render()
    answer.render()
    return _finish(answer, methods)


def lean_view(drf_view: Callable[..., HttpResponse], *, take: Take, serve: Serve, scopes: tuple[str, ...]) -> Any:
    """``drf_view`` (``SomeAPIView.as_view()``) with ``take`` and ``serve`` answering a partner's JSON POST in
    front of it."""
    view_class = drf_view.cls  # type: ignore[attr-defined]
    methods = ", ".join(view_class().allowed_methods)

    @functools.wraps(drf_view)
    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if (
            request.method != "POST"
            or IDEMPOTENCY_HEADER in request.META
            or request.META.get("HTTP_ACCEPT", "") not in ACCEPTED
            or (body := json_object(request)) is None
            or (arguments := take(body)) is None
            or (token := partner_token(request, scopes)) is None
        ):
            return drf_view(request, *args, **kwargs)
        try:
            wait = throttled(token)
            if wait is not None:
                raise exceptions.Throttled(wait)
            status, data = serve(request, token, arguments)
        except Exception as exc:  # every error as DRF's handler answers it (problem+json)
            return _problem(exc, methods)
        return _finish(HttpResponse(RENDERER.render(data), status=status, content_type="application/json"), methods)

    view.csrf_exempt = True  # type: ignore[attr-defined]  # as DRF's APIView.as_view (a bearer token, no cookie)
    return view
