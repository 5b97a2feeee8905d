"""Every write of merchant standing (issue 7): complaints and their SLA, the daily removal-rule evaluation,
findings and the warn / suspend / remove / clear workflow, and appeals.

Functions are keyword-only, open their own transaction, lock what guards an invariant, record the audit
entry and send notices (e-mail + in-app) through ``core.services.notify``. Listing states change only
through ``merchants.services.merchant_transition``. Errors are ``DomainError`` with the codes of
``curation.standing.errors``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from core.models import PartnerApplication, User
from core.roles import CURATOR
from core.services import Actor, audit_record, notify
from core.webhooks import emit
from curation.models import (
    Appeal,
    Complaint,
    ComplaintMessage,
    EvaluationRun,
    Finding,
    RemovalRule,
)
from merchants.models import Merchant
from merchants.selectors import is_owner, merchants_by_pk, merchants_in_states, owners_of
from merchants.services import merchant_lock, merchant_set_open_findings, merchant_transition
from redemptions.counter.selectors import has_visited, members_attached_to_merchant
from redemptions.models import Redemption

from . import errors as _errors  # noqa: F401  (registers the codes)
from .rules import DEFAULT_RULES, EVALUATED_STATES, EVALUATORS, programme_zone

logger = logging.getLogger(__name__)

State = Merchant.State
JOB_ACTOR = "system:removal_rules"
#: New findings committed per transaction by the daily job.
FINDING_BATCH = 200

MAX_TEXT = 2000
MAX_PHOTO_BYTES = 5 * 1024 * 1024
DUPLICATE_WINDOW = timedelta(minutes=1)
#: Members who redeemed at a shop this recently are told when it is removed (there is no "saved shop" yet).
REMOVAL_NOTICE_DAYS = 90


def sla_first_response() -> timedelta:
    return timedelta(hours=getattr(settings, "COMPLAINT_FIRST_RESPONSE_HOURS", 24))


def sla_resolution() -> timedelta:
    return timedelta(hours=getattr(settings, "COMPLAINT_RESOLUTION_HOURS", 72))


def is_curator(user: Any) -> bool:
    return bool(
        isinstance(user, User) and user.is_active and (user.is_superuser or user.groups.filter(name=CURATOR).exists())
    )


def _require_curator(actor: Actor) -> None:
    if not is_curator(actor):
        raise DomainError("curator_required")


def _tell_owners(
    merchant: Merchant, *, kind: str, title: Any, body: Any, context: dict[str, Any] | None = None
) -> None:
    """Notify every owner of ``merchant`` (e-mail + in-app), linking to the shop's standing page."""
    for owner in owners_of(merchant=merchant):
        notify(
            user=owner,
            kind=kind,
            title=title,
            body=body,
            url=f"/curation/standing/shop/{merchant.public_id}/",
            context={"shop": merchant.name_zh, **(context or {})},
        )


def _require_owner(*, merchant: Merchant, actor: User) -> None:
    if not is_owner(user=actor, merchant=merchant):
        raise DomainError("owner_required")


def _clean_text(text: str | None, *, required_code: str, max_len: int = MAX_TEXT) -> str:
    value = (text or "").strip()
    if not value:
        raise DomainError(required_code)
    if len(value) > max_len:
        raise DomainError("complaint_text_too_long", max=max_len)
    return value


# --- Complaint photos --------------------------------------------------------------------------------

_SIGNATURES: tuple[tuple[str, int, bytes], ...] = (("jpg", 0, b"\xff\xd8\xff"), ("png", 0, b"\x89PNG\r\n\x1a\n"))


def photo_kind(photo: UploadedFile) -> str:
    """Return the image type ("jpg", "png", "webp") of an upload, judged by its bytes, not its name.

    Pillow is not installed, so the structure is checked by hand: JPEG starts with SOI + a marker and
    ends with EOI; PNG starts with its signature and an IHDR chunk; WebP is a RIFF container of type WEBP
    whose declared size matches the file. Raises ``complaint_photo_too_large`` above 5 MB and
    ``complaint_photo_not_image`` for anything else.
    """
    size = photo.size or 0
    if size > MAX_PHOTO_BYTES:
        raise DomainError("complaint_photo_too_large", max_mb=MAX_PHOTO_BYTES // (1024 * 1024))
    photo.seek(0)
    head = photo.read(32)
    photo.seek(max(0, size - 2))
    tail = photo.read(2)
    photo.seek(0)
    if size >= 8 and head[:3] == b"\xff\xd8\xff" and tail == b"\xff\xd9":
        return "jpg"
    if size >= 33 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return "png"
    if size >= 20 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        declared = int.from_bytes(head[4:8], "little") + 8
        if declared == size and head[12:15] == b"VP8":
            return "webp"
    raise DomainError("complaint_photo_not_image")


# --- Complaints ----------------------------------------------------------------------------------------


def _emit_complaint(event: str, complaint: Complaint) -> None:
    if complaint.partner_id is None:
        return  # only the partner app that filed for the member hears about the ticket
    emit(
        event,
        {
            "complaint": str(complaint.public_id),
            "member": str(complaint.member.public_id),
            "merchant": str(complaint.merchant.public_id),
            "state": complaint.state,
            "outcome": complaint.outcome or None,
        },
        applications=[complaint.partner] if complaint.partner else None,
    )


def complaint_file(
    *,
    member: User,
    category: str,
    text: str,
    redemption: Redemption | None = None,
    merchant: Merchant | None = None,
    photo: UploadedFile | None = None,
    partner: PartnerApplication | None = None,
    now: datetime | None = None,
) -> Complaint:
    """A member (or a partner app on the member's behalf) complains about a redemption or a shop.

    The redemption must be the member's own (``complaint_redemption_not_yours``); a shop without a
    redemption must be one where the member has a confirmed redemption (``complaint_merchant_not_visited``).
    The same member, shop, redemption and category within one minute is refused (``complaint_duplicate``):
    the member's row is locked while we look, so two simultaneous submissions make one ticket. Also
    ``complaint_category_invalid``, ``complaint_text_required``, ``complaint_text_too_long``,
    ``complaint_photo_not_image``, ``complaint_photo_too_large``, ``complaint_target_required``.
    The shop's owners are told; the SLA clocks start now.
    """
    now = now or timezone.now()
    if category not in Complaint.Category.values:
        raise DomainError("complaint_category_invalid")
    body = _clean_text(text, required_code="complaint_text_required")
    ext = photo_kind(photo) if photo is not None else ""
    if redemption is not None:
        if redemption.member_id != member.pk:
            raise DomainError("complaint_redemption_not_yours")
        merchant = redemption.merchant
    elif merchant is not None:
        if not has_visited(member=member, merchant=merchant):
            raise DomainError("complaint_merchant_not_visited")
    else:
        raise DomainError("complaint_target_required")
    assert merchant is not None
    complaint = Complaint(
        member=member,
        merchant=merchant,
        redemption=redemption,
        partner=partner,
        category=category,
        text=body,
        created_at=now,
        first_response_due=now + sla_first_response(),
        resolution_due=now + sla_resolution(),
    )
    stored: str | None = None
    try:
        with transaction.atomic():
            User.objects.select_for_update().filter(pk=member.pk).values_list("pk", flat=True).get()
            duplicate = Complaint.objects.filter(
                member=member,
                merchant=merchant,
                redemption=redemption,
                category=category,
                created_at__gt=now - DUPLICATE_WINDOW,
            ).exists()
            if duplicate:
                raise DomainError("complaint_duplicate")
            if photo is not None:
                complaint.photo.save(f"photo.{ext}", photo, save=False)
                stored = complaint.photo.name
            complaint.save()
            audit_record(
                actor=f"partner:{partner.client_id}" if partner else member,
                action="curation.complaint_file",
                obj=complaint,
                after={"category": category, "merchant": str(merchant.public_id), "photo": bool(stored)},
            )
            _tell_owners(
                merchant,
                kind="curation.complaint_filed",
                title=_("A member complained about %(shop)s"),
                body=_("Category: %(category)s. You can read it and answer in your shop's standing page."),
                context={"category": complaint.get_category_display()},
            )
            _emit_complaint("complaint.filed", complaint)
    except BaseException:
        if stored:
            complaint.photo.storage.delete(stored)
        raise
    return complaint


def _lock_complaint(complaint: Complaint) -> Complaint:
    locked = Complaint.objects.select_for_update().get(pk=complaint.pk)
    if locked.state == Complaint.State.RESOLVED:
        raise DomainError("complaint_closed")
    return locked


def _sync(target: Complaint, source: Complaint) -> Complaint:
    for field in ("state", "outcome", "assignee_id", "first_responded_at", "resolved_at", "resolution_note"):
        setattr(target, field, getattr(source, field))
    return target


def complaint_assign(*, complaint: Complaint, assignee: User, actor: User) -> Complaint:
    """A curator gives the ticket to a curator (possibly themselves)."""
    _require_curator(actor)
    _require_curator(assignee)
    with transaction.atomic():
        locked = _lock_complaint(complaint)
        before = locked.assignee_id
        locked.assignee = assignee
        locked.save(update_fields=["assignee"])
        audit_record(
            actor=actor,
            action="curation.complaint_assign",
            obj=locked,
            before={"assignee": before},
            after={"assignee": assignee.pk},
        )
    return _sync(complaint, locked)


def complaint_reply(
    *, complaint: Complaint, actor: User, body: str, internal: bool = False, now: datetime | None = None
) -> ComplaintMessage:
    """A curator answers the member (e-mail + in-app notice) or leaves an internal note.

    The first answer to the member stops the first-response SLA clock and moves the ticket to
    ``answered``; an unassigned ticket is taken by the curator who answers.
    """
    _require_curator(actor)
    text = _clean_text(body, required_code="complaint_message_required")
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock_complaint(complaint)
        message = ComplaintMessage.objects.create(
            complaint=locked,
            author=actor,
            author_role=ComplaintMessage.Author.INTERNAL if internal else ComplaintMessage.Author.CURATOR,
            body=text,
            created_at=now,
        )
        fields: list[str] = []
        if locked.assignee_id is None:
            locked.assignee = actor
            fields.append("assignee")
        if not internal:
            if locked.first_responded_at is None:
                locked.first_responded_at = now
                fields.append("first_responded_at")
            if locked.state == Complaint.State.NEW:
                locked.state = Complaint.State.ANSWERED
                fields.append("state")
        if fields:
            locked.save(update_fields=fields)
        audit_record(
            actor=actor,
            action="curation.complaint_note" if internal else "curation.complaint_reply",
            obj=locked,
            after={"state": locked.state, "message": message.pk},
        )
        if not internal:
            notify(
                user=locked.member,
                kind="curation.complaint_reply",
                title=_("RedCard customer service answered your complaint about %(shop)s"),
                body=text,
                url=f"/curation/standing/complaints/{locked.public_id}/",
                context={"shop": locked.merchant.name_zh},
            )
            _emit_complaint("complaint.answered", locked)
    _sync(complaint, locked)
    return message


def complaint_merchant_answer(*, complaint: Complaint, actor: User, body: str) -> ComplaintMessage:
    """The shop's owner answers a complaint about their shop (visible to the curators and the member)."""
    _require_owner(merchant=complaint.merchant, actor=actor)
    text = _clean_text(body, required_code="complaint_message_required")
    with transaction.atomic():
        locked = _lock_complaint(complaint)
        message = ComplaintMessage.objects.create(
            complaint=locked, author=actor, author_role=ComplaintMessage.Author.MERCHANT, body=text
        )
        audit_record(
            actor=actor, action="curation.complaint_merchant_answer", obj=locked, after={"message": message.pk}
        )
        if locked.assignee is not None:
            notify(
                user=locked.assignee,
                kind="curation.complaint_merchant_answer",
                title=_("%(shop)s answered a complaint"),
                body=text,
                url=f"/admin/curation/complaint/{locked.pk}/change/",
                context={"shop": locked.merchant.name_zh},
            )
    return message


def complaint_resolve(
    *, complaint: Complaint, actor: User, outcome: str, note: str, now: datetime | None = None
) -> Complaint:
    """A curator closes the ticket with an outcome and a message to the member.

    Upheld outcomes (``upheld``, ``refunded_discount``) count against the shop in the removal rules.
    Raises ``complaint_outcome_invalid``, ``complaint_message_required``, ``complaint_closed``.
    """
    _require_curator(actor)
    if outcome not in Complaint.Outcome.values:
        raise DomainError("complaint_outcome_invalid")
    text = _clean_text(note, required_code="complaint_message_required")
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock_complaint(complaint)
        before = {"state": locked.state}
        ComplaintMessage.objects.create(
            complaint=locked, author=actor, author_role=ComplaintMessage.Author.CURATOR, body=text, created_at=now
        )
        locked.state = Complaint.State.RESOLVED
        locked.outcome = outcome
        locked.resolution_note = text
        locked.resolved_at = now
        locked.first_responded_at = locked.first_responded_at or now
        locked.assignee = locked.assignee or actor
        locked.save(
            update_fields=["state", "outcome", "resolution_note", "resolved_at", "first_responded_at", "assignee"]
        )
        audit_record(
            actor=actor,
            action="curation.complaint_resolve",
            obj=locked,
            reason=text,
            before=before,
            after={"state": locked.state, "outcome": outcome},
        )
        notify(
            user=locked.member,
            kind="curation.complaint_resolved",
            title=_("Your complaint about %(shop)s was resolved: %(outcome)s"),
            body=text,
            url=f"/curation/standing/complaints/{locked.public_id}/",
            context={"shop": locked.merchant.name_zh, "outcome": locked.get_outcome_display()},
        )
        _emit_complaint("complaint.resolved", locked)
    return _sync(complaint, locked)


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
        _tell_owners(
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
        _require_curator(actor)
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
        _tell_owners(
            merchant, kind="curation.finding_cleared", title=_("The warning for %(shop)s is cleared"), body=reason
        )
    finding.state, finding.decided_at = locked.state, locked.decided_at
    return finding


def finding_suspend(*, finding: Finding, actor: User, reason: str) -> Finding:
    """A curator suspends the merchant on this finding (it stops redeeming and leaves the catalogue)."""
    _require_curator(actor)
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
        _tell_owners(
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
    _require_curator(actor)
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
        _tell_owners(
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
    _require_owner(merchant=finding.merchant, actor=actor)
    body = _clean_text(text, required_code="appeal_text_required")
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
    _require_curator(actor)
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
            _tell_owners(
                locked.finding.merchant,
                kind="curation.appeal_rejected",
                title=_("Your appeal for %(shop)s was not accepted"),
                body=note,
            )
    return locked


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
