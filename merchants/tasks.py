"""Periodic jobs of the merchants app (thin: they call services)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="merchants.promote_due")
def promote_due() -> int:
    """Move merchants whose 30-day probation ended with nothing wrong to ``listed``."""
    return len(services.merchant_promote_due())
