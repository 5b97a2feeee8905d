"""Print the current console code of the demo accounts (their authenticator-app secret is public demo data)."""

from __future__ import annotations

from typing import Any

from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
from django.core.management.base import BaseCommand

from core.demo import DEMO_TOTP_SECRET


class Command(BaseCommand):
    help = "Print the current six-digit console code of the demo accounts (seed_demo's TOTP secret)."

    def handle(self, *args: Any, **options: Any) -> None:
        counter = next(iter(yield_hotp_counters_from_time()))
        self.stdout.write(format_hotp_value(hotp_value(DEMO_TOTP_SECRET, counter)))
