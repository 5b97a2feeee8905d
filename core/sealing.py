"""Secrets at rest: values sealed with AES-256-GCM under a rotatable key ring, and a model field for them.

``REDCARD_DATA_KEYS`` is JSON ``{"<key id>": "<base64 32-byte key>", ...}``; ``REDCARD_DATA_KEY_ID`` names the
key that seals, every listed key opens (so a rotation re-seals at leisure: ``manage.py reseal``-style jobs or
the next save). A sealed value reads ``gcm1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`` and carries the
field's table and column as associated data, so it cannot be moved to another column. Without keys (the
embedded default, tests) one key is derived from ``SECRET_KEY``; production refuses to start without keys.

Used for the NTAG 424 SUN keys of NFC tags: a copy of the database alone no longer lets anyone forge taps.
"""

from __future__ import annotations

import base64
import functools
import json
import os
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver

PREFIX = "gcm1"


class SealError(ValueError):
    """A sealed value that no key of the ring opens (wrong key, tampered, or moved to another column)."""


@functools.cache
def key_ring() -> tuple[str, dict[str, bytes]]:
    """(The sealing key id, every key by id)."""
    raw = getattr(settings, "REDCARD_DATA_KEYS", None)
    if raw:
        try:
            keys = {kid: base64.b64decode(value, validate=True) for kid, value in json.loads(raw).items()}
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured("REDCARD_DATA_KEYS must be JSON {key id: base64 32-byte key}") from exc
        if not keys or any(len(key) != 32 for key in keys.values()):
            raise ImproperlyConfigured("REDCARD_DATA_KEYS: every key must be 32 bytes (base64)")
        current = getattr(settings, "REDCARD_DATA_KEY_ID", None) or next(iter(keys))
        if current not in keys:
            raise ImproperlyConfigured(f"REDCARD_DATA_KEY_ID {current!r} is not in REDCARD_DATA_KEYS")
        return current, keys
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"redcard data key").derive(
        settings.SECRET_KEY.encode()
    )
    return "derived", {"derived": derived}


def seal(plaintext: str, *, context: str) -> str:
    """``plaintext`` sealed under the current key; ``context`` (table.column) is bound to it."""
    kid, keys = key_ring()
    nonce = os.urandom(12)
    box = AESGCM(keys[kid]).encrypt(nonce, plaintext.encode(), context.encode())
    return f"{PREFIX}:{kid}:{base64.urlsafe_b64encode(nonce + box).decode().rstrip('=')}"


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX + ":")


def unseal(value: str, *, context: str) -> str:
    try:
        _prefix, kid, body = value.split(":", 2)
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        key = key_ring()[1][kid]
        return AESGCM(key).decrypt(blob[:12], blob[12:], context.encode()).decode()
    except Exception as exc:  # any failure is the same answer: this value cannot be opened here
        raise SealError("a sealed value could not be opened (key ring or data changed)") from exc


class SealedCharField(models.CharField):
    """A short secret stored sealed (see the module). Python sees the plain text; the database column holds
    the sealed form. The empty string stays empty (no secret), so ``field=""`` checks and constraints keep
    working; other lookups on the field are meaningless and not supported. Values written before the field
    was sealed (no ``gcm1:`` prefix) read as they are and are sealed on their next save."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 200)
        super().__init__(*args, **kwargs)

    def _context(self) -> str:
        return f"{self.model._meta.db_table}.{self.column}"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not value or not is_sealed(value):
            return value
        return unseal(value, context=self._context())

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value or is_sealed(value):
            return value
        return seal(value, context=self._context())


@receiver(setting_changed)
def _key_ring_reset(*, setting: str, **kwargs: Any) -> None:
    if setting in ("REDCARD_DATA_KEYS", "REDCARD_DATA_KEY_ID", "SECRET_KEY"):
        key_ring.cache_clear()
