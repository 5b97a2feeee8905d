"""Create the demo data of every app. Idempotent: running it twice changes nothing."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import import_string


class Command(BaseCommand):
    help = "Seed demo data (cities, merchants, members, logins) and print the demo logins."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quiet", action="store_true", help="Do not print the logins.")

    def handle(self, *args: Any, **options: Any) -> None:
        logins: list[tuple[str, str, str]] = []
        for path in settings.DEMO_SEEDERS:
            seed = import_string(f"{path}.seed")
            with transaction.atomic():
                seed(logins)
        if options["quiet"]:
            return
        self.stdout.write(self.style.SUCCESS("Demo logins (password in the last column):"))
        width = max((len(role) for role, _, _ in logins), default=10)
        for role, email, password in logins:
            self.stdout.write(f"  {role:<{width}}  {email:<36}  {password}")
