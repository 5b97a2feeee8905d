"""Thin Celery tasks: each calls one service."""

from __future__ import annotations

from celery import shared_task


@shared_task
def surge_detect() -> int:
    from .services import surge_detect as detect

    return len(detect())


@shared_task
def claims_expire() -> int:
    from .services import claims_expire as expire

    return expire()


from .attribution_tasks import *  # noqa: E402,F403  (notes, touches, attribution: issue 6)
