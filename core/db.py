"""Database helpers shared by every app."""

from __future__ import annotations

from django.db import IntegrityError


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
