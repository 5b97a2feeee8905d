"""Complaints: filing (with a photo), assignment, replies, the owner's answer and the outcome; their SLA."""

from __future__ import annotations

from datetime import datetime

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from core.files import image_kind
from core.models import PartnerApplication, User
from core.services import audit_record, notify
from core.webhooks import emit
from curation.models import Complaint, ComplaintMessage
from merchants.models import Merchant
from redemptions.counter.selectors import has_visited
from redemptions.models import Redemption

from .. import errors as _errors  # noqa: F401  (registers the codes)
from .common import (
    DUPLICATE_WINDOW,
    MAX_PHOTO_BYTES,
    clean_text,
    require_curator,
    require_owner,
    sla_first_response,
    sla_resolution,
    tell_owners,
)

# --- Complaint photos --------------------------------------------------------------------------------


def photo_kind(photo: UploadedFile) -> str:
    """The image type ("jpg", "png", "webp") of a complaint's photo, judged by its bytes (``core.files.image_kind``).
    Raises ``complaint_photo_too_large`` above 5 MB and ``complaint_photo_not_image`` for anything else."""
    try:
        kind = image_kind(photo, max_bytes=MAX_PHOTO_BYTES)
    except ValueError:
        raise DomainError("complaint_photo_too_large", max_mb=MAX_PHOTO_BYTES // (1024 * 1024)) from None
    if kind is None:
        raise DomainError("complaint_photo_not_image")
    return kind


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
    body = clean_text(text, required_code="complaint_text_required")
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
            tell_owners(
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
    require_curator(actor)
    require_curator(assignee)
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
    require_curator(actor)
    text = clean_text(body, required_code="complaint_message_required")
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
    require_owner(merchant=complaint.merchant, actor=actor)
    text = clean_text(body, required_code="complaint_message_required")
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
    require_curator(actor)
    if outcome not in Complaint.Outcome.values:
        raise DomainError("complaint_outcome_invalid")
    text = clean_text(note, required_code="complaint_message_required")
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
