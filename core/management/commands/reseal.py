"""Seal every secret at rest under the current data key (after a REDCARD_DATA_KEYS rotation).

    manage.py reseal             # re-seal, then print how many values per model
    manage.py reseal --new-key   # print a fresh key to add to REDCARD_DATA_KEYS first

Rotation: add the new key to REDCARD_DATA_KEYS, set REDCARD_DATA_KEY_ID to it and deploy (old values still
open with the old key); run ``reseal``; then remove the old key.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand

from core.sealing import SealedCharField


class Command(BaseCommand):
    help = "Re-seal every sealed field under the current REDCARD_DATA_KEY_ID (or print a new key)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--new-key", action="store_true", help="print a fresh base64 32-byte key and stop")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["new_key"]:
            self.stdout.write(base64.b64encode(secrets.token_bytes(32)).decode())
            return
        for model in apps.get_models():
            names = [f.name for f in model._meta.concrete_fields if isinstance(f, SealedCharField)]
            if not names:
                continue
            count = 0
            for obj in model._default_manager.only("pk", *names).iterator(chunk_size=500):
                # Opened with its own key on reading, sealed with the current one by the UPDATE.
                model._default_manager.filter(pk=obj.pk).update(**{n: getattr(obj, n) for n in names})
                count += 1
            self.stdout.write(f"{model._meta.label}: {count} re-sealed")
