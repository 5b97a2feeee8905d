"""Admission rule evaluators: one function per rule type, reading the application and the rule's parameters.

Each returns ``(outcome, evidence)``; evidence is JSON shown to the reviewer next to the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from curation.models import AdmissionRule, Application, RuleResult
from merchants import selectors as merchant_selectors
from merchants.validators import check_food_licence, check_uscc

Outcome = RuleResult.Outcome
Kind = AdmissionRule.Kind
Result = tuple[str, dict[str, Any]]


def _seats_left(app: Application, params: dict[str, Any], now: datetime) -> Result:
    if app.city is None:
        return Outcome.NEEDS_JUDGEMENT, {"missing": "city"}
    left = merchant_selectors.seats_left(city=app.city)
    minimum = int(params.get("min_left", 1))
    evidence = {"city": app.city.code, "quota": app.city.seat_quota, "left": left}
    return (Outcome.PASS if left >= minimum else Outcome.FAIL), evidence


def _category_open(app: Application, params: dict[str, Any], now: datetime) -> Result:
    if app.city is None or app.category is None:
        return Outcome.NEEDS_JUDGEMENT, {"missing": "city or category"}
    is_open = merchant_selectors.category_open(city=app.city, category=app.category)
    return (Outcome.PASS if is_open else Outcome.FAIL), {"city": app.city.code, "category": app.category.code}


def _min_rating(app: Application, params: dict[str, Any], now: datetime) -> Result:
    try:
        minimum = Decimal(str(params.get("min", "4.5")))
    except InvalidOperation:
        minimum = Decimal("4.5")
    if app.external_rating is None:
        return Outcome.NEEDS_JUDGEMENT, {"min": str(minimum), "rating": None}
    evidence = {"min": str(minimum), "rating": str(app.external_rating)}
    return (Outcome.PASS if app.external_rating >= minimum else Outcome.FAIL), evidence


def _dine_in(app: Application, params: dict[str, Any], now: datetime) -> Result:
    required = bool(params.get("required", True))
    ok = app.dine_in or not required
    return (Outcome.PASS if ok else Outcome.FAIL), {"dine_in": app.dine_in, "required": required}


def _min_offer(app: Application, params: dict[str, Any], now: datetime) -> Result:
    minimum = int(params.get("min_bp", 1000))
    if app.offer_rate_bp is None:
        return Outcome.FAIL, {"min_bp": minimum, "rate_bp": None}
    return (Outcome.PASS if app.offer_rate_bp >= minimum else Outcome.FAIL), {
        "min_bp": minimum,
        "rate_bp": app.offer_rate_bp,
    }


def _spend_in_band(app: Application, params: dict[str, Any], now: datetime) -> Result:
    if app.category is None or app.average_spend_fen is None:
        return Outcome.NEEDS_JUDGEMENT, {"missing": "category or average spend"}
    low, high, spend = app.category.spend_min_fen, app.category.spend_max_fen, app.average_spend_fen
    tolerance = Decimal(str(params.get("tolerance_pct", 10))) / 100
    evidence = {"band_fen": [low, high], "spend_fen": spend, "tolerance_pct": str(tolerance * 100)}
    if low <= spend <= high:
        return Outcome.PASS, evidence
    if low * (1 - tolerance) <= spend <= high * (1 + tolerance):
        return Outcome.NEEDS_JUDGEMENT, evidence
    return Outcome.FAIL, evidence


def _licences_valid(app: Application, params: dict[str, Any], now: datetime) -> Result:
    problems = {}
    if p := check_uscc(app.uscc):
        problems["uscc"] = p.code
    food = bool(app.category and app.category.is_food)
    if p := check_food_licence(app.food_licence, required=food):
        problems["food_licence"] = p.code
    return (Outcome.FAIL if problems else Outcome.PASS), {"problems": problems, "food_category": food}


def _unique_licence(app: Application, params: dict[str, Any], now: datetime) -> Result:
    same_licence = list(
        merchant_selectors.live_merchants_with_licence(food_licence=app.food_licence).values_list(
            "public_id", flat=True
        )
    )
    other_apps = list(
        Application.objects.filter(
            food_licence__iexact=app.food_licence, state__in=[Application.State.SUBMITTED, Application.State.IN_REVIEW]
        )
        .exclude(pk=app.pk)
        .values_list("public_id", flat=True)
        if app.food_licence
        else []
    )
    same_uscc = list(merchant_selectors.live_merchants_with_uscc(uscc=app.uscc).values_list("public_id", flat=True))
    evidence = {
        "merchants_with_licence": [str(x) for x in same_licence],
        "applications_with_licence": [str(x) for x in other_apps],
        "merchants_with_credit_code": [str(x) for x in same_uscc],
    }
    if same_licence or other_apps:
        return Outcome.FAIL, evidence
    if same_uscc:  # one company may run several shops: a person decides
        return Outcome.NEEDS_JUDGEMENT, evidence
    return Outcome.PASS, evidence


def _not_recently_removed(app: Application, params: dict[str, Any], now: datetime) -> Result:
    days = int(params.get("days", 180))
    removed = list(
        merchant_selectors.removed_since(uscc=app.uscc, food_licence=app.food_licence, since=now - timedelta(days=days))
        .order_by("-removed_at")
        .values_list("public_id", "removed_at")
    )
    evidence = {
        "days": days,
        "removed": [{"merchant": str(pid), "removed_at": at.isoformat() if at else None} for pid, at in removed],
    }
    return (Outcome.FAIL if removed else Outcome.PASS), evidence


EVALUATORS: dict[str, Callable[[Application, dict[str, Any], datetime], Result]] = {
    Kind.SEATS_LEFT: _seats_left,
    Kind.CATEGORY_OPEN: _category_open,
    Kind.MIN_RATING: _min_rating,
    Kind.DINE_IN: _dine_in,
    Kind.MIN_OFFER: _min_offer,
    Kind.SPEND_IN_BAND: _spend_in_band,
    Kind.LICENCES_VALID: _licences_valid,
    Kind.UNIQUE_LICENCE: _unique_licence,
    Kind.NOT_RECENTLY_REMOVED: _not_recently_removed,
}

DEFAULT_PARAMETERS: dict[str, dict[str, Any]] = {
    Kind.SEATS_LEFT: {"min_left": 1},
    Kind.CATEGORY_OPEN: {},
    Kind.MIN_RATING: {"min": "4.5"},
    Kind.DINE_IN: {"required": True},
    Kind.MIN_OFFER: {"min_bp": 1000},
    Kind.SPEND_IN_BAND: {"tolerance_pct": 10},
    Kind.LICENCES_VALID: {},
    Kind.UNIQUE_LICENCE: {},
    Kind.NOT_RECENTLY_REMOVED: {"days": 180},
}
