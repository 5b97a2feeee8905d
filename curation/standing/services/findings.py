"""Findings and appeals: open (warn), clear, suspend, remove (淘汰), and the owner's one appeal."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from core.models import User
from core.services import Actor, audit_record, notify
from curation.models import Appeal, Finding, RemovalRule
from merchants.models import Merchant
from merchants.services import merchant_lock, merchant_set_open_findings, merchant_transition
from redemptions.counter.selectors import members_attached_to_merchant

from .. import errors as _errors  # noqa: F401  (registers the codes)
from .common import (
    JOB_ACTOR,
    REMOVAL_NOTICE_DAYS,
    State,
    clean_text,
    require_curator,
    require_owner,
    tell_owners,
)

FINDING_ADVICE: dict[str, Any] = {
    RemovalRule.Kind.COMPLAINT_RATE: _(
        "Read the complaints in your standing page, answer them, and make sure every member gets the offer."
    ),
    RemovalRule.Kind.REFUSED_CARD: _(
        "Brief every member of staff: the RedCard must be accepted whenever the shop is open and not paused "
        "or full. Use “pause for today” instead of refusing members."
    ),
    RemovalRule.Kind.RATING_FLOOR: _("Improve the rating on the external platform above the floor."),
    RemovalRule.Kind.DORMANT: _("Tell us if the shop is closed; otherwise check that staff can redeem cards."),
    RemovalRule.Kind.LICENCE_EXPIRED: _("Send the renewed licence to the curation team."),
    RemovalRule.Kind.SURGE_UNADDRESSED: _(
        "Set a daily capacity you can serve and answer the curation team when a surge is flagged."
    ),
    RemovalRule.Kind.OFFLINE_CONFLICTS: _(
        "Check the offline redemptions on your dashboard, brief your staff to scan each code once, and switch "
        "offline acceptance off in the console if the scanner's device is shared."
    ),
}


def evidence_summary(*, kind: str, evidence: dict[str, Any]) -> str:
    """One sentence saying what the numbers were, in the active language."""
    e = evidence
    if kind == RemovalRule.Kind.COMPLAINT_RATE:
        return str(
            _("%(upheld)s upheld complaints, %(redemptions)s redemptions (%(rate)s%%) in 30 days; limit %(limit)s%%.")
            % {
                "upheld": e.get("upheld_complaints"),
                "redemptions": e.get("redemptions"),
                "rate": e.get("rate_percent"),
                "limit": e.get("max_rate_percent"),
            }
        )
    if kind == RemovalRule.Kind.REFUSED_CARD:
        return str(
            _("%(count)s upheld “refused the card” complaints in 30 days; the limit is %(limit)s.")
            % {"count": e.get("upheld_refused_card"), "limit": e.get("min_upheld")}
        )
    if kind == RemovalRule.Kind.RATING_FLOOR:
        return str(
            _("External rating %(rating)s, below the floor of %(floor)s.")
            % {"rating": e.get("external_rating"), "floor": e.get("min_rating")}
        )
    if kind == RemovalRule.Kind.DORMANT:
        return str(
            _("No redemptions since %(since)s (last one: %(last)s).")
            % {"since": e.get("since"), "last": e.get("last_redemption_on") or _("never")}
        )
    if kind == RemovalRule.Kind.LICENCE_EXPIRED:
        items = ", ".join(f"{x['number']} ({x['expired_on']})" for x in e.get("licences", []))
        return str(_("Licence expired: %(items)s.") % {"items": items})
    if kind == RemovalRule.Kind.SURGE_UNADDRESSED:
        return str(
            _("%(count)s surge flags stayed open more than %(hours)s hours in 30 days.")
            % {"count": e.get("unaddressed_flags"), "hours": e.get("max_open_hours")}
        )
    if kind == RemovalRule.Kind.OFFLINE_CONFLICTS:
        return str(
            _("%(count)s offline redemptions in conflict in 30 days; the limit is %(limit)s.")
            % {"count": e.get("offline_conflicts"), "limit": e.get("min_conflicts")}
        )
    return ""


def finding_open(
    *, merchant: Merchant, rule: RemovalRule, evidence: dict[str, Any], day: date, actor: Actor = JOB_ACTOR
) -> Finding:
    """Record that ``merchant`` breached ``rule`` on ``day`` and warn it.

    A listed merchant moves to ``warned``; a merchant on probation stays on probation but is flagged so
    that it is not promoted while the finding is open; an already warned merchant stays warned. The
    owners are told which rule, the evidence, the fix-by date and what to do.
    Raises ``finding_merchant_removed`` for a removed merchant and ``conflict`` when the merchant already
    has an open finding for this rule type (or one for this day).
    """
    with transaction.atomic():
        locked = merchant_lock(merchant_id=merchant.pk)
        if locked.state == State.REMOVED:
            raise DomainError("finding_merchant_removed")
        # Every writer of findings holds the merchant's row lock here, so this check cannot race; the two
        # unique constraints on Finding remain the backstop.
        exists = Finding.objects.filter(merchant=locked, rule_kind=rule.kind).filter(
            Q(state__in=Finding.ACTIVE_STATES) | Q(evaluated_on=day)
        )
        if exists.exists():
            raise DomainError("conflict")
        finding = Finding.objects.create(
            merchant=locked,
            rule=rule,
            rule_kind=rule.kind,
            rule_version=rule.version,
            evaluated_on=day,
            evidence=evidence,
            latest_evidence=evidence,
            last_breached_on=day,
            fix_by=day + timedelta(days=rule.fix_days),
        )
        summary = evidence_summary(kind=rule.kind, evidence=evidence)
        reason = f"{rule.kind} v{rule.version}: {summary}"
        if locked.state == State.LISTED:
            merchant_transition(merchant=locked, target=State.WARNED, actor=actor, reason=reason)
        merchant_set_open_findings(merchant=locked, value=True, actor=actor, reason=reason)
        audit_record(actor=actor, action="curation.finding_open", obj=finding, reason=reason, after=evidence)
        tell_owners(
            locked,
            kind="curation.finding",
            title=_("Warning for %(shop)s: %(rule)s"),
            body=_(
                "%(summary)s\nWhat to do: %(advice)s\nFix by %(fix_by)s, "
                "or a curator may suspend or remove the shop. You may appeal once."
            ),
            context={
                "rule": rule.get_kind_display(),
                "summary": summary,
                "advice": FINDING_ADVICE.get(rule.kind, ""),
                "fix_by": finding.fix_by.isoformat(),
            },
        )
    merchant.state = locked.state
    merchant.has_open_findings = True
    return finding


def _lock_finding(finding: Finding, *, allowed: tuple[str, ...] = Finding.ACTIVE_STATES) -> Finding:
    locked = Finding.objects.select_for_update().get(pk=finding.pk)
    if locked.state not in allowed:
        raise DomainError("finding_closed")
    return locked


def _close(locked: Finding, *, state: str, actor: Actor, reason: str, automatic: bool = False) -> None:
    locked.state = state
    locked.decided_at = timezone.now()
    locked.decided_by = actor if isinstance(actor, User) else None
    locked.decision_reason = reason
    locked.cleared_automatically = automatic
    locked.save(update_fields=["state", "decided_at", "decided_by", "decision_reason", "cleared_automatically"])


def _after_close(*, merchant: Merchant, actor: Actor, reason: str) -> None:
    """When the merchant's last active finding closes, it returns to ``listed`` (from warned or suspended)."""
    if Finding.objects.filter(merchant=merchant, state__in=Finding.ACTIVE_STATES).exists():
        return
    if merchant.state in (State.WARNED, State.SUSPENDED):
        merchant_transition(merchant=merchant, target=State.LISTED, actor=actor, reason=reason)
    merchant_set_open_findings(merchant=merchant, value=False, actor=actor, reason=reason)


def finding_clear(*, finding: Finding, actor: Actor, reason: str, automatic: bool = False) -> Finding:
    """Clear a finding (a curator with a reason, or the daily job when the rule is no longer breached by the
    fix-by date). The merchant is listed again when no other finding is open, and the owners are told."""
    if not automatic:
        require_curator(actor)
    if not (reason or "").strip():
        raise DomainError("finding_reason_required")
    with transaction.atomic():
        locked = _lock_finding(finding)
        merchant = merchant_lock(merchant_id=locked.merchant_id)
        _close(locked, state=Finding.State.CLEARED, actor=actor, reason=reason, automatic=automatic)
        audit_record(
            actor=actor,
            action="curation.finding_clear_auto" if automatic else "curation.finding_clear",
            obj=locked,
            reason=reason,
            after={"state": locked.state},
        )
        _after_close(merchant=merchant, actor=actor, reason=reason)
        tell_owners(
            merchant, kind="curation.finding_cleared", title=_("The warning for %(shop)s is cleared"), body=reason
        )
    finding.state, finding.decided_at = locked.state, locked.decided_at
    return finding


def finding_suspend(*, finding: Finding, actor: User, reason: str) -> Finding:
    """A curator suspends the merchant on this finding (it stops redeeming and leaves the catalogue)."""
    require_curator(actor)
    if not (reason or "").strip():
        raise DomainError("finding_reason_required")
    with transaction.atomic():
        locked = _lock_finding(finding, allowed=(Finding.State.OPEN,))
        merchant = merchant_lock(merchant_id=locked.merchant_id)
        locked.state = Finding.State.SUSPENDED
        locked.decided_by, locked.decision_reason = actor, reason
        locked.save(update_fields=["state", "decided_by", "decision_reason"])
        if merchant.state != State.SUSPENDED:
            merchant_transition(merchant=merchant, target=State.SUSPENDED, actor=actor, reason=reason)
        audit_record(actor=actor, action="curation.finding_suspend", obj=locked, reason=reason)
        tell_owners(
            merchant,
            kind="curation.merchant_suspended",
            title=_("%(shop)s is suspended from RedCard"),
            body=reason,
        )
    finding.state = locked.state
    return finding


def finding_remove(*, finding: Finding, actor: User, reason: str, now: datetime | None = None) -> Finding:
    """A curator removes the merchant (淘汰) on this finding, with a reason.

    The merchant leaves the catalogue and can no longer redeem at once (its state is ``removed``); its
    other active findings close with it; the owners are told, and so are the members who redeemed there or
    saved a note about it in the last 90 days. It may reapply after the admission cool-down.
    Raises ``finding_reason_required``, ``finding_closed``, ``curator_required``.
    """
    require_curator(actor)
    if not (reason or "").strip():
        raise DomainError("finding_reason_required")
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock_finding(finding)
        merchant = merchant_lock(merchant_id=locked.merchant_id)
        merchant_transition(merchant=merchant, target=State.REMOVED, actor=actor, reason=reason)
        for other in Finding.objects.select_for_update().filter(merchant=merchant, state__in=Finding.ACTIVE_STATES):
            _close(other, state=Finding.State.REMOVED, actor=actor, reason=reason)
        merchant_set_open_findings(merchant=merchant, value=False, actor=actor, reason=reason)
        audit_record(actor=actor, action="curation.finding_remove", obj=locked, reason=reason)
        tell_owners(
            merchant,
            kind="curation.merchant_removed",
            title=_("%(shop)s was removed from RedCard"),
            body=_("%(reason)s\nYou may apply again after the cool-down period."),
            context={"reason": reason},
        )
        since = (now - timedelta(days=REMOVAL_NOTICE_DAYS)).date()
        member_ids = members_attached_to_merchant(merchant=merchant, since=since)
        for member in User.objects.filter(pk__in=member_ids, is_active=True):
            notify(
                user=member,
                kind="curation.merchant_removed_member",
                title=_("%(shop)s is no longer part of RedCard"),
                body=_(
                    "The shop did not meet RedCard's standards and was removed. Your card works at all listed shops."
                ),
                url="/",
                context={"shop": merchant.name_zh},
            )
    finding.state = Finding.State.REMOVED
    locked.refresh_from_db()
    return locked


# --- Appeals ----------------------------------------------------------------------------------------------


def appeal_file(*, finding: Finding, actor: User, text: str) -> Appeal:
    """The owner appeals a finding, once (a database constraint holds it). Curators see it in their queue."""
    require_owner(merchant=finding.merchant, actor=actor)
    body = clean_text(text, required_code="appeal_text_required")
    with transaction.atomic():
        locked = _lock_finding(finding)
        if Appeal.objects.filter(finding=locked).exists():
            raise DomainError("appeal_already_filed")
        try:
            with transaction.atomic():
                appeal = Appeal.objects.create(finding=locked, author=actor, text=body)
        except IntegrityError as exc:
            raise DomainError("appeal_already_filed") from exc
        audit_record(actor=actor, action="curation.appeal_file", obj=locked, reason=body)
    return appeal


def appeal_decide(*, appeal: Appeal, actor: User, accept: bool, note: str) -> Appeal:
    """A curator accepts (the finding is cleared) or rejects an appeal, with a note to the owner."""
    require_curator(actor)
    if not (note or "").strip():
        raise DomainError("finding_reason_required")
    with transaction.atomic():
        locked = Appeal.objects.select_for_update().select_related("finding__merchant").get(pk=appeal.pk)
        if locked.state != Appeal.State.PENDING:
            raise DomainError("appeal_closed")
        locked.state = Appeal.State.ACCEPTED if accept else Appeal.State.REJECTED
        locked.decided_at, locked.decided_by, locked.decision_note = timezone.now(), actor, note
        locked.save(update_fields=["state", "decided_at", "decided_by", "decision_note"])
        audit_record(
            actor=actor,
            action="curation.appeal_decide",
            obj=locked.finding,
            reason=note,
            after={"appeal": locked.state},
        )
        if accept:
            finding_clear(finding=locked.finding, actor=actor, reason=note)
        else:
            tell_owners(
                locked.finding.merchant,
                kind="curation.appeal_rejected",
                title=_("Your appeal for %(shop)s was not accepted"),
                body=note,
            )
    return locked
