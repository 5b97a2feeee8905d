"""Checks of merchant data: credit codes, food licences, opening hours, coordinates and offers.

Each ``check_*`` returns ``None`` when the value is good, or a ``Problem`` (a stable code and a
translated message) that callers put on the field in a ``validation_failed`` error.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


@dataclass(frozen=True)
class Problem:
    code: str
    message: str | Promise


def problems_error(problems: dict[str, Problem]) -> DomainError:
    """One ``validation_failed`` error carrying every field's problem."""
    return DomainError(
        "validation_failed",
        fields={field: [{"code": p.code, "detail": str(p.message)}] for field, p in problems.items()},
    )


# --- Unified Social Credit Code (GB 32100-2015) ------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    """The 18th character for the first 17 (each already in ``USCC_ALPHABET``)."""
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def check_uscc(value: str) -> Problem | None:
    code = (value or "").strip().upper()
    if len(code) != 18:
        return Problem("uscc_length", _("A Unified Social Credit Code has exactly 18 characters."))
    if any(ch not in USCC_ALPHABET for ch in code):
        return Problem(
            "uscc_characters",
            _("A Unified Social Credit Code uses only digits and capital letters other than I, O, S, V and Z."),
        )
    if not code[0].isdigit() and code[0] not in "ANY":
        return Problem("uscc_characters", _("The first character of the credit code names no registering authority."))
    if uscc_check_char(code[:17]) != code[17]:
        return Problem("uscc_check_digit", _("The check character of this credit code is wrong; please re-type it."))
    return None


# --- Food business licence (食品经营许可证编号: JY + 14 digits) -----------------------------------

FOOD_LICENCE_RE = re.compile(r"^JY[123]\d{13}$")


def check_food_licence(value: str, *, required: bool) -> Problem | None:
    licence = (value or "").strip().upper()
    if not licence:
        if required:
            return Problem("food_licence_required", _("Food businesses must give their food business licence number."))
        return None
    if not FOOD_LICENCE_RE.match(licence):
        return Problem(
            "food_licence_invalid", _("A food business licence number is JY followed by 14 digits (JY1…, JY2…, JY3…).")
        )
    return None


# --- Opening hours ----------------------------------------------------------------------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE_RE = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_LINE_RE = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)(?:-(mon|tue|wed|thu|fri|sat|sun))?\s*[: ]\s*(.*)$")
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


class OpeningHoursError(ValueError):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(problem.code)


def _bad_hours(detail: str) -> OpeningHoursError:
    return OpeningHoursError(
        Problem(
            "opening_hours_invalid",
            _("Opening hours could not be read (%(detail)s). Write one line per day, e.g. “mon 09:00-21:00”.")
            % {"detail": detail},
        )
    )


def _parse_range(text: str) -> tuple[int, int]:
    match = _RANGE_RE.match(text.strip())
    if not match:
        raise _bad_hours(text.strip()[:40] or "?")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start >= MINUTES_PER_DAY or end > MINUTES_PER_DAY or start == end:
        raise _bad_hours(text.strip())
    return start, end


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_opening_hours(value: Any) -> dict[str, list[str]]:
    """Normalise opening hours to ``{"mon": ["09:00-14:00", "17:00-02:00"], ...}``.

    Accepts that dict (any subset of weekdays) or text with one line per day or day span
    (``mon-fri 09:00-21:00``, ``sat 10:00-14:00, 17:00-02:00``, ``sun closed``). An end before
    the start means the range runs past midnight. Raises ``OpeningHoursError`` on anything else.
    """
    ranges: dict[str, list[tuple[int, int]]] = {}
    if isinstance(value, dict):
        for day, items in value.items():
            if day not in WEEKDAYS:
                raise _bad_hours(str(day)[:20])
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise _bad_hours(str(day))
            ranges[day] = [_parse_range(item) for item in items]
    elif isinstance(value, str):
        for raw in value.strip().lower().splitlines():
            line = raw.strip()
            if not line:
                continue
            match = _LINE_RE.match(line)
            if not match:
                raise _bad_hours(line[:40])
            first, last, rest = match.groups()
            i, j = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
            days = [WEEKDAYS[k % 7] for k in range(i, i + ((j - i) % 7) + 1)]
            rest = rest.strip()
            parsed = [] if rest in ("closed", "休息") else [_parse_range(part) for part in re.split(r"[,，;]", rest)]
            for day in days:
                ranges[day] = parsed
    else:
        raise _bad_hours(type(value).__name__)
    for day, items in ranges.items():
        ordered = sorted(items)
        for (s1, e1), (s2, _e2) in itertools.pairwise(ordered):
            if e1 > s1 and s2 < e1:
                raise _bad_hours(day)
    if not any(ranges.values()):
        raise _bad_hours("no opening times")
    return {day: [f"{_fmt(s)}-{_fmt(e)}" for s, e in sorted(ranges[day])] for day in WEEKDAYS if ranges.get(day)}


def check_opening_hours(value: Any) -> tuple[dict[str, list[str]] | None, Problem | None]:
    try:
        return parse_opening_hours(value), None
    except OpeningHoursError as exc:
        return None, exc.problem


def opening_hours_text(hours: dict[str, list[str]]) -> str:
    """The text form the wizard shows (the parser reads it back)."""
    return "\n".join(f"{day} {', '.join(hours[day])}" for day in WEEKDAYS if hours.get(day))


def week_slots(hours: dict[str, list[str]]) -> list[tuple[int, int]]:
    """Normalised hours as half-open minute-of-week intervals (Monday 00:00 = 0), overnight split at week end."""
    return list(_week_slots(tuple((day, tuple(hours.get(day, ()))) for day in WEEKDAYS)))


@functools.lru_cache(maxsize=4096)
def _week_slots(hours: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[tuple[int, int], ...]:
    slots: list[tuple[int, int]] = []
    for index, (_day, items) in enumerate(hours):
        for item in items:
            start, end = _parse_range(item)
            base = index * MINUTES_PER_DAY
            a, b = base + start, base + (end if end > start else end + MINUTES_PER_DAY)
            if b <= MINUTES_PER_WEEK:
                slots.append((a, b))
            else:
                slots.append((a, MINUTES_PER_WEEK))
                slots.append((0, b - MINUTES_PER_WEEK))
    return tuple(slots)


def minute_of_week(local: datetime) -> int:
    return local.weekday() * MINUTES_PER_DAY + local.hour * 60 + local.minute


def is_open_at(hours: dict[str, list[str]], local: datetime) -> bool:
    minute = minute_of_week(local)
    return any(a <= minute < b for a, b in week_slots(hours))


def local_time_label(minutes: int) -> time:
    return time(minutes // 60 % 24, minutes % 60)


# --- Coordinates and offers ---------------------------------------------------------------------

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def check_coordinates(*, lat: float, lng: float, city: Any) -> Problem | None:
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return Problem("coordinates_invalid", _("These are not coordinates on Earth."))
    distance = haversine_km(lat, lng, float(city.center_lat), float(city.center_lng))
    if distance > city.radius_km:
        return Problem(
            "coordinates_outside_city",
            _("The shop's coordinates are %(km)s km from the centre of %(city)s, outside its %(radius)s km area.")
            % {"km": f"{distance:.0f}", "city": city.name, "radius": city.radius_km},
        )
    return None


MIN_OFFER_BP = 1000
MAX_OFFER_BP = 9000


def check_offer_rate(rate_bp: int) -> Problem | None:
    if rate_bp < MIN_OFFER_BP:
        return Problem("offer_rate_too_low", _("The member discount must be at least 10%."))
    if rate_bp > MAX_OFFER_BP:
        return Problem("offer_rate_too_high", _("The member discount cannot exceed 90%."))
    return None


def check_offer(*, rate_bp: int, cap_fen: int | None, min_bill_fen: int | None) -> dict[str, Problem]:
    problems: dict[str, Problem] = {}
    if problem := check_offer_rate(rate_bp):
        problems["offer_rate_bp"] = problem
    if cap_fen is not None and cap_fen <= 0:
        problems["offer_cap_fen"] = Problem("offer_cap_invalid", _("The cap per redemption must be above zero."))
    if min_bill_fen is not None and min_bill_fen <= 0:
        problems["offer_min_bill_fen"] = Problem("offer_min_bill_invalid", _("The minimum bill must be above zero."))
    return problems
