"""A transaction-scoped named lock, for writers that must not interleave but have no row to lock yet
(two members asking for the same new shop at once: neither row exists when both look for it)."""

from __future__ import annotations

import hashlib

from django.db import connection


def named_lock(name: str) -> None:
    """Hold the lock ``name`` until the current transaction ends (PostgreSQL ``pg_advisory_xact_lock``).

    Call inside ``transaction.atomic()``. SQLite (the embedded default) serialises writing transactions
    already, so there is nothing to take there."""
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
