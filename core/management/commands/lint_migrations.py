"""``manage.py lint_migrations``: refuse migrations unsafe on live tables (core.migration_lint)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from core.migration_lint import lint_project


class Command(BaseCommand):
    help = "Check that migrations are safe on live tables (indexes concurrently, backfills in batches, no rewrites)."

    def handle(self, *args: Any, **options: Any) -> None:
        findings = lint_project(connection)
        for finding in findings:
            self.stderr.write(str(finding))
        if findings:
            raise CommandError(f"{len(findings)} unsafe statement(s) in migrations (see core/migration_lint.py)")
        self.stdout.write("migrations are safe on live tables")
