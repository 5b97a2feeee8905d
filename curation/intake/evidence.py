"""What an admission rule found, in words a curator reads at a glance: money in ¥, discounts in %, ratings in
stars, days as days. The evidence itself stays JSON in the database (``RuleResult.evidence``); this only
renders it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from curation.models import AdmissionRule


def yuan(fen: Any) -> str:
    """``12345`` fen -> ``¥123.45`` (``¥123`` when whole)."""
    value = Decimal(int(fen)) / 100
    return f"¥{value:,.0f}" if value == value.to_integral_value() else f"¥{value:,.2f}"


def percent(bp: Any) -> str:
    """``1200`` basis points -> ``12%`` (``12.5%`` when not whole)."""
    value = Decimal(int(bp)) / 100
    return f"{value.normalize():f}%"


def stars(value: Any) -> str:
    try:
        return f"{Decimal(str(value)):.1f}★"
    except InvalidOperation:
        return "—"


def _seats(e: dict[str, Any]) -> str:
    return _("%(left)s of %(quota)s seats left in the city") % {"left": e["left"], "quota": e["quota"]}


def _category(e: dict[str, Any]) -> str:
    return _("category %(category)s in %(city)s") % {"category": e["category"], "city": e["city"]}


def _rating(e: dict[str, Any]) -> str:
    if e.get("rating") is None:
        return _("no rating given (at least %(min)s needed)") % {"min": stars(e["min"])}
    return _("rated %(rating)s, at least %(min)s needed") % {"rating": stars(e["rating"]), "min": stars(e["min"])}


def _dine_in(e: dict[str, Any]) -> str:
    has = _("has seats") if e.get("dine_in") else _("no seats (takeaway only)")
    return has if not e.get("required") else _("%(has)s; seats are required") % {"has": has}


def _offer(e: dict[str, Any]) -> str:
    if e.get("rate_bp") is None:
        return _("no offer given (at least %(min)s needed)") % {"min": percent(e["min_bp"])}
    return _("%(rate)s off, at least %(min)s needed") % {"rate": percent(e["rate_bp"]), "min": percent(e["min_bp"])}


def _spend(e: dict[str, Any]) -> str:
    low, high = e["band_fen"]
    return _("average spend %(spend)s; the category's band is %(low)s–%(high)s (±%(tol)s%%)") % {
        "spend": yuan(e["spend_fen"]),
        "low": yuan(low),
        "high": yuan(high),
        "tol": Decimal(str(e["tolerance_pct"])).normalize(),
    }


def _licences(e: dict[str, Any]) -> str:
    problems = e.get("problems") or {}
    if not problems:
        return _("credit code and licence are well-formed")
    return _("not valid: %(which)s") % {"which": ", ".join(sorted(problems))}


def _unique(e: dict[str, Any]) -> str:
    found = [
        (_("shops with this food licence"), e.get("merchants_with_licence") or []),
        (_("other applications with this food licence"), e.get("applications_with_licence") or []),
        (_("shops with this credit code"), e.get("merchants_with_credit_code") or []),
    ]
    parts = [f"{label}: {len(ids)}" for label, ids in found if ids]
    return "; ".join(parts) or _("no other shop or application uses these numbers")


def _removed(e: dict[str, Any]) -> str:
    removed = e.get("removed") or []
    if not removed:
        return _("not removed in the last %(days)s days") % {"days": e["days"]}
    return _("%(n)s removal(s) in the last %(days)s days") % {"n": len(removed), "days": e["days"]}


DESCRIBE: dict[str, Callable[[dict[str, Any]], str]] = {
    AdmissionRule.Kind.SEATS_LEFT: _seats,
    AdmissionRule.Kind.CATEGORY_OPEN: _category,
    AdmissionRule.Kind.MIN_RATING: _rating,
    AdmissionRule.Kind.DINE_IN: _dine_in,
    AdmissionRule.Kind.MIN_OFFER: _offer,
    AdmissionRule.Kind.SPEND_IN_BAND: _spend,
    AdmissionRule.Kind.LICENCES_VALID: _licences,
    AdmissionRule.Kind.UNIQUE_LICENCE: _unique,
    AdmissionRule.Kind.NOT_RECENTLY_REMOVED: _removed,
}


def describe(kind: str, evidence: Any) -> str:
    """The evidence of one rule result as a sentence; what cannot be read that way is said plainly."""
    if not isinstance(evidence, dict):
        return "—"
    if "missing" in evidence:
        return _("cannot be checked: %(missing)s missing") % {"missing": evidence["missing"]}
    try:
        return DESCRIBE[kind](evidence)
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return ", ".join(f"{key}: {value}" for key, value in evidence.items())
