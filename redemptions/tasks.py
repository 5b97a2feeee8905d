"""Thin Celery tasks: each calls one service."""

from __future__ import annotations

from celery import shared_task


@shared_task
def redemption_confirmed(redemption_pk: int) -> None:
    """After a confirmation commits: tell the member what they saved."""
    from .models import Redemption
    from .services import member_notice_redeemed

    redemption = Redemption.objects.select_related("member", "merchant").filter(pk=redemption_pk).first()
    if redemption is not None:
        member_notice_redeemed(redemption=redemption)


@shared_task
def surge_detect() -> int:
    from .services import surge_detect as detect

    return len(detect())


@shared_task
def claims_expire() -> int:
    from .services import claims_expire as expire

    return expire()


from .attribution_tasks import *  # noqa: E402,F403  (notes, touches, attribution: issue 6)
