"""Slots a higher app fills on a lower app's pages, so that the lower app never names the higher one.

A page of a lower app names a *slot* (``"merchants.shop_page"``) and renders whatever the slot holds; a higher
app fills the slot in its ``AppConfig.ready()`` with a provider, a function of the request and the page's
objects that returns what to show (or ``None``: nothing for this reader). One registry serves every kind of
entry: a :class:`Link` (a line with a link) or a :class:`Section` (a block of rendered HTML, e.g. the events a
shop hosts). Like the home page's ``<app>.home.section`` entries, a slot nobody fills renders nothing.

The slots:

- ``merchants.shop_page`` (``merchant``): links under a shop's public page;
- ``merchants.shop_page.sections`` (``merchant``): sections of a shop's public page (members: its events);
- ``merchants.console_home``: the owner's console, under the list of shops;
- ``merchants.console_shop`` (``merchant``): the owner's page of one shop;
- ``redemptions.visit`` (``redemption``): one of the member's visits in "My redemptions".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.http import HttpRequest
from django.utils.safestring import SafeString


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    primary: bool = False
    order: int = 100


@dataclass(frozen=True)
class Section:
    """A block of a page, rendered by its app (``render_to_string``: already escaped, safe to insert)."""

    html: SafeString
    order: int = 100


Entry = TypeVar("Entry", Link, Section)
Provider = Callable[..., Link | Section | None]

_PROVIDERS: dict[str, list[Provider]] = defaultdict(list)


def provide(slot: str) -> Callable[[Provider], Provider]:
    """Decorator: ``provider(request, **objects)`` fills ``slot`` (registered once, however often it runs)."""

    def register(provider: Provider) -> Provider:
        if provider not in _PROVIDERS[slot]:
            _PROVIDERS[slot].append(provider)
        return provider

    return register


def filled(slot: str, request: HttpRequest, kind: type[Entry], **objects: Any) -> list[Entry]:
    """The entries of ``kind`` that ``slot`` holds for this request, by ``order``."""
    found = (provider(request, **objects) for provider in _PROVIDERS.get(slot, ()))
    return sorted((entry for entry in found if isinstance(entry, kind)), key=lambda entry: entry.order)


def links(slot: str, request: HttpRequest, **objects: Any) -> list[Link]:
    """The links ``slot`` holds for this request, by ``order``."""
    return filled(slot, request, Link, **objects)


def sections(slot: str, request: HttpRequest, **objects: Any) -> list[Section]:
    """The page sections ``slot`` holds for this request, by ``order``."""
    return filled(slot, request, Section, **objects)
