"""Hooks that apps built on merchants fill, so a shop's pages can show their features without the
merchants app importing them (the events a shop organises or hosts, for one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

#: ``fn(request, merchant) -> str`` (rendered HTML, or "" for nothing), shown under the shop's page.
MerchantPageSection = Callable[[HttpRequest, Any], str]
_MERCHANT_PAGE_SECTIONS: list[MerchantPageSection] = []


def register_merchant_page_section(fn: MerchantPageSection) -> MerchantPageSection:
    """Add a section to every merchant page (called from an app's ``ready()``; idempotent)."""
    if fn not in _MERCHANT_PAGE_SECTIONS:
        _MERCHANT_PAGE_SECTIONS.append(fn)
    return fn


def merchant_page_sections(request: HttpRequest, merchant: Any) -> list[str]:
    return [html for html in (fn(request, merchant) for fn in _MERCHANT_PAGE_SECTIONS) if html]
