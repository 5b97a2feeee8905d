"""Thin Celery tasks of attribution (imported by :mod:`redemptions.tasks` so that workers register them).

Task names are stable (queued messages and the beat schedule carry them), so they keep their first spelling.
"""

from __future__ import annotations

from celery import shared_task

__all__ = ["credits_catch_up", "home_districts_refresh", "touches_purge"]


@shared_task(name="redemptions.attribution_tasks.credits_catch_up")
def credits_catch_up() -> int:
    """Credit redemptions for touches that arrived after them (dated before them, inside the window)."""
    from .services import credits_catch_up as catch_up

    return catch_up()


@shared_task(name="redemptions.attribution_tasks.touches_purge")
def touches_purge() -> int:
    """Delete touches older than the retention period."""
    from .services import touches_purge as purge

    return purge()


@shared_task(name="redemptions.attribution_tasks.home_districts_refresh")
def home_districts_refresh() -> int:
    """Recompute members' home districts for the audience insights."""
    from .services import home_districts_refresh as refresh

    return refresh()
