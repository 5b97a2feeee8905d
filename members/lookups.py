"""``field__any=[...]``: one array parameter instead of an ``IN`` list of thousands of placeholders.

The programme suspension filters batches of 1,000 ids; with ``__in`` the database driver builds
and splits a query with 1,000 placeholders per statement, which costs more than the statement
itself. On PostgreSQL this renders ``field = ANY(%s)`` with the list as one array; elsewhere
(the embedded SQLite default) a plain ``IN``.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Lookup


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        return [self.lhs.output_field.get_prep_value(value) for value in self.rhs]

    def get_db_prep_lookup(self, value: Any, connection: Any) -> Any:
        return ("%s", [value])

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if not values:
            return "1 = 0", []
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, list(self.rhs)]


for field_class in (models.BigAutoField, models.CharField):
    field_class.register_lookup(AnyOf)
