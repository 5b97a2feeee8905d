"""Thin Celery tasks of issue 6 (imported by ``redemptions.tasks`` so that workers register them)."""

from __future__ import annotations

from celery import shared_task

__all__ = ["credits_catch_up", "home_districts_refresh", "touches_purge"]


@shared_task(name="redemptions.attribution_tasks.credits_catch_up")
def credits_catch_up() -> int:
    """Credit redemptions for touches that arrived after them (dated before them, inside the window)."""
    from .attribution import credits_catch_up as catch_up

    return catch_up()


@shared_task(name="redemptions.attribution_tasks.touches_purge")
def touches_purge() -> int:
    """Delete touches older than the retention period."""
    from .attribution import touches_purge as purge

    return purge()


@shared_task(name="redemptions.attribution_tasks.home_districts_refresh")
def home_districts_refresh() -> int:
    """Recompute members' home districts for the audience insights."""
    from .attribution import home_districts_refresh as refresh

    return refresh()
