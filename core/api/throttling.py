"""Per-client throttling: a partner app, a person, or an anonymous address."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class ClientRateThrottle(SimpleRateThrottle):
    """``client`` rate for partner apps and signed-in people, ``anon`` per IP otherwise.

    A throttled request gets 429 with ``Retry-After`` (problem+json ``throttled``).
    """

    scope = "client"

    def get_rate(self) -> str | None:
        # Read at request time (not import time) so that a settings change applies.
        from rest_framework.settings import api_settings

        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return str(rate) if rate is not None else None

    def allow_request(self, request: Request, view: Any) -> bool:
        token = getattr(request, "auth", None)
        user = getattr(request, "user", None)
        authenticated = bool(getattr(token, "application_id", None)) or bool(user and user.is_authenticated)
        self.scope = "client" if authenticated else "anon"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token = getattr(request, "auth", None)
        application_id = getattr(token, "application_id", None)
        if application_id:
            ident = f"app:{application_id}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = "ip:" + str(self.get_ident(request))
        return f"throttle:{self.scope}:{ident}"
