"""Links a higher app puts on a lower app's pages, so that the lower app never names the higher one.

A page of a lower app names a *slot* (``"merchants.shop_page"``) and renders whatever links the slot holds; a
higher app fills the slot in its ``AppConfig.ready()`` with a provider, a function of the request and the
page's objects that returns a :class:`Link` or ``None`` (nothing to offer this reader). Like the home page's
``<app>.home.section`` entries, a slot nobody fills renders nothing.

The slots:

- ``members.card``: the member's card at the counter (where joining, paying and the membership page lead);
- ``merchants.shop_page`` (``merchant``): under a shop's public page;
- ``merchants.console_home``: the owner's console, under the list of shops;
- ``merchants.console_shop`` (``merchant``): the hub of one shop in the console (scan, dashboard, stand...);
- ``redemptions.visit`` (``redemption``): one of the member's visits in "My redemptions".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    primary: bool = False
    order: int = 100


Provider = Callable[..., Link | None]

_PROVIDERS: dict[str, list[Provider]] = defaultdict(list)


def provide(slot: str) -> Callable[[Provider], Provider]:
    """Decorator: ``provider(request, **objects)`` fills ``slot`` (registered once, however often it runs)."""

    def register(provider: Provider) -> Provider:
        if provider not in _PROVIDERS[slot]:
            _PROVIDERS[slot].append(provider)
        return provider

    return register


def links(slot: str, request: HttpRequest, **objects: Any) -> list[Link]:
    """The links ``slot`` holds for this request, by ``order``."""
    found = (provider(request, **objects) for provider in _PROVIDERS.get(slot, ()))
    return sorted((link for link in found if link is not None), key=lambda link: link.order)
