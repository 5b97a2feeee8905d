"""``manage.py check_sealed``: open every sealed value (core.sealing) with the configured key ring.

Run after restoring a backup (scripts/restore_drill.sh does) or before removing a retired key: it prints each
model's count of sealed values and fails if any cannot be opened with REDCARD_DATA_KEYS.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from core.sealing import SealedCharField, SealError, is_sealed, unseal


class Command(BaseCommand):
    help = "Open every sealed value with REDCARD_DATA_KEYS; fail if one cannot be opened."

    def handle(self, *args: Any, **options: Any) -> None:
        opened = failed = 0
        quote = connection.ops.quote_name
        for model in apps.get_models():
            fields = [f for f in model._meta.concrete_fields if isinstance(f, SealedCharField)]
            if not fields:
                continue
            table = model._meta.db_table
            count = 0
            with connection.cursor() as cursor:  # the stored text, not the field's opened value
                cursor.execute(f"SELECT {', '.join(quote(f.column) for f in fields)} FROM {quote(table)}")  # noqa: S608
                for row in cursor.fetchall():
                    for field, stored in zip(fields, row, strict=True):
                        if not stored or not is_sealed(stored):
                            continue
                        try:
                            unseal(stored, context=f"{table}.{field.column}")
                        except SealError:
                            failed += 1
                        else:
                            count += 1
            self.stdout.write(f"{model._meta.label}: {count} sealed values open")
            opened += count
        self.stdout.write(f"sealed values: {opened} open, {failed} do not")
        if failed:
            raise CommandError(f"{failed} sealed values cannot be opened with REDCARD_DATA_KEYS")
