"""Background jobs of the members app (thin: they call services)."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.core.mail import get_connection, send_mass_mail
from django.utils import timezone

from .payments import sandbox
from .services.agreements import agreements_reconcile, renewals_book
from .services.checkout import payments_reconcile, renewals_charge
from .services.guarantee import guarantees_settle
from .services.reconciliation import bill_reconcile
from .services.refunds import refunds_reconcile
from .services.subscriptions import reminders_send, subscriptions_advance
from .services.suspension import programme_suspend_and_refund


@shared_task
def reconcile_payments() -> dict[str, int]:
    return payments_reconcile()


@shared_task
def reconcile_refunds() -> dict[str, int]:
    return refunds_reconcile()


@shared_task
def reconcile_bills(day: str | None = None) -> dict[str, int]:
    """Yesterday's bill (China Standard Time) of every configured gateway against the ledger."""
    return bill_reconcile(day=date.fromisoformat(day) if day else None)


@shared_task
def settle_guarantees() -> dict[str, int]:
    """The savings guarantee of paid years that ended: the difference back where savings fell short."""
    return guarantees_settle()


@shared_task
def advance_subscriptions() -> dict[str, int]:
    return subscriptions_advance()


@shared_task
def charge_renewals() -> int:
    return renewals_charge()


@shared_task
def book_renewals() -> dict[str, int]:
    """The day before a renewal is charged, book its debit where the gateway requires it (WeChat Pay 预约扣费)."""
    return renewals_book()


@shared_task
def reconcile_agreements() -> dict[str, int]:
    """Agreements stuck in pending settled from the gateway's query; ends the gateway did not confirm retried."""
    return agreements_reconcile()


@shared_task
def send_reminders() -> int:
    return reminders_send()


@shared_task(bind=True, max_retries=8)
def sandbox_deliver(self, event_id: int) -> str:
    """The sandbox gateway's delivery of one notification (retried with backoff when refused)."""
    outcome = sandbox.deliver(event_id)
    if outcome not in ("ok", "skipped") and not self.request.is_eager:
        raise self.retry(countdown=min(3600, 15 * 2**self.request.retries))
    return outcome


@shared_task
def sandbox_redeliver() -> int:
    """The sandbox gateway retries notifications that were not acknowledged."""
    ids = sandbox.pending_redeliveries(older_than=timezone.now() - timedelta(minutes=1))
    for event_id in ids:
        sandbox.deliver(event_id)
    return len(ids)


@shared_task(acks_late=False)  # a worker lost mid-send must not mail everyone twice
def send_notice_emails(notification_ids: list[str]) -> int:
    """E-mail in-app notices written in bulk (the programme suspension): the template is loaded
    once, people are grouped by language, and the mail goes out over one connection."""
    from django.conf import settings
    from django.template.loader import get_template
    from django.utils import translation

    from core.models import Notification

    template = get_template("core/email/notice.txt")
    by_language: dict[str, list[Notification]] = {}
    for notice in Notification.objects.filter(public_id__in=notification_ids).select_related("user"):
        if notice.user.email:
            by_language.setdefault(notice.user.language, []).append(notice)
    messages = []
    for language, notices in by_language.items():
        with translation.override(language):
            for notice in notices:
                text = template.render(
                    {"title": notice.title, "body": notice.body, "url": settings.SITE_URL + notice.url}
                )
                messages.append((f"[RedCard 小红卡] {notice.title}", text, None, [notice.user.email]))
    return send_mass_mail(messages, fail_silently=False, connection=get_connection()) if messages else 0


@shared_task(soft_time_limit=3300, time_limit=3600)  # 100,000 subscriptions take minutes, not hours
def suspend_programme(
    effective_date: str, refund_mode: str, reason: str, actor_id: int | None, batch_size: int = 1000
) -> dict:
    """The admin action's run of the suspension (same service as the command). A worker lost midway leaves the
    task unacknowledged: it runs again on another worker and carries on where the batches stopped."""
    from core.models import User

    actor = User.objects.filter(pk=actor_id).first() if actor_id else "system:admin"
    report = programme_suspend_and_refund(
        effective_date=date.fromisoformat(effective_date),
        refund_mode=refund_mode,
        reason=reason,
        actor=actor,
        batch_size=batch_size,
    )
    return report.as_dict()


from .events.tasks import expire_offers, settle_no_shows  # noqa: E402,F401  (registered with the app's tasks)
