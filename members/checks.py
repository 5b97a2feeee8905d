"""System checks of the members app: the sandbox gateway never reaches a deployment."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register

from .payments import PROVIDERS, SANDBOX, default_provider_code, missing_settings, sandbox_enabled


@register(Tags.security, deploy=True)
def sandbox_not_deployed(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """``check --deploy`` fails while the sandbox gateway (free cards) is the provider or enabled,
    for a provider this build has no adapter for, and for a provider whose settings are missing."""
    errors = []
    code = default_provider_code()
    if code == SANDBOX or sandbox_enabled():
        errors.append(
            Error(
                "The sandbox payment gateway is selected or enabled: anyone could get a card without paying.",
                hint="Set MEMBERS_PAYMENT_PROVIDER to a real gateway (or leave it empty: no sales) "
                "and MEMBERS_SANDBOX_ENABLED=False.",
                id="members.E001",
            )
        )
    elif code and code not in PROVIDERS:
        real = ", ".join(p for p in PROVIDERS if p != SANDBOX) or "none yet"
        errors.append(
            Error(
                f"MEMBERS_PAYMENT_PROVIDER={code!r} has no adapter in this build.",
                hint=f"Choose one of: {real}; or leave it empty.",
                id="members.E002",
            )
        )
    elif code and (missing := missing_settings(code)):
        errors.append(
            Error(
                f"MEMBERS_PAYMENT_PROVIDER={code!r} lacks its settings: {', '.join(missing)} "
                "(not set, or a key file that cannot be read).",
                hint="Set them in the environment; README.md lists each gateway's settings.",
                id="members.E003",
            )
        )
    return errors
