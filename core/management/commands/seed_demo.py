"""Create the demo data of every app. Idempotent: running it twice changes nothing."""

from __future__ import annotations

import unicodedata
from importlib import import_module
from importlib.util import find_spec
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings


def display_width(text: str) -> int:
    """Terminal columns: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


class Command(BaseCommand):
    help = "Seed demo data (cities, merchants, members, logins) and print the demo logins."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quiet", action="store_true", help="Do not print the logins.")

    def handle(self, *args: Any, **options: Any) -> None:
        logins: list[tuple[str, str, str]] = []
        # Demo notices are kept in the app; their e-mails are not printed or sent.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            self._seed(logins)
        if options["quiet"]:
            return
        self.stdout.write(self.style.SUCCESS("Demo logins (password in the last column):"))
        width = max((display_width(role) for role, _, _ in logins), default=10)
        for role, email, password in logins:
            padding = " " * (width - display_width(role))
            self.stdout.write(f"  {role}{padding}  {email:<32}  {password}")

    def _seed(self, logins: list[tuple[str, str, str]]) -> None:
        # Every installed app with a ``demo`` module, in INSTALLED_APPS order
        # (core, members, merchants, redemptions, curation).
        for config in apps.get_app_configs():
            if find_spec(f"{config.name}.demo") is None:
                continue
            seed = import_module(f"{config.name}.demo").seed
            with transaction.atomic():
                seed(logins)
        # A second pass for data that builds on other apps' (member events at demo shops).
        for config in apps.get_app_configs():
            if find_spec(f"{config.name}.demo") is None:
                continue
            after = getattr(import_module(f"{config.name}.demo"), "seed_after", None)
            if after is not None:
                with transaction.atomic():
                    after(logins)
