"""Several writes in one round trip: each app hands over the SQL of its own tables, the caller runs them together.

The counter's confirm writes six rows (the redemption, two day counters, the savings meter, the audit entry,
the outbox row); six statements were most of its database time and of its Python (issue 17: at most eight
statements per confirm request). A ``Write`` is one data-modifying statement with a ``RETURNING`` column,
written by the app that owns the table (``merchants.services.capacity_take_write``,
``members.services.subscription_savings_write``, ``core.services.audit_write``...); ``writes_run`` runs
them:

- on PostgreSQL as one ``WITH`` statement of data-modifying common table expressions, whose result is the
  first returned value of each (``None`` when it returned no row: a guarded upsert that refused);
- elsewhere (the embedded SQLite default) one after another, with the same result.

A write may use an earlier write's returned value (an id) as ``{name}`` in its SQL: on PostgreSQL a scalar
subquery of that expression, elsewhere the integer itself. All writes run, whatever the others return (a
caller that refuses on a ``None`` raises inside its transaction, which undoes them all).

``insert_write`` turns an unsaved model instance into its ``INSERT`` through each field's own preparation
(defaults, ``auto_now_add``, JSON, UUIDs), so the row is what ``Model.objects.create`` would have written.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models


@dataclass(frozen=True)
class Write:
    """One data-modifying statement (``INSERT``/``UPDATE`` ... ``RETURNING returning``)."""

    sql: str
    params: Sequence[Any] = field(default_factory=list)
    returning: str = "id"


def hot_cursor() -> Any:
    """A cursor for a statement the counter runs on every confirm: on PostgreSQL its statements are bound on the
    server and **prepared** (parsed and planned once per connection, then only executed); elsewhere, and where
    the connection may not prepare (``DATABASE_PREPARED_STATEMENTS`` off), the ordinary cursor.

    Django binds parameters on the client and leaves psycopg's automatic preparation off (for PgBouncer in
    transaction mode), so PostgreSQL parses and plans every statement afresh: about 0.75 ms of its CPU for the
    five statements of a confirm, a quarter of its share (bench/redemption). Only statements written out once
    per process (``core.oauth``, ``merchant_with_access``, ``redeem_terms_lock``, ``entitled_member``,
    ``writes_run``) use it: their text does not change between calls, so each is prepared once. The cursor is
    Django's wrapper (query logging, ``django_assert_num_queries``, database errors translated) around
    psycopg's server-binding cursor. Behind a pooler in transaction mode without prepared-statement support
    (PgBouncer before 1.21), set ``DATABASE_PREPARED_STATEMENTS=false``."""
    conn = connections[DEFAULT_DB_ALIAS]
    # Prepared where the connection may prepare: settings.prepared_statements gives it a threshold (Django: None).
    if conn.vendor != "postgresql" or conn.settings_dict.get("OPTIONS", {}).get("prepare_threshold") is None:
        return conn.cursor()
    # What BaseDatabaseWrapper._cursor() does, with our cursor class: the health check first (a connection that
    # died with a database restart is replaced, not used), then the connection, then Django's wrapping.
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    with conn.wrap_database_errors:
        return conn._prepare_cursor(_preparing_cursor_class()(conn.connection))  # type: ignore[attr-defined]  # noqa: SLF001


@functools.cache
def _preparing_cursor_class() -> type:
    from django.db.backends.postgresql import base

    class PreparingCursor(base.ServerBindingCursor):  # type: ignore[name-defined]  # defined under psycopg 3
        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: Any = None) -> Any:
            result = super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)
            if self._query is None:  # type: ignore[has-type]  # run by name: psycopg records no query; Django's log reads it
                self._query = _Executed(query.encode() if isinstance(query, str) else bytes(query))
            return result

    return PreparingCursor


class _Executed:
    """What Django's query log reads of a psycopg cursor after a statement (``cursor._query.query``), for a
    prepared statement run by name (the SQL as written, its parameters as ``%s``)."""

    __slots__ = ("query",)

    def __init__(self, query: bytes) -> None:
        self.query = query


def writes_run(writes: Mapping[str, Write]) -> dict[str, Any]:
    """Run ``writes`` in order (one statement on PostgreSQL); the first returned value of each, by name."""
    names = list(writes)
    if connection.vendor == "postgresql":
        sql, params = writes_statement(writes)
        with hot_cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return dict(zip(names, row, strict=True))
    found: dict[str, Any] = {}
    with connection.cursor() as cursor:
        for name in names:
            write = writes[name]
            values = {earlier: "NULL" if value is None else str(int(value)) for earlier, value in found.items()}
            cursor.execute(write.sql.format(**values), list(write.params))
            result = cursor.fetchone()
            found[name] = result[0] if result else None
    return found


def writes_statement(writes: Mapping[str, Write]) -> tuple[str, list[Any]]:
    """The one PostgreSQL statement of ``writes`` (``WITH`` each ``AS (...)`` ``SELECT`` their values)."""
    refs = {name: f"(SELECT {write.returning} FROM {name} LIMIT 1)" for name, write in writes.items()}  # noqa: S608 (names of our writes)
    parts: list[str] = []
    params: list[Any] = []
    for name, write in writes.items():
        parts.append(f"{name} AS ({write.sql.format(**refs)})")
        params.extend(write.params)
    return f"WITH {', '.join(parts)} SELECT {', '.join(refs.values())}", params


def insert_write(instance: models.Model, *, returning: str = "id", raw: Mapping[str, str] | None = None) -> Write:
    """The ``INSERT`` of unsaved ``instance`` (every concrete column but an auto primary key). ``raw`` gives
    SQL for some columns (by attname) instead of their values, e.g. ``{"redemption_id": "{r}"}``."""
    raw = raw or {}
    fields = _insert_fields(type(instance))
    conn = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: each field asks it for its operations
    params = [f.get_db_prep_save(f.pre_save(instance, True), conn) for f in fields if f.attname not in raw]
    return Write(_insert_sql(type(instance), tuple(sorted(raw.items())), returning), params, returning)


def select_columns(model: type[models.Model], alias: str) -> str:
    """Every concrete column of ``model`` under table alias ``alias``, in field order (``instance``'s order)."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


def instance(model: type[models.Model], values: Sequence[Any]) -> Any:
    """A model instance from a row of its concrete columns (``select_columns``), through the backend's and each
    field's database converters, as the ORM's compiler applies them (on SQLite a UUID comes as text and a
    datetime without its zone until converted; JSON, encrypted or custom fields everywhere)."""
    conn = connections[DEFAULT_DB_ALIAS]
    attnames, converters = _row_converters(model, conn)
    if converters:
        values = list(values)
        for index, column, functions in converters:
            value = values[index]
            for converter in functions:
                value = converter(value, column, conn)
            values[index] = value
    return model.from_db(conn.alias, attnames, values)


@functools.lru_cache(maxsize=512)
def _row_converters(model: type[models.Model], conn: Any) -> tuple[list[str], list[tuple[int, Any, tuple]]]:
    """The attnames of ``model``'s concrete fields, and the converters of those that have any on ``conn``
    (per connection object: a backend's converters may depend on its settings); most fields have none on
    PostgreSQL, so a row is made with no per-field work (``instance`` on the counter's hot path)."""
    fields: Sequence[Any] = model._meta.concrete_fields
    converters = []
    for index, field_ in enumerate(fields):
        column = field_.cached_col
        functions = (*conn.ops.get_db_converters(column), *field_.get_db_converters(conn))
        if functions:
            converters.append((index, column, functions))
    return [f.attname for f in fields], converters


def inserted(instance: models.Model, pk: Any) -> None:
    """Mark ``instance``, written by ``insert_write``, as saved with primary key ``pk`` (as ``save()`` would)."""
    instance.pk = pk
    instance._state.adding = False  # noqa: SLF001 (Django's ModelState, as Model.save_base sets it)
    instance._state.db = connection.alias  # noqa: SLF001


@functools.cache
def _insert_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    pk = model._meta.pk
    auto = isinstance(pk, models.AutoField | models.BigAutoField | models.SmallAutoField)
    return tuple(f for f in model._meta.local_concrete_fields if not (auto and f is pk))


@functools.cache
def _insert_sql(model: type[models.Model], raw: tuple[tuple[str, str], ...], returning: str) -> str:
    quote = connection.ops.quote_name
    expressions = dict(raw)
    fields = _insert_fields(model)
    columns = ", ".join(quote(f.column) for f in fields)
    values = ", ".join(expressions.get(f.attname, "%s") for f in fields)
    # Braces in raw SQL are writes_run's references; nothing else in an INSERT has any.
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({values}) RETURNING {returning}"  # noqa: S608
