"""A Redis cache that fails open: when Redis cannot be reached, reads miss and writes are dropped (logged),
so a request that only uses the cache for speed or for a rate limit goes on (issue 18: with Redis down every
API call was a 500, the counter's confirm included).

What fails open: cached values (recomputed), allauth's login limits and the API throttle (not enforced while
Redis is away). What does not: nothing in RedCard keeps data of record in the cache.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("redcard.redis")

#: Errors that mean "Redis is not there right now" (a refused or dropped connection, a timeout).
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)

T = TypeVar("T")

_last_warning: dict[str, float] = {}
_warning_lock = threading.Lock()
WARN_EVERY_SECONDS = 30.0


def warn_unavailable(what: str, exc: BaseException) -> None:
    """Log that Redis is unavailable for ``what`` at most once per ``WARN_EVERY_SECONDS`` per process, so an
    outage under load leaves a readable log instead of one line per request."""
    now = time.monotonic()
    with _warning_lock:
        if now - _last_warning.get(what, -WARN_EVERY_SECONDS) < WARN_EVERY_SECONDS:
            return
        _last_warning[what] = now
    logger.warning("redis unavailable, %s fails open: %s: %s", what, exc.__class__.__name__, exc)


def fail_open(what: str, fn: Callable[[], T], fallback: T) -> T:
    try:
        return fn()
    except UNAVAILABLE as exc:
        warn_unavailable(what, exc)
        return fallback


class FailOpenRedisCacheClient(RedisCacheClient):
    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        """One ``redis.Redis`` per connection pool, kept: Django makes a new one on every cache call, and
        building its table of response callbacks was a twentieth of a confirm's CPU (bench/redemption). A
        client only borrows connections from its pool, and Django gives each thread its own cache object."""
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        clients = self.__dict__.setdefault("_kept_clients", {})
        client = clients.get(id(pool))
        if client is None:
            client = clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client

    def add(self, key: Any, value: Any, timeout: Any) -> bool:
        return fail_open("cache", lambda: super(FailOpenRedisCacheClient, self).add(key, value, timeout), False)

    def get(self, key: Any, default: Any) -> Any:
        return fail_open("cache", lambda: super(FailOpenRedisCacheClient, self).get(key, default), default)

    def set(self, key: Any, value: Any, timeout: Any) -> None:
        fail_open("cache", lambda: super(FailOpenRedisCacheClient, self).set(key, value, timeout), None)

    def touch(self, key: Any, timeout: Any) -> bool:
        return fail_open("cache", lambda: super(FailOpenRedisCacheClient, self).touch(key, timeout), False)

    def delete(self, key: Any) -> bool:
        return fail_open("cache", lambda: super(FailOpenRedisCacheClient, self).delete(key), False)

    def get_many(self, keys: Any) -> dict[Any, Any]:
        return fail_open("cache", lambda: super(FailOpenRedisCacheClient, self).get_many(keys), {})

    def has_key(self, key: Any) -> bool:
        return fail_open("cache", lambda: super(FailOpenRedisCacheClient, self).has_key(key), False)

    def incr(self, key: Any, delta: int) -> Any:
        # A missing key raises ValueError (as with any cache); an unreachable Redis counts from zero.
        return fail_open("cache", lambda: super(FailOpenRedisCacheClient, self).incr(key, delta), delta)

    def set_many(self, data: Any, timeout: Any) -> None:
        fail_open("cache", lambda: super(FailOpenRedisCacheClient, self).set_many(data, timeout), None)

    def delete_many(self, keys: Any) -> None:
        fail_open("cache", lambda: super(FailOpenRedisCacheClient, self).delete_many(keys), None)

    def clear(self) -> bool:
        return fail_open("cache", lambda: super(FailOpenRedisCacheClient, self).clear(), False)


class FailOpenRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` whose operations fail open (see the module)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = FailOpenRedisCacheClient
