"""Demo data of the redemptions app (``seed_demo``): the counter's visits first, then the notes that led to them."""

from __future__ import annotations

from .attribution.demo import seed as seed_attribution
from .counter.demo import seed as seed_counter


def seed(out: list[tuple[str, str, str]]) -> None:
    seed_counter(out)
    seed_attribution(out)
