"""Per-client throttling: a partner app, a person, or an anonymous address."""

from __future__ import annotations

import functools
import time
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from core.cache import UNAVAILABLE, warn_unavailable


class ClientRateThrottle(BaseThrottle):
    """``client`` rate for partner apps and signed-in people, ``anon`` per IP otherwise.

    A fixed-window counter in the cache (one integer per client and window, incremented in place): the
    cost of a call stays the same whatever the rate, where DRF's ``SimpleRateThrottle`` reads and writes
    back the whole list of the window's request times (1,200 floats at the default partner rate). A
    client may therefore make up to ``rate`` calls in each aligned window (a burst of twice the rate
    across a window boundary at worst), as GitHub's and most API gateways' limits do.

    A throttled request gets 429 with ``Retry-After`` (problem+json ``throttled``): the seconds until
    the window ends. With Redis unreachable the throttle fails open (logged, at most every 30 s): the
    counter's confirm matters more than the budget.

    The client's address is ``REMOTE_ADDR``, or the entry ``REDCARD_TRUSTED_PROXIES`` from the end of
    ``X-Forwarded-For`` (DRF's ``NUM_PROXIES``, set from it): a spoofed header gets no fresh budget.
    """

    def __init__(self) -> None:
        self._wait: float | None = None

    @staticmethod
    def rate_of(scope: str) -> tuple[int, int] | None:
        # Read at request time (not import time) so that a settings change applies.
        from rest_framework.settings import api_settings

        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        if rate is None:
            return None
        num, duration = SimpleRateThrottle.parse_rate(None, str(rate))  # type: ignore[arg-type]
        return int(num), int(duration)  # type: ignore[arg-type]

    def allow_request(self, request: Request, view: Any) -> bool:
        token = getattr(request, "auth", None)
        application_id = getattr(token, "application_id", None)
        user = getattr(request, "user", None)
        if application_id:
            scope, ident = "client", f"app:{application_id}"
        elif user is not None and user.is_authenticated:
            scope, ident = "client", f"user:{user.pk}"
        else:
            scope, ident = "anon", "ip:" + str(self.get_ident(request))
        self._wait = self.count(scope, ident)
        return self._wait is None

    @classmethod
    def count(cls, scope: str, ident: str) -> float | None:
        """Count a call of ``ident`` against ``scope``'s rate: the seconds to wait when it is over, else None.
        (The confirm's lean path, ``core.api.lean``, counts its partner calls here too.)"""
        rate = cls.rate_of(scope)
        if rate is None:
            return None
        limit, duration = rate
        now = time.time()
        window = int(now // duration)
        if cls._count(f"throttle:{scope}:{ident}:{duration}:{window}", duration) <= limit:
            return None
        return (window + 1) * duration - now

    @staticmethod
    def _count(key: str, duration: int) -> int:
        """This window's count after this call, incremented in place."""
        client = _redis_client()
        if client is not None:  # one round trip: INCR, and the window's expiry when it opens
            pipe = client.pipeline(transaction=False)
            pipe.incr(f"redcard:{key}")
            pipe.expire(f"redcard:{key}", duration + 1, nx=True)
            try:
                return int(pipe.execute()[0])
            except UNAVAILABLE as exc:
                warn_unavailable("the API throttle", exc)
                return 0
        try:
            return int(cache.incr(key))
        except ValueError:  # no such key yet: this call opens the window
            if cache.add(key, 1, timeout=duration + 1):
                return 1
            return int(cache.incr(key))  # another process opened it first

    def wait(self) -> float | None:
        return self._wait


@functools.cache
def _redis_client() -> Any:
    """One Redis client (thread-safe, on the cache's connection pool) for the process when the cache is
    Redis; ``None`` otherwise (the cache API then). Django's ``RedisCache`` builds a new client object on
    every call, which costs more CPU than the round trip itself."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return backend._cache.get_client(write=True)  # type: ignore[attr-defined]  # noqa: SLF001 (RedisCache keeps its client private)
    return None
