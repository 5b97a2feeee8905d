"""Background jobs of merchant standing (thin: they call :mod:`curation.standing.services`)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import services as standing


@shared_task(name="curation.evaluate_removal_rules")
def evaluate_removal_rules() -> dict[str, Any]:
    """The daily removal-rule evaluation (safe to run twice; a re-run resumes a killed one)."""
    run = standing.removal_rules_evaluate()
    return {
        "day": run.evaluated_on.isoformat(),
        "created": run.findings_created,
        "cleared": run.findings_cleared,
        "attempts": run.attempts,
    }
