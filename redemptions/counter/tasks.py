"""Thin Celery tasks of the counter: each calls one service.

Task names are stable (queued messages and the beat schedule carry them), so they are given explicitly.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="redemptions.tasks.surge_detect")
def surge_detect() -> int:
    from .services import surge_detect as detect

    return len(detect())


@shared_task(name="redemptions.tasks.claims_expire")
def claims_expire() -> int:
    from .services import claims_expire as expire

    return expire()


@shared_task(name="redemptions.tasks.outbox_process")
def outbox_process(entry_id: int) -> int:
    """One row (the task of earlier releases, still queued after an upgrade; new commits queue ``outbox_drain``)."""
    from .outbox import outbox_process as process

    return process(entry_ids=[entry_id])


@shared_task(name="redemptions.tasks.outbox_drain")
def outbox_drain() -> int:
    from .outbox import outbox_drain as drain

    return drain()


@shared_task(name="redemptions.tasks.outbox_catch_up")
def outbox_catch_up() -> int:
    from .outbox import outbox_catch_up as catch_up

    return catch_up()
