"""The nightly roll-up of the operations overview (thin: it calls :mod:`curation.ops.services`)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="curation.ops_rollup")
def ops_rollup() -> int:
    """Roll up the last three local days of redemptions per city for the operations overview."""
    return services.ops_rollup(days=3)
