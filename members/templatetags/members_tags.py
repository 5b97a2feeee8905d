from django import template

register = template.Library()


@register.filter
def yuan(fen: int | None) -> str:
    """16800 -> "¥168", 21240 -> "¥212.40"."""
    fen = int(fen or 0)
    sign = "−" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}¥{fen // 100}" if fen % 100 == 0 else f"{sign}¥{fen / 100:.2f}"


@register.filter
def payment_method(provider: str) -> str:
    """The member-facing name of a payment provider code."""
    from ..payments import PROVIDER_NAMES

    return str(PROVIDER_NAMES.get(provider, provider))
