"""Template filters of the redemption pages."""

from __future__ import annotations

from django import template

from redemptions.counter.errors import OFFLINE_REASONS

register = template.Library()


@register.filter
def yuan(fen: int | None) -> str:
    """Integer fen -> "86.50" (the ¥ sign is in the template)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100}.{fen % 100:02d}"


@register.filter
def percent_off(rate_bp: int) -> str:
    """1200 -> "12"."""
    return f"{rate_bp / 100:g}"


@register.filter
def offline_reason(code: str) -> str:
    """An offline redemption's reason code as the owner reads it."""
    return str(OFFLINE_REASONS.get(code, code))
