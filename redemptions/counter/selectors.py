"""Reads of the redemption path that pages, the API, dashboards and curation reuse."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from core.models import User
from merchants.models import Merchant
from merchants.selectors import local_date

from ..models import Claim, NfcTag, Redemption, RefusedScan, SurgeFlag


def merchant_by_public_id(*, public_id: Any) -> Merchant | None:
    """A merchant in any state, with what the redemption path reads (city for the local day, offer)."""
    try:
        return Merchant.objects.select_related("city", "offer").get(public_id=public_id)
    except Merchant.DoesNotExist:
        return None


def redemptions_of_member(*, member: User) -> QuerySet[Redemption]:
    """My redemptions, newest first, with the shop (one query per page)."""
    return Redemption.objects.filter(member=member).select_related("merchant").order_by("-confirmed_at", "-id")


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
        .select_related("member", "staff")
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
