"""Background jobs of member events (thin: they call services). Imported by ``members.tasks`` so
Celery's autodiscovery registers them."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="members.events.tasks.expire_offers")
def expire_offers() -> dict[str, int]:
    """Lapse waitlist offers not confirmed in time and pass their places to the next people."""
    return services.offers_expire()


@shared_task(name="members.events.tasks.settle_no_shows")
def settle_no_shows() -> dict[str, int]:
    """Count the no-shows of events that ended (each event once)."""
    return services.no_shows_settle()


@shared_task(name="members.events.tasks.reconcile_payments")
def reconcile_payments() -> dict[str, int]:
    """Settle event payments stuck in pending, release unpaid places after the timeout, resend refunds."""
    from . import payments

    return payments.reconcile()
