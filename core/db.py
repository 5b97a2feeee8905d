"""Database helpers shared by every app."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError
from django.db.models import Aggregate, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint ``exc`` violated, as PostgreSQL reports it (psycopg's
    ``diag.constraint_name`` on the driver's error, which Django chains as ``__cause__``); None where the
    database names none (SQLite, the embedded default). Match on this name, never on the message."""
    diag = getattr(exc.__cause__, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return str(name) if name else None


def violates(exc: IntegrityError, name: str) -> bool:
    """Whether ``exc`` is a violation of the constraint ``name``: by the name the database reports
    (PostgreSQL); where it reports none, by the message (SQLite writes an index's name into it)."""
    named = violated_constraint(exc)
    if named is not None:
        return named == name
    return name in str(exc)


def per_row(queryset: QuerySet[Any], *, key: str, value: Aggregate, outer: str = "pk") -> Coalesce:
    """A correlated subquery for an annotation: ``value`` aggregated over the rows of ``queryset`` whose ``key``
    is the outer row's ``outer`` field, 0 when there are none. Lets a page read counts from several tables
    (each through its own app's selector) in the one query of the outer rows."""
    inner = queryset.filter(**{key: OuterRef(outer)}).order_by().values(key).annotate(v=value).values("v")[:1]
    return Coalesce(Subquery(inner), Value(0), output_field=IntegerField())
