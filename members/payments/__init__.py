"""Payment providers. ``get_provider(code)`` returns the configured adapter."""

from __future__ import annotations

import os

from django.conf import settings

from core.errors import DomainError

from .base import PaymentProvider


def default_provider_code() -> str:
    return str(
        getattr(settings, "MEMBERS_PAYMENT_PROVIDER", "") or os.environ.get("MEMBERS_PAYMENT_PROVIDER", "sandbox")
    )


def get_provider(code: str | None = None) -> PaymentProvider:
    code = code or default_provider_code()
    if code == "sandbox":
        from .sandbox import SandboxProvider

        return SandboxProvider()
    raise DomainError("provider_unknown")


def sandbox_enabled() -> bool:
    return bool(getattr(settings, "MEMBERS_SANDBOX_ENABLED", default_provider_code() == "sandbox"))
