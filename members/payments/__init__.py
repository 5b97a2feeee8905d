"""Payment providers. ``get_provider(code)`` returns the configured adapter.

The built-in sandbox gateway (a free "pay" button) is the embedded default so that ``make run``
works with no keys. It never runs in production: ``redcard.settings.production`` refuses to start
with it, ``members.checks`` fails ``check --deploy`` with it, and with it disabled its checkout
page and notification endpoint answer 404.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError

from .base import PaymentProvider

SANDBOX = "sandbox"
ALIPAY = "alipay"
WECHATPAY = "wechatpay"
#: Providers this build has an adapter for.
PROVIDERS = (SANDBOX, ALIPAY, WECHATPAY)
#: How a payment method is named to the member (codes of gateways yet to come included).
PROVIDER_NAMES = {
    SANDBOX: _("Sandbox (test payment)"),
    WECHATPAY: _("WeChat Pay"),
    ALIPAY: _("Alipay"),
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


def missing_settings(code: str) -> list[str]:
    """The settings a provider needs that are not set (or name a file that cannot be read)."""
    if code == ALIPAY:
        from .alipay import missing_settings as alipay_missing

        return alipay_missing()
    if code == WECHATPAY:
        from .wechatpay import missing_settings as wechatpay_missing

        return wechatpay_missing()
    return []


def get_provider(code: str | None = None) -> PaymentProvider:
    """Raises ``payments_unavailable`` when no provider is configured (or the one selected lacks its
    settings) and ``provider_unknown`` for a provider this build lacks or the sandbox while it is disabled."""
    code = code if code is not None else default_provider_code()
    if not code:
        raise DomainError("payments_unavailable")
    if code == SANDBOX and sandbox_enabled():
        from .sandbox import SandboxProvider

        return SandboxProvider()
    if code == ALIPAY:
        from .alipay import AlipayProvider

        return AlipayProvider()
    if code == WECHATPAY:
        from .wechatpay import WeChatPayProvider

        return WeChatPayProvider()
    raise DomainError("provider_unknown")


def agreements_supported(*, user: Any = None) -> bool:
    """Whether the configured provider renews cards by a recurring agreement (else: reminders and a
    one-tap renewal checkout). At a gateway where members sign the agreement themselves (Alipay), a
    given ``user``'s card renews by itself only under an active agreement."""
    try:
        provider = get_provider()
    except DomainError:
        return False
    if not provider.supports_agreements:
        return False
    if provider.signs_agreements and user is not None:
        from ..models import PaymentAgreement

        active = PaymentAgreement.objects.filter(user=user, provider=provider.code, state=PaymentAgreement.State.ACTIVE)
        return active.exists()
    return True
