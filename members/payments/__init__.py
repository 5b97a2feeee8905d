"""Payment providers. ``get_provider(code)`` returns the configured adapter.

The built-in sandbox gateway (a free "pay" button) is the embedded default so that ``make run``
works with no keys. It never runs in production: ``redcard.settings.production`` refuses to start
with it, ``members.checks`` fails ``check --deploy`` with it, and with it disabled its checkout
page and notification endpoint answer 404.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError

from .base import PaymentProvider

SANDBOX = "sandbox"
#: Providers this build has an adapter for.
PROVIDERS = (SANDBOX,)
#: How a payment method is named to the member (codes of gateways yet to come included).
PROVIDER_NAMES = {
    SANDBOX: _("Sandbox (test payment)"),
    "wechatpay": _("WeChat Pay"),
    "alipay": _("Alipay"),
}


def default_provider_code() -> str:
    """``MEMBERS_PAYMENT_PROVIDER`` from the settings (production sets it from the environment, possibly
    empty: no provider), else the environment, else the sandbox (the embedded default)."""
    configured = getattr(settings, "MEMBERS_PAYMENT_PROVIDER", None)
    if configured is not None:
        return str(configured)
    return os.environ.get("MEMBERS_PAYMENT_PROVIDER", SANDBOX)


def sandbox_enabled() -> bool:
    return bool(getattr(settings, "MEMBERS_SANDBOX_ENABLED", default_provider_code() == SANDBOX))


def get_provider(code: str | None = None) -> PaymentProvider:
    """Raises ``payments_unavailable`` when no provider is configured and ``provider_unknown`` for a
    provider this build lacks or the sandbox while it is disabled."""
    code = code if code is not None else default_provider_code()
    if not code:
        raise DomainError("payments_unavailable")
    if code == SANDBOX and sandbox_enabled():
        from .sandbox import SandboxProvider

        return SandboxProvider()
    raise DomainError("provider_unknown")
