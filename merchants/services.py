"""Every write of the merchants app: admission of a merchant, listing states, offer, capacity, staff.

Functions are keyword-only, open their own transaction, lock what guards an invariant and record the
audit entry. Errors are ``DomainError`` with the codes of ``merchants.errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import webhooks
from core.db import violates
from core.errors import DomainError, field_error
from core.files import image_kind
from core.localtime import zone
from core.models import User
from core.services import Actor, audit_record, notify, transition_check
from core.sql import Write

from . import errors as _errors  # noqa: F401  (registers the codes)
from .models import (
    City,
    District,
    DistrictSearchDay,
    Merchant,
    MerchantDay,
    MerchantPhoto,
    MerchantStaff,
    Offer,
    OfferChange,
    OpeningSlot,
    phone_validator,
)
from .selectors import local_date, seats_taken, staff_membership
from .validators import OpeningHoursError, Problem, check_offer, parse_opening_hours, problems_error, week_slots

PROBATION_DAYS = 30

State = Merchant.State
TRANSITIONS: dict[str, frozenset[str]] = {
    State.PROBATION: frozenset({State.LISTED, State.WARNED, State.SUSPENDED, State.REMOVED}),
    State.LISTED: frozenset({State.WARNED, State.SUSPENDED, State.REMOVED}),
    State.WARNED: frozenset({State.LISTED, State.SUSPENDED, State.REMOVED}),
    State.SUSPENDED: frozenset({State.LISTED, State.REMOVED}),
    State.REMOVED: frozenset(),
}


def _hours(value: Any) -> dict[str, list[str]]:
    try:
        return parse_opening_hours(value)
    except OpeningHoursError as exc:
        raise problems_error({"opening_hours": exc.problem}) from exc


def _write_slots(merchant: Merchant) -> None:
    OpeningSlot.objects.filter(merchant=merchant).delete()
    OpeningSlot.objects.bulk_create(
        OpeningSlot(merchant=merchant, start_minute=a, end_minute=b) for a, b in week_slots(merchant.opening_hours)
    )


def merchant_admit(
    *,
    city_id: int,
    district_id: int,
    category_id: int,
    legal_name: str,
    name_zh: str,
    name_en: str,
    uscc: str,
    food_licence: str,
    address: str,
    lat: float,
    lng: float,
    average_spend_fen: int,
    external_rating: Decimal | None,
    dine_in: bool,
    opening_hours: dict[str, list[str]] | str,
    daily_capacity: int,
    rate_bp: int,
    cap_fen: int | None,
    min_bill_fen: int | None,
    notes_url: str,
    owner: User,
    actor: Actor,
    reason: str,
    now: datetime | None = None,
) -> Merchant:
    """Admit a merchant in ``probation`` for 30 days with its offer and the owner's staff role.

    Locks the city row and counts the seated merchants inside the transaction, so the last seat of a
    city is taken once however many curators approve at the same moment. Raises ``city_full`` when no
    seat is left and ``licence_duplicate`` when another live merchant holds the food licence.
    Call it inside the caller's transaction to make the admission part of a larger decision.
    """
    now = now or timezone.now()
    problems = check_offer(rate_bp=rate_bp, cap_fen=cap_fen, min_bill_fen=min_bill_fen)
    if problems:
        raise problems_error(problems)
    hours = _hours(opening_hours)
    with transaction.atomic():
        city = City.objects.select_for_update().get(pk=city_id)
        if seats_taken(city=city) >= city.seat_quota:
            raise DomainError("city_full", city=city.name)
        try:
            with transaction.atomic():
                merchant = Merchant.objects.create(
                    city=city,
                    district_id=district_id,
                    category_id=category_id,
                    legal_name=legal_name,
                    name_zh=name_zh,
                    name_en=name_en,
                    uscc=uscc,
                    food_licence=food_licence,
                    address=address,
                    lat=lat,
                    lng=lng,
                    average_spend_fen=average_spend_fen,
                    external_rating=external_rating,
                    dine_in=dine_in,
                    opening_hours=hours,
                    daily_capacity=daily_capacity,
                    notes_url=notes_url,
                    state=State.PROBATION,
                    state_changed_at=now,
                    probation_until=now + timedelta(days=PROBATION_DAYS),
                )
        except IntegrityError as exc:
            if violates(exc, "merchant_food_licence_active_unique"):
                raise DomainError("licence_duplicate") from exc
            raise
        Offer.objects.create(merchant=merchant, rate_bp=rate_bp, cap_fen=cap_fen, min_bill_fen=min_bill_fen)
        MerchantStaff.objects.create(merchant=merchant, user=owner, role=MerchantStaff.Role.OWNER)
        _write_slots(merchant)
        audit_record(
            actor=actor,
            action="merchants.merchant_admit",
            obj=merchant,
            reason=reason,
            after={"state": merchant.state, "city": city.code, "rate_bp": rate_bp, "owner": owner.email},
        )
    return merchant


def merchant_lock(*, merchant_id: int) -> Merchant:
    """The merchant's row, locked (``SELECT ... FOR UPDATE``) until the caller's transaction ends.

    For a higher app whose own invariant is guarded by the merchant (curation opens at most one finding per
    merchant and rule at a time). Outside ``transaction.atomic()`` Django refuses it
    (``TransactionManagementError``): the lock would end with the statement."""
    return Merchant.objects.select_for_update().get(pk=merchant_id)


def merchant_transition(*, merchant: Merchant, target: str, actor: Actor, reason: str) -> Merchant:
    """Move a merchant to another listing state (the only way its state changes).

    Raises ``invalid_transition`` for a move the state machine does not allow and
    ``merchant_reason_required`` when a warning, suspension or removal has no reason.
    """
    if target in (State.WARNED, State.SUSPENDED, State.REMOVED) and not reason.strip():
        raise DomainError("merchant_reason_required")
    with transaction.atomic():
        locked = Merchant.objects.select_for_update().get(pk=merchant.pk)
        transition_check(model="merchant", current=locked.state, target=target, allowed=TRANSITIONS)
        before = locked.state
        now = timezone.now()
        locked.state = target
        locked.state_changed_at = now
        if target == State.REMOVED:
            locked.removed_at = now
        if target == State.LISTED:
            locked.probation_until = None
        locked.save(update_fields=["state", "state_changed_at", "removed_at", "probation_until"])
        audit_record(
            actor=actor,
            action="merchants.merchant_transition",
            obj=locked,
            reason=reason,
            before={"state": before},
            after={"state": target},
        )
        # Partners that show the catalogue (content apps, platforms) learn that a shop was listed, warned,
        # suspended or removed (sent on commit; nothing when nobody listens).
        webhooks.emit(
            "merchant.listing_changed",
            {"merchant": locked.public_id, "state": target, "previous_state": before, "changed_at": now},
        )
    merchant.state, merchant.state_changed_at = locked.state, locked.state_changed_at
    merchant.removed_at, merchant.probation_until = locked.removed_at, locked.probation_until
    return merchant


def merchant_promote_due(*, now: datetime | None = None, exclude_ids: Iterable[int] = ()) -> list[int]:
    """List every merchant whose 30-day probation has ended with nothing wrong.

    Skips merchants flagged ``has_open_findings`` and any id in ``exclude_ids`` (a caller such as the
    removal-rule job may pass merchants it is still judging). Returns the ids promoted.
    """
    now = now or timezone.now()
    due = (
        Merchant.objects.filter(state=State.PROBATION, probation_until__lte=now, has_open_findings=False)
        .exclude(pk__in=list(exclude_ids))
        .order_by("pk")
    )
    promoted: list[int] = []
    for merchant in due:
        merchant_transition(
            merchant=merchant,
            target=State.LISTED,
            actor="system:merchant_promote_due",
            reason="probation ended without findings",
        )
        promoted.append(merchant.pk)
    return promoted


def merchant_set_open_findings(*, merchant: Merchant, value: bool, actor: Actor, reason: str) -> None:
    """Curation marks a merchant as having (or no longer having) an open removal-rule finding."""
    with transaction.atomic():
        updated = (
            Merchant.objects.filter(pk=merchant.pk).exclude(has_open_findings=value).update(has_open_findings=value)
        )
        if updated:
            audit_record(
                actor=actor,
                action="merchants.merchant_findings",
                obj=merchant,
                reason=reason,
                after={"has_open_findings": value},
            )
    merchant.has_open_findings = value


def merchant_set_promotion_hold(*, merchant: Merchant, hold: bool, actor: Actor, reason: str) -> None:
    """Stop (or resume) promoting a shop in the catalogue, e.g. when the surge detector fires."""
    with transaction.atomic():
        updated = Merchant.objects.filter(pk=merchant.pk).exclude(promotion_hold=hold).update(promotion_hold=hold)
        if updated:
            audit_record(
                actor=actor,
                action="merchants.merchant_promotion_hold",
                obj=merchant,
                reason=reason,
                after={"promotion_hold": hold},
            )
    merchant.promotion_hold = hold


# --- Capacity ----------------------------------------------------------------------------------
#
# A MerchantDay row counts the day's capacity (``redemptions_count``) and rolls up its confirmed redemptions
# for the owner's dashboard (``confirmed_count``, ``gmv_fen``, ``discount_fen``), both in the one statement
# that confirm and void already run.

_DAY = MerchantDay._meta.db_table

_TAKE_SQL = f"""
INSERT INTO {_DAY} (merchant_id, local_date, redemptions_count, confirmed_count, gmv_fen, discount_fen)
SELECT %s, %s, 1, 1, %s, %s WHERE %s > 0
ON CONFLICT (merchant_id, local_date) DO UPDATE
SET redemptions_count = {_DAY}.redemptions_count + 1,
    confirmed_count = {_DAY}.confirmed_count + 1,
    gmv_fen = {_DAY}.gmv_fen + EXCLUDED.gmv_fen,
    discount_fen = {_DAY}.discount_fen + EXCLUDED.discount_fen
WHERE {_DAY}.redemptions_count < %s
RETURNING redemptions_count
"""

_RELEASE_SQL = f"""
UPDATE {_DAY}
SET redemptions_count = CASE WHEN redemptions_count > 0 THEN redemptions_count - 1 ELSE 0 END,
    confirmed_count = confirmed_count - 1,
    gmv_fen = gmv_fen - %s,
    discount_fen = discount_fen - %s
WHERE merchant_id = %s AND local_date = %s
"""  # noqa: S608 (table name from the model, values bound)


def capacity_take(*, merchant_id: int, local_date: date, capacity: int, bill_fen: int, discount_fen: int) -> int:
    """Count one confirmed redemption (bill and discount in fen) against the merchant's capacity for
    ``local_date`` and return the new count; the day's dashboard roll-up grows in the same statement.

    One guarded upsert: concurrent callers never exceed ``capacity``. Raises ``merchant_at_capacity``
    when the day is full (nothing is written then).
    """
    write = capacity_take_write(
        merchant_id=merchant_id, local_date=local_date, capacity=capacity, bill_fen=bill_fen, discount_fen=discount_fen
    )
    with connection.cursor() as cursor:
        cursor.execute(write.sql, write.params)
        row = cursor.fetchone()
    if row is None:
        raise DomainError("merchant_at_capacity")
    return int(row[0])


def capacity_take_write(
    *, merchant_id: int, local_date: date, capacity: int, bill_fen: int, discount_fen: int
) -> Write:
    """``capacity_take`` as a ``Write`` for ``core.sql.writes_run``: returns the new count, or no row when the day
    is full (the caller refuses ``merchant_at_capacity``)."""
    return Write(_TAKE_SQL, [merchant_id, local_date, bill_fen, discount_fen, capacity, capacity], "redemptions_count")


def capacity_release(*, merchant_id: int, local_date: date, bill_fen: int, discount_fen: int) -> None:
    """Give back one unit of the day's capacity (a voided redemption; the capacity counter never goes below
    zero) and take the redemption's bill and discount off the day's dashboard roll-up. One statement."""
    with connection.cursor() as cursor:
        cursor.execute(_RELEASE_SQL, [bill_fen, discount_fen, merchant_id, local_date])


DayTotal = tuple[int, date, int, int, int]
"""(merchant id, local date, confirmed redemptions, bill total in fen, discount in fen)."""


def merchant_days_rebuild(
    *,
    totals: Callable[[], Iterable[DayTotal]],
    merchant_ids: Collection[int] | None = None,
    first: date | None = None,
    last: date | None = None,
) -> int:
    """Replace the dashboard roll-up (``confirmed_count``, ``gmv_fen``, ``discount_fen``) of the merchant days
    of ``merchant_ids`` (all by default) from ``first`` to ``last`` (inclusive, open by default) with
    ``totals()``, which the caller computes from its redemptions (every row inside that range). Days in the
    range that ``totals()`` leaves out get zero. The capacity counter is never touched (a day without a row
    gets one with ``redemptions_count`` 0). Returns the number of days written.

    Runs in one transaction. On PostgreSQL the table is locked against writers (``capacity_take`` and
    ``capacity_release`` wait; readers do not) before ``totals()`` is called, so the totals see every
    committed confirmation and a confirmation still in flight adds itself after the rebuild: none is lost
    or counted twice. Confirmations everywhere wait for the rebuild: keep the range narrow on a live system.
    """
    days = MerchantDay.objects.all()
    if merchant_ids is not None:
        days = days.filter(merchant_id__in=list(merchant_ids))
    if first is not None:
        days = days.filter(local_date__gte=first)
    if last is not None:
        days = days.filter(local_date__lte=last)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {_DAY} IN SHARE ROW EXCLUSIVE MODE")
        days.exclude(confirmed_count=0, gmv_fen=0, discount_fen=0).update(confirmed_count=0, gmv_fen=0, discount_fen=0)
        written, rows = 0, iter(totals())
        while batch := list(islice(rows, 2000)):  # streamed: a backfill of every day ever stays small in memory
            MerchantDay.objects.bulk_create(
                [
                    MerchantDay(merchant_id=m, local_date=d, confirmed_count=n, gmv_fen=gmv, discount_fen=discount)
                    for m, d, n, gmv, discount in batch
                ],
                update_conflicts=True,
                unique_fields=["merchant", "local_date"],
                update_fields=["confirmed_count", "gmv_fen", "discount_fen"],
            )
            written += len(batch)
    return written


# --- Console settings (owners) ---------------------------------------------------------------------


def _require_owner(*, merchant: Merchant, actor: User) -> None:
    membership = staff_membership(user=actor, merchant=merchant)
    if membership is None or not membership.is_owner:
        raise DomainError("staff_not_owner")


def merchant_pause_today(*, merchant: Merchant, actor: User, paused: bool, now: datetime | None = None) -> Merchant:
    """Pause (or resume) RedCard for the rest of the merchant's local day. Any staff member may do it."""
    if staff_membership(user=actor, merchant=merchant) is None:
        raise DomainError("permission_denied")
    today = local_date(merchant=merchant, at=now or timezone.now())
    with transaction.atomic():
        locked = Merchant.objects.select_for_update().get(pk=merchant.pk)
        before = locked.paused_on
        locked.paused_on = today if paused else None
        locked.save(update_fields=["paused_on"])
        audit_record(
            actor=actor,
            action="merchants.merchant_pause" if paused else "merchants.merchant_resume",
            obj=locked,
            before={"paused_on": before},
            after={"paused_on": locked.paused_on},
        )
    merchant.paused_on = locked.paused_on
    return merchant


def merchant_phone_set(*, merchant: Merchant, actor: User, phone: str) -> Merchant:
    """Set the public phone shown on the shop page (blank removes it). Owners only; audited."""
    _require_owner(merchant=merchant, actor=actor)
    phone = " ".join(phone.split())
    if phone:
        try:
            phone_validator(phone)
        except ValidationError as exc:
            raise field_error("phone", "invalid", exc.messages[0]) from exc
    return _owner_setting_set(merchant=merchant, actor=actor, field="phone", value=phone, action="merchants.phone_set")


def _owner_setting_set(*, merchant: Merchant, actor: User, field: str, value: object, action: str) -> Merchant:
    """Write one of the shop's settings under its row lock, with the audit entry (before/after)."""
    with transaction.atomic():
        locked = Merchant.objects.select_for_update().get(pk=merchant.pk)
        before = getattr(locked, field)
        setattr(locked, field, value)
        locked.save(update_fields=[field])
        audit_record(actor=actor, action=action, obj=locked, before={field: before}, after={field: value})
    setattr(merchant, field, value)
    return merchant


MAX_DAILY_CAPACITY = 5000


def merchant_offline_set(*, merchant: Merchant, actor: User, accept: bool) -> Merchant:
    """Let the shop's scanners accept member codes offline (or not). Owners only; audited."""
    _require_owner(merchant=merchant, actor=actor)
    return _owner_setting_set(
        merchant=merchant, actor=actor, field="offline_accept", value=accept, action="merchants.offline_accept_set"
    )


def merchant_capacity_set(*, merchant: Merchant, actor: User, daily_capacity: int) -> Merchant:
    """Set the daily RedCard capacity (1 to 5,000). Owners only."""
    _require_owner(merchant=merchant, actor=actor)
    if not 1 <= daily_capacity <= MAX_DAILY_CAPACITY:
        raise problems_error(
            {
                "daily_capacity": Problem(
                    "capacity_out_of_range", _("Daily capacity must be between 1 and 5,000 redemptions.")
                )
            }
        )
    return _owner_setting_set(
        merchant=merchant, actor=actor, field="daily_capacity", value=daily_capacity, action="merchants.capacity_set"
    )


def offer_is_lower(*, offer: Offer, rate_bp: int, cap_fen: int | None, min_bill_fen: int | None) -> bool:
    """Whether new terms are worse for members in any respect (smaller rate, smaller or new cap,
    higher or new minimum bill)."""
    if rate_bp < offer.rate_bp:
        return True
    if cap_fen is not None and (offer.cap_fen is None or cap_fen < offer.cap_fen):
        return True
    return min_bill_fen is not None and (offer.min_bill_fen is None or min_bill_fen > offer.min_bill_fen)


def offer_change_request(
    *, merchant: Merchant, actor: User, rate_bp: int, cap_fen: int | None, min_bill_fen: int | None
) -> OfferChange:
    """An owner changes the offer. Better terms apply at once; worse terms wait for a curator.

    Raises ``validation_failed`` (offer_rate_too_low…), ``staff_not_owner``, ``offer_change_pending``.
    """
    _require_owner(merchant=merchant, actor=actor)
    problems = check_offer(rate_bp=rate_bp, cap_fen=cap_fen, min_bill_fen=min_bill_fen)
    if problems:
        raise problems_error(problems)
    with transaction.atomic():
        offer = Offer.objects.select_for_update().get(merchant=merchant)
        lower = offer_is_lower(offer=offer, rate_bp=rate_bp, cap_fen=cap_fen, min_bill_fen=min_bill_fen)
        if lower and OfferChange.objects.filter(merchant=merchant, state=OfferChange.State.PENDING).exists():
            raise DomainError("offer_change_pending")
        change = OfferChange(
            merchant=merchant,
            rate_bp=rate_bp,
            cap_fen=cap_fen,
            min_bill_fen=min_bill_fen,
            requested_by=actor,
            state=OfferChange.State.PENDING if lower else OfferChange.State.APPLIED,
        )
        if not lower:
            change.decided_at = timezone.now()
            _apply_offer(offer=offer, change=change)
            # A better offer supersedes a lower one still waiting.
            OfferChange.objects.filter(merchant=merchant, state=OfferChange.State.PENDING).update(
                state=OfferChange.State.WITHDRAWN, decided_at=timezone.now()
            )
        try:
            with transaction.atomic():
                change.save()
        except IntegrityError as exc:
            raise DomainError("offer_change_pending") from exc
        audit_record(
            actor=actor,
            action="merchants.offer_change_request",
            obj=merchant,
            after={"rate_bp": rate_bp, "cap_fen": cap_fen, "min_bill_fen": min_bill_fen, "state": change.state},
        )
    return change


def _apply_offer(*, offer: Offer, change: OfferChange) -> None:
    offer.rate_bp, offer.cap_fen, offer.min_bill_fen = change.rate_bp, change.cap_fen, change.min_bill_fen
    offer.save(update_fields=["rate_bp", "cap_fen", "min_bill_fen", "updated_at"])


def offer_change_decide(*, change: OfferChange, approve: bool, actor: Actor, note: str = "") -> OfferChange:
    """A curator applies or rejects a lowered offer; the owners are told either way."""
    with transaction.atomic():
        locked = OfferChange.objects.select_for_update().select_related("merchant").get(pk=change.pk)
        target = OfferChange.State.APPLIED if approve else OfferChange.State.REJECTED
        transition_check(
            model="offer change",
            current=locked.state,
            target=target,
            allowed={OfferChange.State.PENDING: {OfferChange.State.APPLIED, OfferChange.State.REJECTED}},
        )
        if approve:
            _apply_offer(offer=Offer.objects.select_for_update().get(merchant=locked.merchant), change=locked)
        locked.state = target
        locked.decided_at = timezone.now()
        locked.decided_by = actor if isinstance(actor, User) else None
        locked.decision_note = note
        locked.save(update_fields=["state", "decided_at", "decided_by", "decision_note"])
        audit_record(
            actor=actor, action="merchants.offer_change_decide", obj=locked, reason=note, after={"state": target}
        )
        _tell_owners(
            locked.merchant,
            kind="merchants.offer_change",
            title=_("Your new offer for %(shop)s is live")
            if approve
            else _("Your offer change for %(shop)s was not accepted"),
            body=note,
        )
    return locked


def _tell_owners(merchant: Merchant, *, kind: str, title: Any, body: str) -> None:
    """Leave the shop's owners a notice (with the shop's name as ``%(shop)s``) linking to its console page."""
    for staff in MerchantStaff.objects.filter(merchant=merchant, role=MerchantStaff.Role.OWNER).select_related("user"):
        notify(
            user=staff.user,
            kind=kind,
            title=title,
            body=body,
            url=f"/merchants/console/{merchant.public_id}/",
            context={"shop": merchant.name_zh},
        )


# --- Staff -----------------------------------------------------------------------------------------


def staff_invite(*, merchant: Merchant, actor: User, email: str, role: str) -> MerchantStaff:
    """An owner adds a person (found or created by e-mail) as owner or staff and notifies them."""
    _require_owner(merchant=merchant, actor=actor)
    address = User.objects.normalize_email(email or "").strip().lower()
    problems: dict[str, Problem] = {}
    if "@" not in address or len(address) > 254 or " " in address:
        problems["email"] = Problem("email_invalid", _("Enter a valid e-mail address."))
    if role not in MerchantStaff.Role.values:
        problems["role"] = Problem("role_invalid", _("Choose owner or staff."))
    if problems:
        raise problems_error(problems)
    with transaction.atomic():
        user = User.objects.filter(email__iexact=address).first()
        if user is None:
            user = User.objects.create_user(address)  # no password: they set one with "forgot password"
        if MerchantStaff.objects.filter(merchant=merchant, user=user).exists():
            raise DomainError("staff_already_member")
        staff = MerchantStaff.objects.create(merchant=merchant, user=user, role=role)
        audit_record(
            actor=actor, action="merchants.staff_invite", obj=merchant, after={"user": user.email, "role": role}
        )
        notify(
            user=user,
            kind="merchants.staff_invite",
            title=_("You were added to %(shop)s on RedCard"),
            body=_(
                "%(inviter)s added you as %(role)s. Sign in with this e-mail address (use “forgot password” "
                "the first time) to open the shop's console."
            ),
            url=f"/merchants/console/{merchant.public_id}/",
            context={"shop": merchant.name_zh, "inviter": str(actor), "role": staff.get_role_display()},
        )
    return staff


def staff_remove(*, staff: MerchantStaff, actor: User) -> None:
    """An owner removes a staff member (never the last owner)."""
    _require_owner(merchant=staff.merchant, actor=actor)
    with transaction.atomic():
        owners = list(
            MerchantStaff.objects.select_for_update()
            .filter(merchant_id=staff.merchant_id, role=MerchantStaff.Role.OWNER)
            .values_list("pk", flat=True)
        )
        if staff.role == MerchantStaff.Role.OWNER and owners == [staff.pk]:
            raise DomainError("staff_last_owner")
        MerchantStaff.objects.filter(pk=staff.pk).delete()
        audit_record(
            actor=actor,
            action="merchants.staff_remove",
            obj=staff.merchant,
            before={"user": staff.user.email, "role": staff.role},
        )


def merchant_opening_hours_set(*, merchant: Merchant, actor: Actor, opening_hours: Any) -> Merchant:
    """Replace the opening hours (parsed and normalised) and their slots."""
    hours = _hours(opening_hours)
    with transaction.atomic():
        Merchant.objects.filter(pk=merchant.pk).update(opening_hours=hours)
        merchant.opening_hours = hours
        _write_slots(merchant)
        audit_record(actor=actor, action="merchants.opening_hours_set", obj=merchant, after={"opening_hours": hours})
    return merchant


# --- Shop photos -------------------------------------------------------------------------------------------

#: The largest photo an owner may upload.
MAX_SHOP_PHOTO_BYTES = 5 * 1024 * 1024


def shop_photo_upload(*, merchant: Merchant, actor: User, upload: UploadedFile, caption: str = "") -> MerchantPhoto:
    """An owner adds a photo of the shop; it waits for a curator before the shop page shows it.

    Raises ``staff_not_owner``, ``shop_photo_too_large``, ``shop_photo_not_image`` (judged by the bytes) and
    ``shop_photo_limit`` (``MerchantPhoto.LIMIT`` shown or waiting, counted under the shop's row lock)."""
    _require_owner(merchant=merchant, actor=actor)
    try:
        kind = image_kind(upload, max_bytes=MAX_SHOP_PHOTO_BYTES)
    except ValueError:
        raise DomainError("shop_photo_too_large", max_mb=MAX_SHOP_PHOTO_BYTES // (1024 * 1024)) from None
    if kind is None:
        raise DomainError("shop_photo_not_image")
    upload.name = f"photo.{kind}"
    with transaction.atomic():
        Merchant.objects.select_for_update().filter(pk=merchant.pk).first()
        live = MerchantPhoto.objects.filter(
            merchant=merchant, state__in=[MerchantPhoto.State.PENDING, MerchantPhoto.State.APPROVED]
        )
        if live.count() >= MerchantPhoto.LIMIT:
            raise DomainError("shop_photo_limit", limit=MerchantPhoto.LIMIT)
        photo = MerchantPhoto.objects.create(
            merchant=merchant, image=upload, caption=caption.strip()[:80], uploaded_by=actor
        )
        audit_record(
            actor=actor, action="merchants.shop_photo_upload", obj=merchant, after={"photo": str(photo.public_id)}
        )
    return photo


def shop_photo_decide(*, photo: MerchantPhoto, approve: bool, actor: Actor, reason: str = "") -> MerchantPhoto:
    """A curator shows or refuses a waiting photo (a refusal needs a reason); the owners are told either way.
    Raises ``merchant_reason_required`` and ``transition_invalid`` (already decided)."""
    if not approve and not reason.strip():
        raise DomainError("merchant_reason_required")
    with transaction.atomic():
        locked = MerchantPhoto.objects.select_for_update().select_related("merchant").get(pk=photo.pk)
        target = MerchantPhoto.State.APPROVED if approve else MerchantPhoto.State.REJECTED
        transition_check(
            model="shop photo",
            current=locked.state,
            target=target,
            allowed={MerchantPhoto.State.PENDING: {MerchantPhoto.State.APPROVED, MerchantPhoto.State.REJECTED}},
        )
        locked.state, locked.decided_at, locked.decision_reason = target, timezone.now(), reason.strip()
        locked.decided_by = actor if isinstance(actor, User) else None
        locked.save(update_fields=["state", "decided_at", "decided_by", "decision_reason"])
        audit_record(
            actor=actor,
            action="merchants.shop_photo_decide",
            obj=locked.merchant,
            reason=reason,
            after={"state": target},
        )
        _tell_owners(
            locked.merchant,
            kind="merchants.shop_photo",
            title=_("Your photo of %(shop)s is on the shop page")
            if approve
            else _("Your photo of %(shop)s was not accepted"),
            body=reason,
        )
    return locked


def shop_photo_remove(*, photo: MerchantPhoto, actor: User) -> None:
    """An owner takes a photo down (shown, waiting or refused); the file goes with it."""
    _require_owner(merchant=photo.merchant, actor=actor)
    with transaction.atomic():
        MerchantPhoto.objects.filter(pk=photo.pk).delete()
        audit_record(
            actor=actor,
            action="merchants.shop_photo_remove",
            obj=photo.merchant,
            before={"photo": str(photo.public_id)},
        )
        transaction.on_commit(lambda: photo.image.delete(save=False))


# --- Catalogue searches per district (the operations overview's coverage gaps) ---------------------------


def catalogue_search_count(*, district_code: str, city_code: str = "", at: datetime | None = None) -> int:
    """Count one search of the catalogue in the district ``district_code`` (of ``city_code`` when given): one
    counter per district and city day, raised with ``F()`` (an INSERT only for the day's first search, its
    race settled by the unique constraint). Who searched is never recorded. Returns how many districts were
    counted: 0 for an unknown code (nothing written), 2 for a code two cities share when no city was given
    (the catalogue then shows both)."""
    at = at or timezone.now()
    districts = District.objects.filter(code=district_code, city__is_active=True)
    if city_code:
        districts = districts.filter(city__code=city_code)
    counted = 0
    for district_id, zone_name in districts.values_list("pk", "city__timezone"):
        day = at.astimezone(zone(zone_name)).date()
        row = DistrictSearchDay.objects.filter(district_id=district_id, day=day)
        if not row.update(searches=F("searches") + 1):
            try:
                with transaction.atomic():
                    DistrictSearchDay.objects.create(district_id=district_id, day=day, searches=1)
            except IntegrityError:  # the day's first search came in at the same time: count on its row
                row.update(searches=F("searches") + 1)
        counted += 1
    return counted
