"""The removal rules (淘汰机制) as aggregate queries.

Each evaluator takes a rule (its parameters) and the evaluation day and returns, for every merchant that
breaches it, the evidence: the numbers, the thresholds and the rows they came from. Each evaluator is a
fixed number of queries over all merchants (GROUP BY / NOT EXISTS), never a query per merchant.

Windows are the ``window_days`` whole local days before the evaluation day (the day itself is not complete
yet): redemptions by their local day, complaints and surge flags by their time in the programme's zone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q

from curation.models import Complaint, MerchantLicence, RemovalRule
from merchants.models import Merchant
from merchants.selectors import merchants_in_states
from redemptions.counter.selectors import (
    confirmed_counts,
    last_visit_days,
    late_surge_flags,
    offline_conflicts,
    without_visits_since,
)

#: Merchants the rules judge: the ones members can see, plus those already warned.
EVALUATED_STATES = (Merchant.State.PROBATION, Merchant.State.LISTED, Merchant.State.WARNED)
#: At most this many source rows are copied into a finding's evidence (the counts are always complete).
EVIDENCE_ROWS = 50

Kind = RemovalRule.Kind

DEFAULT_RULES: dict[str, dict[str, Any]] = {
    Kind.COMPLAINT_RATE: {
        "parameters": {"window_days": 30, "max_rate_percent": 5, "min_redemptions": 20},
        "description": "Upheld complaints above 5% of redemptions over 30 days, with at least 20 redemptions.",
    },
    Kind.REFUSED_CARD: {
        "parameters": {"window_days": 30, "min_upheld": 2},
        "description": "Two or more upheld “refused the card” complaints in 30 days.",
    },
    Kind.RATING_FLOOR: {
        "parameters": {"min_rating": "4.0"},
        "description": "External rating (e.g. Dianping) below 4.0.",
    },
    Kind.DORMANT: {
        "parameters": {"days": 60},
        "description": "No redemptions for 60 days (merchants admitted at least 60 days ago).",
    },
    Kind.LICENCE_EXPIRED: {
        "parameters": {"grace_days": 0},
        "description": "A recorded licence has expired.",
    },
    Kind.SURGE_UNADDRESSED: {
        "parameters": {"window_days": 30, "min_flags": 2, "max_open_hours": 24},
        "description": "Two or more surge flags in 30 days that stayed open more than 24 hours.",
    },
    Kind.OFFLINE_CONFLICTS: {
        "parameters": {"window_days": 30, "min_conflicts": 3},
        "description": (
            "Three or more offline redemptions in conflict (code used elsewhere, card not active) in 30 days."
        ),
    },
}


def programme_zone() -> ZoneInfo:
    return ZoneInfo(settings.REDCARD_DEFAULT_TIMEZONE)


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the programme's zone."""
    return datetime.combine(day, time.min, tzinfo=programme_zone())


@dataclass(frozen=True)
class Window:
    first_day: date
    end_day: date  # exclusive: the evaluation day

    @property
    def start(self) -> datetime:
        return day_start(self.first_day)

    @property
    def end(self) -> datetime:
        return day_start(self.end_day)

    def as_evidence(self) -> dict[str, str]:
        return {"from": self.first_day.isoformat(), "to": (self.end_day - timedelta(days=1)).isoformat()}


def window(day: date, days: int) -> Window:
    return Window(first_day=day - timedelta(days=days), end_day=day)


def _param(rule: RemovalRule, name: str) -> Any:
    return rule.parameters.get(name, DEFAULT_RULES[rule.kind]["parameters"][name])


def _int_param(rule: RemovalRule, name: str) -> int:
    return int(_param(rule, name))


def _evaluated() -> Q:
    return Q(merchant__state__in=EVALUATED_STATES)


def _upheld_complaints(w: Window, *, category: str | None = None) -> dict[int, list[str]]:
    """merchant id -> public ids of complaints filed in the window and upheld (one query)."""
    rows = Complaint.objects.filter(
        _evaluated(), outcome__in=Complaint.UPHELD_OUTCOMES, created_at__gte=w.start, created_at__lt=w.end
    )
    if category:
        rows = rows.filter(category=category)
    found: dict[int, list[str]] = defaultdict(list)
    for merchant_id, public_id in rows.order_by("merchant_id", "created_at").values_list("merchant_id", "public_id"):
        found[merchant_id].append(str(public_id))
    return found


def complaint_rate(rule: RemovalRule, day: date) -> dict[int, dict[str, Any]]:
    """Upheld complaints / confirmed redemptions over the window > max_rate_percent, with at least
    min_redemptions redemptions. Two queries: the upheld complaints, then one GROUP BY over the
    redemptions of the merchants that have any."""
    w = window(day, _int_param(rule, "window_days"))
    max_rate = Decimal(str(_param(rule, "max_rate_percent")))
    min_redemptions = _int_param(rule, "min_redemptions")
    upheld = _upheld_complaints(w)
    if not upheld:
        return {}
    counts = confirmed_counts(merchant_ids=upheld, first_day=w.first_day, end_day=w.end_day)
    breaches: dict[int, dict[str, Any]] = {}
    for merchant_id, complaint_ids in upheld.items():
        redemptions = counts.get(merchant_id, 0)
        if redemptions < min_redemptions:
            continue
        # strictly above the threshold, in exact integer arithmetic: upheld / redemptions > max_rate / 100
        if Decimal(len(complaint_ids)) * 100 <= max_rate * redemptions:
            continue
        breaches[merchant_id] = {
            "window": w.as_evidence(),
            "redemptions": redemptions,
            "upheld_complaints": len(complaint_ids),
            "rate_percent": round(len(complaint_ids) * 100 / redemptions, 2),
            "max_rate_percent": float(max_rate),
            "min_redemptions": min_redemptions,
            "complaints": complaint_ids[:EVIDENCE_ROWS],
        }
    return breaches


def refused_card(rule: RemovalRule, day: date) -> dict[int, dict[str, Any]]:
    """At least min_upheld upheld “refused the card” complaints in the window (one query)."""
    w = window(day, _int_param(rule, "window_days"))
    minimum = _int_param(rule, "min_upheld")
    return {
        merchant_id: {
            "window": w.as_evidence(),
            "upheld_refused_card": len(ids),
            "min_upheld": minimum,
            "complaints": ids[:EVIDENCE_ROWS],
        }
        for merchant_id, ids in _upheld_complaints(w, category=Complaint.Category.REFUSED_CARD).items()
        if len(ids) >= minimum
    }


def rating_floor(rule: RemovalRule, day: date) -> dict[int, dict[str, Any]]:
    """External rating strictly below min_rating (merchants without a rating are not judged)."""
    floor = Decimal(str(_param(rule, "min_rating")))
    rows = (
        merchants_in_states(states=EVALUATED_STATES)
        .filter(external_rating__lt=floor)
        .values_list("pk", "external_rating")
    )
    return {pk: {"external_rating": str(rating), "min_rating": str(floor)} for pk, rating in rows}


def dormant(rule: RemovalRule, day: date) -> dict[int, dict[str, Any]]:
    """Admitted at least ``days`` days ago and no confirmed redemption in the last ``days`` days.

    One anti-join (NOT EXISTS on the (merchant, local_date) index) for all merchants, then one query for
    the last redemption day of the few that breach."""
    days = _int_param(rule, "days")
    since = day - timedelta(days=days)
    admitted_before = merchants_in_states(states=EVALUATED_STATES).filter(created_at__lt=day_start(since))
    ids = without_visits_since(admitted_before, since=since)
    if not ids:
        return {}
    last = last_visit_days(merchant_ids=ids)
    return {
        pk: {
            "days": days,
            "since": since.isoformat(),
            "last_redemption_on": last[pk].isoformat() if pk in last else None,
        }
        for pk in ids
    }


def licence_expired(rule: RemovalRule, day: date) -> dict[int, dict[str, Any]]:
    """A recorded licence expired before the evaluation day (minus the grace days). One query."""
    grace = _int_param(rule, "grace_days")
    found: dict[int, dict[str, Any]] = {}
    rows = (
        MerchantLicence.objects.filter(_evaluated(), expires_on__lt=day - timedelta(days=grace))
        .order_by("merchant_id", "expires_on")
        .values_list("merchant_id", "kind", "number", "expires_on")
    )
    for merchant_id, kind, number, expires_on in rows:
        entry = found.setdefault(merchant_id, {"grace_days": grace, "licences": []})
        entry["licences"].append({"kind": kind, "number": number, "expired_on": expires_on.isoformat()})
    return found


def surge_unaddressed(rule: RemovalRule, day: date) -> dict[int, dict[str, Any]]:
    """At least min_flags surge flags raised in the window that stayed open longer than max_open_hours
    (still open, or cleared late). One query."""
    w = window(day, _int_param(rule, "window_days"))
    hours = timedelta(hours=_int_param(rule, "max_open_hours"))
    minimum = _int_param(rule, "min_flags")
    rows = late_surge_flags(merchant_states=EVALUATED_STATES, start=w.start, end=w.end, max_open=hours)
    flags: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for merchant_id, pk, detected_at, cleared_at in rows:
        flags[merchant_id].append(
            {"id": pk, "detected_at": detected_at.isoformat(), "cleared_at": cleared_at and cleared_at.isoformat()}
        )
    return {
        merchant_id: {
            "window": w.as_evidence(),
            "unaddressed_flags": len(items),
            "min_flags": minimum,
            "max_open_hours": _int_param(rule, "max_open_hours"),
            "flags": items[:EVIDENCE_ROWS],
        }
        for merchant_id, items in flags.items()
        if len(items) >= minimum
    }


def offline_conflicts_repeated(rule: RemovalRule, day: date) -> dict[int, dict[str, Any]]:
    """At least min_conflicts offline redemptions in conflict synced in the window (a code used twice, a card
    that was not active at the scan): a sign of codes replayed at the counter. One query."""
    w = window(day, _int_param(rule, "window_days"))
    minimum = _int_param(rule, "min_conflicts")
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for merchant_id, pk, reason, scanned_at in offline_conflicts(
        merchant_states=EVALUATED_STATES, start=w.start, end=w.end
    ):
        found[merchant_id].append({"id": pk, "reason": reason, "scanned_at": scanned_at.isoformat()})
    return {
        merchant_id: {
            "window": w.as_evidence(),
            "offline_conflicts": len(items),
            "min_conflicts": minimum,
            "conflicts": items[:EVIDENCE_ROWS],
        }
        for merchant_id, items in found.items()
        if len(items) >= minimum
    }


EVALUATORS: dict[str, Callable[[RemovalRule, date], dict[int, dict[str, Any]]]] = {
    Kind.COMPLAINT_RATE: complaint_rate,
    Kind.REFUSED_CARD: refused_card,
    Kind.RATING_FLOOR: rating_floor,
    Kind.DORMANT: dormant,
    Kind.LICENCE_EXPIRED: licence_expired,
    Kind.SURGE_UNADDRESSED: surge_unaddressed,
    Kind.OFFLINE_CONFLICTS: offline_conflicts_repeated,
}
