"""Demo data of the curation app (``seed_demo``): applications in every state, complaints and findings, then
a year of the operations overview's roll-up."""

from __future__ import annotations

from .intake.demo import seed as seed_intake
from .ops.services import ops_rollup
from .standing.demo import seed as seed_standing


def seed(out: list[tuple[str, str, str]]) -> None:
    seed_intake(out)
    seed_standing(out)
    ops_rollup(days=400)
