"""The curators' queue home: what waits for a human, at the top of the console's first page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Min, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from curation.models import Application, Complaint, Finding
from curation.standing.rules import programme_zone
from merchants.selectors import pending_offer_changes_count, pending_photos_count

#: A complaint is "near" its deadline when it falls due within this time.
NEAR_SLA = timedelta(hours=4)


@dataclass(frozen=True)
class QueueItem:
    label: str
    count: int
    url: str
    urgent: int = 0  # of ``count``, how many are late or about to be
    urgent_label: str = ""
    oldest: datetime | None = None


def _admin_url(name: str, query: str = "") -> str:
    return reverse(f"admin:{name}") + (f"?{query}" if query else "")


def queue_home(*, now: datetime | None = None) -> list[QueueItem]:
    """Applications waiting for review, open complaints (late or due soon), open findings (fix-by passed) and
    offer cuts and shop photos waiting: each a count with the console list it links to, a query or two each."""
    now = now or timezone.now()
    today = now.astimezone(programme_zone()).date()
    waiting = Application.objects.filter(state__in=[Application.State.SUBMITTED, Application.State.IN_REVIEW])
    applications = waiting.aggregate(oldest=Min("submitted_at"))
    complaints = Complaint.objects.filter(state__in=Complaint.OPEN_STATES)
    first_due = Q(first_responded_at__isnull=True, first_response_due__lt=now + NEAR_SLA)
    resolution_due = Q(resolved_at__isnull=True, resolution_due__lt=now + NEAR_SLA)
    findings = Finding.objects.filter(state=Finding.State.OPEN)
    return [
        QueueItem(
            label=str(_("Applications waiting for review")),
            count=waiting.count(),
            url=_admin_url("curation_application_changelist", "state__in=submitted,in_review"),
            oldest=applications["oldest"],
        ),
        QueueItem(
            label=str(_("Open complaints")),
            count=complaints.count(),
            url=_admin_url("curation_complaint_changelist"),
            urgent=complaints.filter(first_due | resolution_due).count(),
            urgent_label=str(_("late or due within 4 hours")),
        ),
        QueueItem(
            label=str(_("Open findings")),
            count=findings.count(),
            url=_admin_url("curation_finding_changelist", "state__exact=open"),
            urgent=findings.filter(fix_by__lt=today).count(),
            urgent_label=str(_("fix-by date passed")),
        ),
        QueueItem(
            label=str(_("Offer cuts waiting for review")),
            count=pending_offer_changes_count(),
            url=_admin_url("merchants_offerchange_changelist", "state__exact=pending"),
        ),
        QueueItem(
            label=str(_("Shop photos waiting for review")),
            count=pending_photos_count(),
            url=_admin_url("merchants_merchantphoto_changelist", "state__exact=pending"),
        ),
    ]
