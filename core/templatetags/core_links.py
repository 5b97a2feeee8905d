"""``{% slot_links "merchants.shop_page" merchant=merchant as extra %}``: the links higher apps put in a slot."""

from __future__ import annotations

from typing import Any

from django import template

from core.links import Link, links

register = template.Library()


@register.simple_tag(takes_context=True)
def slot_links(context: template.Context, slot: str, **objects: Any) -> list[Link]:
    return links(slot, context["request"], **objects)
