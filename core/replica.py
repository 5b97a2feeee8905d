"""Reads for the dashboards and the operations overview from the PostgreSQL replica (``DATABASE_REPLICA_URL``).

The replica serves only the reads that are wrapped in :func:`replica_reads`: the merchant dashboard (its page,
CSV and the insights API) and the operations overview (console page, JSON, API). Everything else, and every
write anywhere, goes to the primary. Why a router limited to a scope rather than ``.using()`` at each query:
those pages read through the selectors of four apps (members, merchants, redemptions, curation) and raw SQL;
threading an alias through every one of them changes a dozen signatures, and one forgotten query silently reads
the primary (or mixes the two). Inside the scope every ORM read is routed by :class:`ReplicaRouter`, and raw SQL
takes its connection from :func:`read_connection`.

The scope falls back to the primary when
- no replica is configured (``REDCARD_READ_REPLICA`` empty: the embedded default, a single database);
- the caller is inside a transaction on the primary: it may have written there, and a replica that has not
  replayed the write yet would not show it (a page never reads its own write from the replica);
- the replica cannot be reached (stopped, restarting, failed over): the page is served from the primary and a
  warning logged, the replica being an offload and not a dependency.

Replication lag: a streaming replica is usually milliseconds behind, seconds under heavy writes. The pages
that read it show figures of days (totals, series, k-anonymous audiences) and say when they were read; none of
them follows a write of the person looking (no form of the dashboard or the overview writes).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

_alias: ContextVar[str | None] = ContextVar("redcard_read_alias", default=None)


def replica_alias() -> str | None:
    """The configured replica's database alias, or None when reads stay on the primary."""
    alias = getattr(settings, "REDCARD_READ_REPLICA", "")
    return alias if alias and alias in connections.settings else None


def _replica_usable(alias: str) -> bool:
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return False  # the caller may have written in this transaction: read it where it was written
    replica = connections[alias]
    try:
        replica.close_if_health_check_failed()  # a kept connection to a replica that went away: closed here
        replica.ensure_connection()
    except DatabaseError as exc:
        logger.warning("the replica database (%s) is unreachable, reading the primary: %s", alias, exc)
        return False
    return True


@contextmanager
def replica_reads() -> Iterator[str]:
    """Reads inside this block go to the replica when one is configured and usable; yields the alias read."""
    alias = replica_alias()
    chosen = alias if alias is not None and _replica_usable(alias) else DEFAULT_DB_ALIAS
    token = _alias.set(chosen)
    try:
        yield chosen
    finally:
        _alias.reset(token)


def read_alias() -> str:
    """Where reads go now: the replica inside :func:`replica_reads` (when usable), else the primary."""
    return _alias.get() or DEFAULT_DB_ALIAS


def read_connection() -> BaseDatabaseWrapper:
    """The connection for raw SQL of a read that may be served by the replica."""
    return connections[read_alias()]


class ReplicaRouter:
    """Routes reads inside :func:`replica_reads` to the replica; writes always to the primary (an object read
    from the replica and saved goes to the primary); the replica is never migrated (it replays the primary)."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return _alias.get()

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # the same data on both

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        return False if db == getattr(settings, "REDCARD_READ_REPLICA", "") else None
