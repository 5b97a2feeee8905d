"""Reads of the redemption path that pages, the API, dashboards and curation reuse."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from core.models import User
from members.selectors import in_paid_period
from merchants.models import Merchant
from merchants.selectors import local_date, redeem_refusal, today_used

from ..models import Claim, NfcTag, OfflineRedemption, Redemption, RefusedScan, SurgeFlag
from . import codes


def merchant_by_public_id(*, public_id: Any) -> Merchant | None:
    """A merchant in any state, with what the redemption path reads (city for the local day, offer)."""
    try:
        return Merchant.objects.select_related("city", "offer").get(public_id=public_id)
    except Merchant.DoesNotExist:
        return None


def active_person(*, pk: int) -> User | None:
    """A signed-in person named by id (the claim feed's token), while their account is active."""
    return User.objects.filter(pk=pk, is_active=True).first()


def redemption_by_public_id(*, public_id: Any) -> Redemption | None:
    """A redemption in any state, with its shop."""
    return Redemption.objects.select_related("merchant").filter(public_id=public_id).first()


def redemption_of_member(*, member: User, public_id: Any) -> Redemption | None:
    """The member's own redemption with this public id, with its shop."""
    return Redemption.objects.filter(member=member, public_id=public_id).select_related("merchant").first()


def has_visited(*, member: User, merchant: Merchant) -> bool:
    """Whether ``member`` has a confirmed redemption at ``merchant``."""
    return Redemption.objects.filter(member=member, merchant=merchant, status=Redemption.Status.CONFIRMED).exists()


def merchants_visited(*, member: User) -> QuerySet[Merchant]:
    """The shops where ``member`` has a confirmed redemption, by name (one query)."""
    visited = Redemption.objects.filter(member=member, merchant=OuterRef("pk"), status=Redemption.Status.CONFIRMED)
    return Merchant.objects.filter(Exists(visited)).order_by("name_zh")


def redemptions_of_member(*, member: User) -> QuerySet[Redemption]:
    """My redemptions, newest first, with the shop (one query per page)."""
    return (
        Redemption.objects.filter(member=member).select_related("merchant", "partner").order_by("-confirmed_at", "-id")
    )


def member_last_redemption(*, member: User) -> Redemption | None:
    """The member's newest redemption with its shop (the card's status poll): one index-backed query."""
    return Redemption.objects.filter(member=member).select_related("merchant").order_by("-confirmed_at", "-id").first()


def member_totals(*, member: User) -> dict[str, int]:
    """Visits and savings over all confirmed redemptions."""
    totals = Redemption.objects.filter(member=member, status=Redemption.Status.CONFIRMED).aggregate(
        visits=Count("id"), saved=Sum("discount_fen")
    )
    return {"visits": totals["visits"] or 0, "saved_fen": totals["saved"] or 0}


def redemptions_of_merchant_day(*, merchant: Merchant, day: date) -> QuerySet[Redemption]:
    """A shop's redemptions of one local day, newest first (the staff list)."""
    return (
        Redemption.objects.filter(merchant=merchant, local_date=day)
        .select_related("member", "staff", "partner")
        .order_by("-confirmed_at", "-id")
    )


def merchant_today(*, merchant: Merchant, at: datetime | None = None) -> date:
    return local_date(merchant=merchant, at=at or timezone.now())


def pending_claims(*, merchant: Merchant, at: datetime | None = None) -> QuerySet[Claim]:
    """Claims waiting for staff at a shop (expired ones left out), oldest first."""
    return (
        Claim.objects.filter(merchant=merchant, status=Claim.Status.PENDING, expires_at__gt=at or timezone.now())
        .select_related("member")
        .order_by("created_at", "id")
    )


def claim_of_member(*, member: User, public_id: Any) -> Claim | None:
    return Claim.objects.select_related("merchant", "redemption").filter(member=member, public_id=public_id).first()


def claim_of_merchant(*, merchant: Merchant, public_id: Any) -> Claim | None:
    return Claim.objects.select_related("member").filter(merchant=merchant, public_id=public_id).first()


def tag_of_merchant(*, merchant: Merchant, public_id: Any) -> NfcTag | None:
    return NfcTag.objects.filter(merchant=merchant, public_id=public_id, is_active=True).first()


def tags_of_merchant(*, merchant: Merchant) -> QuerySet[NfcTag]:
    return NfcTag.objects.filter(merchant=merchant).order_by("label", "id")


def refusals(*, since: datetime, merchant: Merchant | None = None) -> QuerySet[RefusedScan]:
    qs = RefusedScan.objects.filter(at__gte=since).select_related("merchant", "staff", "member")
    return qs.filter(merchant=merchant) if merchant is not None else qs


def merchant_redemption_stats(*, merchant: Merchant, since: date) -> dict[str, int]:
    """Confirmed redemptions, bill total and discount total since a local day (dashboards, curation)."""
    row = Redemption.objects.filter(
        Q(merchant=merchant, local_date__gte=since), status=Redemption.Status.CONFIRMED
    ).aggregate(n=Count("id"), bills=Sum("bill_fen"), discounts=Sum("discount_fen"))
    return {"redemptions": row["n"] or 0, "bill_fen": row["bills"] or 0, "discount_fen": row["discounts"] or 0}


def surging_merchant_ids() -> set[int]:
    """Merchants with an open surge flag (not promoted until a curator clears it)."""
    return set(SurgeFlag.objects.filter(cleared_at__isnull=True).values_list("merchant_id", flat=True))


def members_attached_to_merchant(*, merchant: Merchant, since: date) -> set[int]:
    """Members who redeemed at ``merchant`` or saved a note about it since ``since``: the people to tell
    when the shop leaves RedCard. Two index-backed queries."""
    from ..models import NoteMerchant, Touch

    redeemed = Redemption.objects.filter(
        merchant=merchant, status=Redemption.Status.CONFIRMED, local_date__gte=since
    ).values_list("member_id", flat=True)
    notes = NoteMerchant.objects.filter(merchant=merchant).values_list("note_id", flat=True)
    saved = Touch.objects.filter(note_id__in=notes, kind=Touch.Kind.SAVE, touched_at__date__gte=since).values_list(
        "member_id", flat=True
    )
    return set(redeemed.distinct()) | set(saved.distinct())


# --- Reads for merchant standing and the operations overview (curation) ------------------------------------


def confirmed_counts(*, merchant_ids: Any, first_day: date, end_day: date) -> dict[int, int]:
    """merchant id -> confirmed redemptions on local days ``first_day`` <= day < ``end_day`` (one GROUP BY)."""
    rows = (
        Redemption.objects.filter(
            merchant_id__in=list(merchant_ids),
            status=Redemption.Status.CONFIRMED,
            local_date__gte=first_day,
            local_date__lt=end_day,
        )
        .values("merchant_id")
        .annotate(n=Count("id"))
        .values_list("merchant_id", "n")
    )
    return dict(rows)


def without_visits_since(merchants: QuerySet[Merchant], *, since: date) -> list[int]:
    """The ids of ``merchants`` with no confirmed redemption on or after local day ``since`` (one anti-join on
    the (merchant, local_date) index)."""
    recent = Redemption.objects.filter(
        merchant_id=OuterRef("pk"), status=Redemption.Status.CONFIRMED, local_date__gte=since
    )
    return list(merchants.filter(~Exists(recent)).values_list("pk", flat=True))


def last_visit_days(*, merchant_ids: Any) -> dict[int, date]:
    """merchant id -> the local day of its last confirmed redemption (merchants without one are absent)."""
    rows = (
        Redemption.objects.filter(merchant_id__in=list(merchant_ids), status=Redemption.Status.CONFIRMED)
        .values("merchant_id")
        .annotate(last=Max("local_date"))
        .values_list("merchant_id", "last")
    )
    return dict(rows)


def late_surge_flags(
    *, merchant_states: Any, start: datetime, end: datetime, max_open: timedelta
) -> list[tuple[int, int, datetime, datetime | None]]:
    """(merchant id, flag id, detected, cleared) of the surge flags raised in [start, end) at merchants in
    ``merchant_states`` that stayed open longer than ``max_open`` (still open at ``end``, or cleared late)."""
    late = Q(cleared_at__isnull=True, detected_at__lt=end - max_open) | Q(cleared_at__gt=F("detected_at") + max_open)
    return list(
        SurgeFlag.objects.filter(late, merchant__state__in=merchant_states, detected_at__gte=start, detected_at__lt=end)
        .order_by("merchant_id", "detected_at")
        .values_list("merchant_id", "pk", "detected_at", "cleared_at")
    )


def surge_flag_counts(*, since: datetime) -> tuple[int, int]:
    """(open surge flags, flags raised since ``since``): one aggregate."""
    row = SurgeFlag.objects.aggregate(
        open=Count("pk", filter=Q(cleared_at__isnull=True)), recent=Count("pk", filter=Q(detected_at__gte=since))
    )
    return row["open"] or 0, row["recent"] or 0


def confirmed_totals_by_city_day(*, first: date, end: date) -> list[dict[str, Any]]:
    """Per (city, local day) in [first, end): confirmed redemptions, distinct members, bills and discounts in fen
    (keys ``city_id``, ``local_date``, ``redemptions``, ``members``, ``bill_fen``, ``discount_fen``). One GROUP BY."""
    rows = (
        Redemption.objects.filter(status=Redemption.Status.CONFIRMED, local_date__gte=first, local_date__lt=end)
        .values("merchant__city_id", "local_date")
        .annotate(
            n=Count("id"),
            members=Count("member_id", distinct=True),
            bill=Sum("bill_fen"),
            discount=Sum("discount_fen"),
        )
    )
    return [
        {
            "city_id": row["merchant__city_id"],
            "local_date": row["local_date"],
            "redemptions": row["n"],
            "members": row["members"],
            "bill_fen": row["bill"] or 0,
            "discount_fen": row["discount"] or 0,
        }
        for row in rows
    ]


# --- The scanner's state (what it holds to preview codes and accept them offline) ----------------------


def offline_queue_max() -> int:
    """How many offline redemptions a scanner keeps before it stops accepting more offline."""
    return int(getattr(settings, "REDCARD_OFFLINE_QUEUE_MAX", 50))


def offline_max_age() -> timedelta:
    """How long after the scan an offline redemption is still accepted by the server (default 24 h)."""
    return timedelta(seconds=int(getattr(settings, "REDCARD_OFFLINE_MAX_AGE_SECONDS", 24 * 3600)))


def offline_clock_skew() -> int:
    """How far (seconds) a scanner's clock may be off when it stamps an offline scan."""
    return int(getattr(settings, "REDCARD_OFFLINE_CLOCK_SKEW_SECONDS", 300))


def counter_state(*, merchant: Merchant, at: datetime | None = None) -> dict[str, Any]:
    """What the scanner page holds and refreshes: the public keys and code timing (to verify codes itself),
    the offer terms (to compute the discount as the bill is typed), the shop's state (paused, full) and
    its offline policy. ``merchant`` is loaded with its offer; one query for today's count."""
    at = at or timezone.now()
    offer = merchant.offer
    used = today_used(merchant=merchant, at=at)
    return {
        "server_time": int(at.timestamp() * 1000),
        "keys": codes.public_keys(),
        "rotate_seconds": codes.rotate_seconds(),
        "valid_seconds": codes.valid_seconds(),
        "offer": {"rate_bp": offer.rate_bp, "cap_fen": offer.cap_fen, "min_bill_fen": offer.min_bill_fen},
        "refusal": redeem_refusal(merchant=merchant, at=at),
        "capacity": merchant.daily_capacity,
        "used": used,
        "full": used >= merchant.daily_capacity,
        "member_limit": merchant.member_daily_limit,
        "offline": {
            "enabled": merchant.offline_accept,
            "queue_max": offline_queue_max(),
            "max_age_seconds": int(offline_max_age().total_seconds()),
        },
    }


#: Offline outcomes the owner and curation look at.
OFFLINE_ATTENTION = (
    OfflineRedemption.Outcome.FLAGGED,
    OfflineRedemption.Outcome.CONFLICT,
    OfflineRedemption.Outcome.REFUSED,
)


def offline_attention(*, merchant: Merchant, since: datetime, limit: int = 50) -> list[OfflineRedemption]:
    """The shop's offline redemptions that were flagged, in conflict or refused since ``since``, newest first
    (the owner's dashboard). One query."""
    return list(
        OfflineRedemption.objects.filter(merchant=merchant, outcome__in=OFFLINE_ATTENTION, received_at__gte=since)
        .select_related("member", "staff", "redemption")
        .order_by("-received_at", "-id")[:limit]
    )


def offline_conflicts(*, merchant_states: Any, start: datetime, end: datetime) -> list[tuple[int, int, str, datetime]]:
    """(merchant id, record id, first reason, scan time) of the offline conflicts (code used elsewhere, card not
    entitled at the scan) synced in [start, end) at merchants in ``merchant_states``: curation's fraud signal.
    One query."""
    rows = (
        OfflineRedemption.objects.filter(
            outcome=OfflineRedemption.Outcome.CONFLICT,
            merchant__state__in=merchant_states,
            received_at__gte=start,
            received_at__lt=end,
        )
        .order_by("merchant_id", "received_at")
        .values_list("merchant_id", "pk", "reasons", "scanned_at")
    )
    return [(merchant_id, pk, (reasons or [""])[0], scanned_at) for merchant_id, pk, reasons, scanned_at in rows]


def paid_members_savings(*, since: datetime) -> int:
    """What members saved (fen) since ``since`` in confirmed redemptions made on a paid card year: the savings
    the fee paid for (trial days excluded), for the operations overview's savings / fee ratio."""
    paid = in_paid_period(subscription_ref=OuterRef("subscription_id"), at_ref=OuterRef("confirmed_at"))
    total = (
        Redemption.objects.filter(status=Redemption.Status.CONFIRMED, confirmed_at__gte=since)
        .filter(paid)
        .aggregate(n=Sum("discount_fen"))["n"]
    )
    return int(total or 0)
