"""The scanner's claim feed, cheap when nothing is new (issue 18).

Every open scanner asks every 2 s whether a member has claimed at its shop. Most answers are "nothing new",
and those are given without PostgreSQL:

- **A version per shop in Redis** (the cache): a random token replaced after the commit of every change to a
  shop's claims (created, which also cancels the member's previous one; confirmed, rejected, withdrawn).
- **A conditional request.** A full answer carries an ETag naming that version, the moment its first listed
  claim expires and the moment it was read. A poll with ``If-None-Match`` gets 304 while the version is the
  same, no listed claim has expired and the answer is younger than ``REDCARD_CLAIM_FEED_MAX_AGE`` (30 s), the
  bound on staleness should a change's version bump be lost (Redis away at that moment).
- **A signed feed token** in the ``X-Claim-Feed-Token`` header (made by the scanner page for its signed-in staff
  member, valid ``REDCARD_CLAIM_FEED_TOKEN_HOURS``) instead of the session: reading a session and its user costs
  queries. A full answer checks again that the person is staff of the shop. Never in the URL: request lines
  are written to access logs (gunicorn's, the proxy's, the load balancer's), where a day-long credential
  must not be.

Redis away: no version can be read, every poll reads PostgreSQL (fails open), and no 304 is given.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction

_SALT = "redemptions.claim-feed"
#: The request header that carries the feed token (never the URL: request lines go to access logs).
TOKEN_HEADER = "X-Claim-Feed-Token"  # noqa: S105 (a header's name, not a secret)


def _key(merchant: Any) -> str:
    return f"redemptions:claim-feed:{merchant}"


def feed_version(*, merchant: Any) -> str | None:
    """The shop's (public id's) feed version, or None when Redis cannot be read (then nothing is answered 304)."""
    key = _key(merchant)
    version = cache.get(key)
    if version is None:  # never set (or evicted, or Redis restarted): a fresh one invalidates every ETag
        cache.add(key, secrets.token_hex(6), timeout=None)
        version = cache.get(key)
    return version


def feed_changed(*, merchant: Any) -> None:
    """A change to the claims of the shop (public id): a new version once the transaction commits (at once
    outside one)."""

    def bump() -> None:
        cache.set(_key(merchant), secrets.token_hex(6), timeout=None)

    transaction.on_commit(bump)


# --- Tokens -------------------------------------------------------------------------------------------------


def feed_token(*, merchant_public_id: Any, staff_id: int) -> str:
    return signing.dumps([str(merchant_public_id), staff_id], salt=_SALT, compress=False)


def feed_token_of(headers: Any) -> tuple[str, int] | None:
    """``(merchant public id, staff user id)`` of the valid feed token in a request's ``headers``; None otherwise."""
    return feed_token_read(str(headers.get(TOKEN_HEADER, "")))


def feed_token_read(token: str) -> tuple[str, int] | None:
    """``(merchant public id, staff user id)`` of a valid, unexpired token; None otherwise."""
    try:
        merchant, staff = signing.loads(token, salt=_SALT, max_age=settings.REDCARD_CLAIM_FEED_TOKEN_HOURS * 3600)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(merchant, str) or not isinstance(staff, int):
        return None
    return merchant, staff


# --- ETags --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedTag:
    version: str
    until: int  # epoch seconds when the first listed claim expires (0: none listed)
    read_at: int  # epoch seconds of the database read

    def header(self) -> str:
        return f'"{self.version}.{self.until}.{self.read_at}"'

    @classmethod
    def parse(cls, header: str) -> FeedTag | None:
        value = header.strip()
        if value.startswith("W/"):
            value = value[2:]
        parts = value.strip('"').split(".")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            return None
        return cls(version=parts[0], until=int(parts[1]), read_at=int(parts[2]))

    def still_current(self, *, version: str | None, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return (
            version is not None
            and self.version == version
            and (self.until == 0 or now < self.until)
            and now < self.read_at + settings.REDCARD_CLAIM_FEED_MAX_AGE
        )


def tag_for(*, version: str, expiries: list[datetime], now: float | None = None) -> FeedTag:
    until = int(min(expiries).timestamp()) if expiries else 0
    return FeedTag(version=version, until=until, read_at=int(time.time() if now is None else now))
