"""Bilingual data fields: a model keeps ``name_zh`` and ``name_en``; ``localized`` picks by language."""

from __future__ import annotations

from django.utils.translation import get_language


def localized(obj: object, field: str) -> str:
    language = (get_language() or "zh-hans").lower()
    zh = getattr(obj, f"{field}_zh", "") or ""
    en = getattr(obj, f"{field}_en", "") or ""
    if language.startswith("en"):
        return en or zh
    return zh or en
