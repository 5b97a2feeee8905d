"""The daily removal-rule evaluation: the default rules, the evaluation day, the run that opens, refreshes
and clears findings (resumable, in batches)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.errors import DomainError
from curation.models import EvaluationRun, Finding, RemovalRule
from merchants.selectors import merchants_by_pk, merchants_in_states

from .. import errors as _errors  # noqa: F401  (registers the codes)
from ..rules import DEFAULT_RULES, EVALUATED_STATES, EVALUATORS, programme_zone
from .common import FINDING_BATCH, JOB_ACTOR
from .findings import finding_clear, finding_open

logger = logging.getLogger(__name__)


# --- Removal rules ---------------------------------------------------------------------------------------


def removal_rules_install_defaults() -> int:
    """Create version 1 of every rule type that has no version yet. Returns how many were created."""
    created = 0
    for kind, spec in DEFAULT_RULES.items():
        _, made = RemovalRule.objects.get_or_create(
            kind=kind,
            version=1,
            defaults={"parameters": spec["parameters"], "description": spec["description"]},
        )
        created += int(made)
    return created


def evaluation_day(*, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(programme_zone()).date()


# --- The daily evaluation ---------------------------------------------------------------------------------


@dataclass
class EvaluationReport:
    day: date
    merchants_evaluated: int
    breaches: int
    created: int
    refreshed: int
    cleared: int
    skipped: int


def removal_rules_evaluate(*, day: date | None = None, now: datetime | None = None) -> EvaluationRun:
    """Evaluate every active removal rule over all merchants for ``day`` (default: today in the programme's
    zone), open a finding for each new breach, refresh the evidence of open findings still breached, and
    clear automatically the open findings whose fix-by date has come while their rule is no longer breached.

    Safe to run twice, at once or after a crash: findings already written stay (the constraints make a
    second copy impossible) and missing ones are added. New findings commit in batches of ``FINDING_BATCH``
    (each in its own savepoint), so a crash loses only the batch in flight and the re-run writes it.
    """
    now = now or timezone.now()
    day = day or evaluation_day(now=now)
    run, created = EvaluationRun.objects.get_or_create(evaluated_on=day, defaults={"started_at": now})
    if not created:
        EvaluationRun.objects.filter(pk=run.pk).update(attempts=F("attempts") + 1, started_at=now, finished_at=None)
    rules = RemovalRule.objects.in_force(at=now)
    breaches: dict[tuple[int, str], tuple[RemovalRule, dict[str, Any]]] = {}
    per_rule: dict[str, int] = {}
    for rule in rules:
        found = EVALUATORS[rule.kind](rule, day)
        per_rule[rule.kind] = len(found)
        for merchant_id, evidence in found.items():
            breaches[(merchant_id, rule.kind)] = (rule, evidence)
    active = {
        (f.merchant_id, f.rule_kind): f
        for f in Finding.objects.filter(state__in=Finding.ACTIVE_STATES).only(
            "pk", "merchant_id", "rule_kind", "state", "fix_by", "last_breached_on", "latest_evidence"
        )
    }
    today_done = set(Finding.objects.filter(evaluated_on=day).values_list("merchant_id", "rule_kind"))
    created_n = skipped = 0
    refresh: list[Finding] = []
    merchants = merchants_by_pk(ids={k[0] for k in breaches if k not in active})
    to_open = []
    for key, (rule, evidence) in sorted(breaches.items()):
        if key in active:
            finding = active[key]
            if finding.last_breached_on != day:
                finding.last_breached_on = day
                finding.latest_evidence = evidence
                refresh.append(finding)
        elif key in today_done:
            skipped += 1
        else:
            to_open.append((key, rule, evidence))
    # New findings are committed in batches (each finding in its own savepoint): a crash loses at most the
    # batch in flight, which the re-run opens again; a refusal (removed merchant, a concurrent run that
    # was first) rolls back only that finding.
    for start in range(0, len(to_open), FINDING_BATCH):
        with transaction.atomic():
            for key, rule, evidence in to_open[start : start + FINDING_BATCH]:
                try:
                    finding_open(merchant=merchants[key[0]], rule=rule, evidence=evidence, day=day)
                    created_n += 1
                except DomainError as exc:
                    logger.info("finding for merchant %s rule %s not opened: %s", key[0], key[1], exc.code)
                    skipped += 1
    Finding.objects.bulk_update(refresh, ["last_breached_on", "latest_evidence"], batch_size=1000)
    cleared = 0
    evaluated_kinds = {rule.kind for rule in rules}
    for key, finding in sorted(active.items()):
        due = finding.state == Finding.State.OPEN and finding.fix_by <= day
        if due and key not in breaches and finding.rule_kind in evaluated_kinds:
            try:
                finding_clear(
                    finding=finding,
                    actor=JOB_ACTOR,
                    reason=f"rule {finding.rule_kind} no longer breached on the fix-by date {finding.fix_by}",
                    automatic=True,
                )
                cleared += 1
            except DomainError as exc:  # a curator decided it meanwhile
                logger.info("finding %s not cleared: %s", finding.pk, exc.code)
    evaluated = merchants_in_states(states=EVALUATED_STATES).count()
    EvaluationRun.objects.filter(pk=run.pk).update(
        finished_at=timezone.now(),
        merchants_evaluated=evaluated,
        findings_created=created_n,
        findings_cleared=cleared,
        report={"breaches": per_rule, "refreshed": len(refresh), "skipped": skipped},
    )
    run.refresh_from_db()
    return run
