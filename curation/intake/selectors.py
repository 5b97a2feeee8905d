"""Reads of the curation app."""

from __future__ import annotations

from django.db.models import QuerySet

from core.models import User
from curation.models import Application, RuleResult


def open_application(*, owner: User) -> Application | None:
    """The owner's application that is not yet decided (at most one, by constraint)."""
    return (
        Application.objects.filter(owner=owner, state__in=Application.OPEN_STATES)
        .select_related("city", "district", "category")
        .first()
    )


def applications_of(*, owner: User) -> QuerySet[Application]:
    return (
        Application.objects.filter(owner=owner).select_related("city", "category", "merchant").order_by("-created_at")
    )


def checklist(*, application: Application) -> list[RuleResult]:
    return list(application.rule_results.select_related("rule").order_by("kind"))


def latest_message(*, application: Application) -> str:
    decision = application.decisions.order_by("-at", "-id").first()
    return decision.message if decision else ""
