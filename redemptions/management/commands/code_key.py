"""Make a new member-code signing key for REDCARD_CODE_KEYS (key rotation).

    manage.py code_key            # a new key id and seed, and the ring to deploy with it
    manage.py code_key --id k7    # choose the key id

Rotation: add the new key to REDCARD_CODE_KEYS next to the current ones, set REDCARD_CODE_KEY_ID to it,
deploy; remove the old key once its codes have expired (a few minutes later). Nothing is written to disk.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Print a new Ed25519 signing key for member codes and the REDCARD_CODE_KEYS ring that adds it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--id", dest="kid", default="", help="key id (1-16 letters or digits)")

    def handle(self, *args: Any, **options: Any) -> None:
        kid = options["kid"] or "k" + secrets.token_hex(3)
        if not (1 <= len(kid) <= 16 and kid.isascii() and kid.isalnum()):
            raise CommandError("the key id must be 1-16 ASCII letters or digits")
        seed = secrets.token_bytes(32)
        public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        ring = json.loads(settings.REDCARD_CODE_KEYS) if getattr(settings, "REDCARD_CODE_KEYS", "") else {}
        if kid in ring:
            raise CommandError(f"key id {kid!r} is already in REDCARD_CODE_KEYS")
        ring[kid] = base64.b64encode(seed).decode()
        self.stdout.write(f"REDCARD_CODE_KEYS='{json.dumps(ring)}'")
        self.stdout.write(f"REDCARD_CODE_KEY_ID={kid}")
        self.stdout.write(f"# public key {kid}: {base64.urlsafe_b64encode(public).decode().rstrip('=')}")
