"""Reads of merchant standing: complaint queues with their SLA, findings, appeals, the last evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    Case,
    DateTimeField,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.models import User
from curation.models import Appeal, Complaint, EvaluationRun, Finding
from merchants.models import Merchant

# --- Complaints ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sla:
    """Where a complaint stands against its two SLA clocks at ``now``."""

    age: timedelta
    first_response_breached: bool
    resolution_breached: bool
    first_response_left: timedelta | None  # None once answered
    resolution_left: timedelta | None  # None once resolved

    @property
    def breached(self) -> bool:
        return self.first_response_breached or self.resolution_breached


def complaint_sla(*, complaint: Complaint, now: datetime | None = None) -> Sla:
    now = now or timezone.now()
    responded = complaint.first_responded_at
    resolved = complaint.resolved_at
    return Sla(
        age=(resolved or now) - complaint.created_at,
        first_response_breached=(responded or now) > complaint.first_response_due,
        resolution_breached=(resolved or now) > complaint.resolution_due,
        first_response_left=None if responded else complaint.first_response_due - now,
        resolution_left=None if resolved else complaint.resolution_due - now,
    )


def with_sla(queryset: QuerySet[Complaint], *, now: datetime | None = None) -> QuerySet[Complaint]:
    """Annotate ``first_response_breached`` and ``resolution_breached`` (for admin filters and ordering).

    "Now" is the application's clock, the one ``complaint_sla`` reads, not the database's: a row of the
    queue and the complaint's own page never disagree about a deadline."""
    at = Value(now or timezone.now(), output_field=DateTimeField())
    responded = Coalesce(F("first_responded_at"), at, output_field=DateTimeField())
    resolved = Coalesce(F("resolved_at"), at, output_field=DateTimeField())
    return queryset.annotate(
        first_response_breached=Case(When(Q(first_response_due__lt=responded), then=Value(True)), default=Value(False)),
        resolution_breached=Case(When(Q(resolution_due__lt=resolved), then=Value(True)), default=Value(False)),
    )


def complaint_queue() -> QuerySet[Complaint]:
    """Open complaints, oldest first, with what a queue row shows."""
    return with_sla(
        Complaint.objects.filter(state__in=Complaint.OPEN_STATES)
        .select_related("merchant", "member", "assignee")
        .order_by("created_at", "pk")
    )


def complaints_of_member(*, member: User) -> QuerySet[Complaint]:
    return Complaint.objects.filter(member=member).select_related("merchant", "redemption").order_by("-created_at")


def complaints_of_merchant(*, merchant: Merchant) -> QuerySet[Complaint]:
    return (
        Complaint.objects.filter(merchant=merchant)
        .select_related("merchant", "redemption", "member")
        .order_by("-created_at")
    )


def complaint_of_member(*, member: User, public_id: Any) -> Complaint | None:
    return complaints_of_member(member=member).filter(public_id=public_id).prefetch_related("messages").first()


def complaint_photo_for(*, user: Any, public_id: Any) -> Complaint | None:
    """The complaint whose photo ``user`` may see: their own, or any for staff who read complaints (curators,
    operators). Nobody else, signed in or not, learns that it exists."""
    if not getattr(user, "is_authenticated", False):
        return None
    complaint = Complaint.objects.filter(public_id=public_id).exclude(photo="").first()
    if complaint is None:
        return None
    if complaint.member_id == user.pk or (user.is_staff and user.has_perm("curation.view_complaint")):
        return complaint
    return None


def complaint_messages(*, complaint: Complaint, include_internal: bool = False) -> list[Any]:
    messages = complaint.messages.select_related("author").order_by("created_at", "pk")
    if not include_internal:
        messages = messages.exclude(author_role="internal")
    return list(messages)


# --- Findings -----------------------------------------------------------------------------------------------


def findings_of_merchant(*, merchant: Merchant) -> QuerySet[Finding]:
    return Finding.objects.filter(merchant=merchant).select_related("rule", "appeal").order_by("-evaluated_on", "-pk")


def finding_of_merchant(*, merchant: Merchant, public_id: Any) -> Finding | None:
    return findings_of_merchant(merchant=merchant).filter(public_id=public_id).first()


def findings_queue() -> QuerySet[Finding]:
    """Active findings for the curators, those past their fix-by date first."""
    return (
        Finding.objects.filter(state__in=Finding.ACTIVE_STATES)
        .select_related("merchant", "merchant__city", "rule")
        .order_by("fix_by", "pk")
    )


def appeals_queue() -> QuerySet[Appeal]:
    return (
        Appeal.objects.filter(state=Appeal.State.PENDING, finding__state__in=Finding.ACTIVE_STATES)
        .select_related("finding", "finding__merchant", "author")
        .order_by("created_at")
    )


def last_evaluation() -> EvaluationRun | None:
    return EvaluationRun.objects.order_by("-evaluated_on").first()


__all__ = [
    "Sla",
    "appeals_queue",
    "complaint_queue",
    "complaint_sla",
]
