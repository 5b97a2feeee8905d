"""Exactly one beat: ``LockedScheduler`` sends due periodic tasks only while it holds a lock in Redis.

Run ``celery -A redcard beat`` on one machine, or on two for availability: the second waits (checking every
few seconds) and takes over within ``LOCK_SECONDS`` when the first stops. The lock is a Redis key set with
NX and an expiry, renewed by its holder on every tick (a Lua script renews only its own token). A beat that
cannot reach Redis sends nothing (it cannot know it is alone); the tasks are idempotent and catch up on the
next run.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import uuid
from typing import Any

from celery.beat import PersistentScheduler

logger = logging.getLogger(__name__)

LOCK_KEY = "redcard:beat:lock"
LOCK_SECONDS = 30
WAIT_SECONDS = 5.0

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class LockedScheduler(PersistentScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lock_token = f"{socket.gethostname()}:{uuid.uuid4().hex}"
        self._redis: Any = None
        self._held = False
        super().__init__(*args, **kwargs)

    def _client(self) -> Any:
        if self._redis is None:
            import redis

            url = self.app.conf.broker_url
            if not str(url).startswith(("redis://", "rediss://")):
                return None
            self._redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        return self._redis

    def hold_lock(self) -> bool:
        """Take the lock, or renew it if it is ours. True while this beat is the one that sends."""
        client = self._client()
        if client is None:  # no Redis broker (the embedded default): nothing to share the schedule with
            return True
        import redis

        try:
            if client.set(LOCK_KEY, self.lock_token, nx=True, px=LOCK_SECONDS * 1000):
                held = True
            else:
                held = bool(client.eval(_RENEW, 1, LOCK_KEY, self.lock_token, LOCK_SECONDS * 1000))
        except redis.RedisError as exc:
            logger.warning("beat: cannot reach Redis for the lock (%s); sending nothing", exc)
            held = False
        if held != self._held:
            logger.info("beat: %s the schedule lock", "holds" if held else "waits for")
            self._held = held
        return held

    def release_lock(self) -> None:
        client = self._client()
        if client is not None and self._held:
            import redis

            with contextlib.suppress(redis.RedisError):
                client.eval(
                    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
                    1,
                    LOCK_KEY,
                    self.lock_token,
                )
            self._held = False

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self.hold_lock():
            return WAIT_SECONDS
        return min(super().tick(*args, **kwargs), LOCK_SECONDS / 3)

    def close(self) -> None:
        self.release_lock()
        super().close()
