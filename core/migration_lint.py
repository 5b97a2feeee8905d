"""Migrations safe on live tables: a check over the SQL each migration runs (``manage.py lint_migrations``, in the
gate).

A migration of RedCard's apps may not, on a table that existed before it (statements on a table the same
migration creates are fine):

- build an index without ``CONCURRENTLY`` (writes to the table wait until the index is built): use
  :class:`AddIndexConcurrently` in a migration with ``atomic = False``;
- add a ``NOT NULL`` column whose default is not a constant to one of the :data:`BIG_TABLES` (those that grow
  with every visit, payment or request): every row is rewritten under an exclusive lock. PostgreSQL 11+ keeps
  a constant default in the catalogue (no rewrite), and Django writes a field's default as a constant, so
  ``BooleanField(default=False)`` passes; a database default expression (``db_default=Now()``) does not: add
  it nullable, backfill in batches, then constrain;
- change a column's type (a table rewrite) or ``SET NOT NULL`` (a full scan under an exclusive lock);
- add a foreign key or check constraint without ``NOT VALID``, or a unique constraint (it validates or builds
  an index under an exclusive lock);
- ``UPDATE``/``DELETE`` rows in one transaction (a backfill holds its row locks to the end): batch it in a
  non-atomic migration (:func:`backfill_in_batches`).

Migrations applied before this check are listed in :data:`ALLOWED` with the reason ("history": every database
has run them; editing them now would change nothing). A new exception needs its own line and reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, RemoveIndex

#: The apps whose migrations are checked (Django's and third-party apps' are theirs).
APPS = ("core", "members", "merchants", "redemptions", "curation")

#: Tables that grow with use (visits, claims, payments, requests, audit): a NOT NULL column is refused on them.
#: Console history tables (simple-history's ``*_historical*``) grow with console edits only: not listed.
BIG_TABLES = re.compile(
    r"^(core_(user|auditentry|idempotencyrecord|notification|webhookdelivery|webhookevent)"
    r"|members_(subscription|subscriptionperiod|payment|paymentnotification|refund|eventregistration)"
    r"|merchants_merchantday|curation_(complaint|complaintmessage)"
    r"|redemptions_(redemption|redemptionoutbox|refusedscan|claim|memberday|touch|attributioncredit))$"
)

_HISTORY = "history: applied everywhere before the migration check (issue 18); editing it changes nothing"
#: (app, migration name) -> why it may do what the rules refuse.
ALLOWED: dict[tuple[str, str], str] = {
    ("core", "0005_webhook_secret_rotation"): _HISTORY,
    ("members", "0004_payment_plan"): _HISTORY,
    ("members", "0005_refund_ledger"): _HISTORY,
    ("members", "0008_event_refund_ledger"): _HISTORY,
    ("members", "0009_checkout_url_signed_request"): _HISTORY,
    ("merchants", "0004_merchantday_dashboard_rollup"): _HISTORY,
    ("redemptions", "0003_credit_leaderboard_index"): _HISTORY,
    ("redemptions", "0004_dashboard_covering_index"): _HISTORY,
    ("redemptions", "0006_seal_nfc_tag_keys"): _HISTORY,
    ("redemptions", "0009_code_used_once_constraint"): _HISTORY,
}


@dataclass(frozen=True)
class Finding:
    app: str
    migration: str
    rule: str
    statement: str

    def __str__(self) -> str:
        return f"{self.app}.{self.migration}: {self.rule}\n    {self.statement[:300]}"


_TABLE = r'"?(?P<table>[a-z0-9_]+)"?'
_CREATED = re.compile(r"^CREATE TABLE " + _TABLE, re.IGNORECASE)
_CONSTANT_DEFAULT = re.compile(
    r"\bDEFAULT (-?\d+(\.\d+)?|'(?:[^']|'')*'(::[a-z ]+)?|true|false) (NOT )?NULL\b", re.IGNORECASE
)
_RULES: list[tuple[str, re.Pattern[str], Callable[[str], bool]]] = [
    (
        "index built without CONCURRENTLY (writes wait while it builds): AddIndexConcurrently, atomic = False",
        re.compile(r"^CREATE (UNIQUE )?INDEX (?!CONCURRENTLY)\S+ ON " + _TABLE, re.IGNORECASE),
        lambda sql: True,
    ),
    (
        "NOT NULL column without a constant default added to a big table: add it nullable, backfill in batches",
        re.compile(r"^ALTER TABLE " + _TABLE + r" ADD COLUMN .* NOT NULL", re.IGNORECASE),
        lambda sql: bool(BIG_TABLES.match(sql.split()[2].strip('"').lower())) and not _CONSTANT_DEFAULT.search(sql),
    ),
    (
        "column type changed (the table is rewritten under an exclusive lock)",
        re.compile(r"^ALTER TABLE " + _TABLE + r" ALTER COLUMN \S+ TYPE ", re.IGNORECASE),
        lambda sql: True,
    ),
    (
        "SET NOT NULL scans the table under an exclusive lock: add a CHECK (...) NOT VALID, validate, then set",
        re.compile(r"^ALTER TABLE " + _TABLE + r" ALTER COLUMN \S+ SET NOT NULL", re.IGNORECASE),
        lambda sql: True,
    ),
    (
        "constraint validated under an exclusive lock: add it NOT VALID, then VALIDATE CONSTRAINT",
        re.compile(r"^ALTER TABLE " + _TABLE + r" ADD CONSTRAINT \S+ (CHECK|FOREIGN KEY)", re.IGNORECASE),
        lambda sql: "NOT VALID" not in sql.upper(),
    ),
    (
        "unique constraint builds its index under an exclusive lock: a unique index CONCURRENTLY first",
        re.compile(r"^ALTER TABLE " + _TABLE + r" ADD CONSTRAINT \S+ UNIQUE", re.IGNORECASE),
        lambda sql: True,
    ),
]
_WRITE = re.compile(r"^(UPDATE|DELETE FROM) " + _TABLE, re.IGNORECASE)


def _statements(sql: list[str]) -> Iterator[str]:
    for chunk in sql:
        for statement in chunk.split(";\n"):
            text = " ".join(line for line in statement.splitlines() if not line.strip().startswith("--")).strip()
            if text:
                yield text


def lint_statements(*, app: str, migration: str, sql: list[str], atomic: bool) -> list[Finding]:
    """What the rules refuse in one migration's SQL."""
    statements = list(_statements(sql))
    created = {m.group("table").lower() for s in statements if (m := _CREATED.match(s))}
    findings = []
    for statement in statements:
        for rule, pattern, applies in _RULES:
            found = pattern.match(statement)
            if found and found.group("table").lower() not in created and applies(statement):
                findings.append(Finding(app, migration, rule, statement))
        write = _WRITE.match(statement)
        if write and atomic and write.group("table").lower() not in created:
            findings.append(
                Finding(
                    app, migration, "rows written in one transaction: backfill in batches, atomic = False", statement
                )
            )
    return findings


def lint_project(connection: Any, *, allowed: dict[tuple[str, str], str] | None = None) -> list[Finding]:
    """Every migration of :data:`APPS` not in ``allowed`` (:data:`ALLOWED`), with the SQL it runs on ``connection``
    (the others only advance the project state, in Python)."""
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.state import ProjectState

    allowed = ALLOWED if allowed is None else allowed
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes(), clean_start=True)
    state = ProjectState(real_apps=executor.loader.unmigrated_apps)
    findings: list[Finding] = []
    for migration, _ in plan:
        key = (migration.app_label, migration.name)
        if migration.app_label not in APPS or key in allowed:
            state = migration.mutate_state(state, preserve=False)
            continue
        with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
            state = migration.apply(state, editor, collect_sql=True)
        findings += lint_statements(
            app=key[0], migration=key[1], sql=editor.collected_sql, atomic=bool(migration.atomic)
        )
    return findings


# --- Operations for safe migrations ---------------------------------------------------------------------------


class _ConcurrentlyOnPostgres:
    """The concurrent operation on PostgreSQL; the plain one elsewhere (the embedded default's SQLite)."""

    concurrent: Any
    plain: Any

    def _owner(self, schema_editor: Any) -> Any:
        return self.concurrent if schema_editor.connection.vendor == "postgresql" else self.plain

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._owner(schema_editor).database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._owner(schema_editor).database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexConcurrentlyOnPostgres(_ConcurrentlyOnPostgres, AddIndexConcurrently):
    """``CREATE INDEX CONCURRENTLY`` on PostgreSQL; a plain index elsewhere."""

    concurrent, plain = AddIndexConcurrently, AddIndex


class RemoveIndexConcurrentlyOnPostgres(_ConcurrentlyOnPostgres, RemoveIndexConcurrently):
    """``DROP INDEX CONCURRENTLY`` on PostgreSQL; a plain drop elsewhere."""

    concurrent, plain = RemoveIndexConcurrently, RemoveIndex


def backfill_in_batches(schema_editor: Any, *, table: str, sql: str, batch: int = 5000) -> int:
    """Run ``sql`` (an UPDATE with ``%(lo)s`` / ``%(hi)s`` bounds on ``table``'s id) over id ranges of ``batch``
    rows, each committed on its own (call it from a migration with ``atomic = False``): no lock is held longer
    than one batch. Returns the rows written."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN(id), MAX(id) FROM {connection.ops.quote_name(table)}")  # noqa: S608 (a table name)
        low, high = cursor.fetchone()
    written = 0
    if low is None:
        return 0
    for start in range(low, high + 1, batch):
        with connection.cursor() as cursor:
            cursor.execute(sql, {"lo": start, "hi": start + batch})
            written += max(cursor.rowcount, 0)
    return written
