"""Reads of the merchant dashboard and the insights API (issue 6): totals, the daily series, the notes
leaderboard under a chosen attribution model, and k-anonymous audience insights.

The whole dashboard costs a fixed number of queries whatever the period or the shop's volume: the daily
series, new vs returning members, the leaderboard, the audience. Totals are summed from the daily series.

Audience insights (k-anonymity, k = ``K_ANONYMITY``):
- every group shown (an age band, a home district, a visit-frequency band) holds at least k distinct
  members; smaller groups are merged into "other", and "other" itself is left out when it holds fewer than k;
- the audience is computed over whole weeks (Monday to Sunday) covering the chosen period, so that narrowing
  the period by a day, or to the one day a member visited, cannot isolate that member's attributes;
- member counts are published rounded down to a multiple of ``COUNT_ROUNDING`` and shares are computed from
  the rounded counts, so that subtracting two overlapping reports does not reveal a single member.
The same function feeds the page, the CSV export and the API, so the rule holds everywhere.

Home district: the district of the shops where the member redeems most often over the last year
(``MemberHomeDistrict``, refreshed nightly); we never ask members for an address.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import DomainError
from merchants.models import Merchant
from merchants.selectors import local_date as merchant_local_date

from . import attribution_errors as _attribution_errors  # noqa: F401  (registers the codes)
from .attribution_models import SHARE_ONE, AttributionCredit, AttributionModel
from .models import Redemption

K_ANONYMITY = 10
COUNT_ROUNDING = 5
MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30
LEADERBOARD_SIZE = 20

AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("18-24", 0, 24),
    ("25-34", 25, 34),
    ("35-44", 35, 44),
    ("45-54", 45, 54),
    ("55+", 55, 200),
)
FREQUENCY_BANDS: tuple[tuple[str, int, int], ...] = (("1", 1, 1), ("2-3", 2, 3), ("4+", 4, 1_000_000))
DIMENSIONS = ("age", "district", "frequency")
DIMENSION_LABELS = {
    "age": gettext_lazy("Age band"),
    "district": gettext_lazy("Home district"),
    "frequency": gettext_lazy("Visits in the period"),
}


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def whole_weeks(self) -> Period:
        """The period widened to whole Monday-to-Sunday weeks."""
        return Period(
            self.start - timedelta(days=self.start.weekday()), self.end + timedelta(days=6 - self.end.weekday())
        )


def period_parse(*, start: Any, end: Any, today: date) -> Period:
    """The period from ``from``/``to`` query values (ISO dates); by default the last 30 days to ``today``.
    Raises ``period_invalid``."""
    try:
        end_day = date.fromisoformat(end) if end else today
        start_day = date.fromisoformat(start) if start else end_day - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    except (TypeError, ValueError) as exc:
        raise DomainError("period_invalid") from exc
    if start_day > end_day or (end_day - start_day).days + 1 > MAX_PERIOD_DAYS:
        raise DomainError("period_invalid")
    return Period(start_day, end_day)


def model_parse(value: Any) -> str:
    """An attribution model name; last touch by default."""
    return value if value in AttributionModel.values else AttributionModel.LAST_TOUCH.value


@dataclass(frozen=True)
class DayPoint:
    day: date
    redemptions: int
    gmv_fen: int
    discount_fen: int


@dataclass(frozen=True)
class Totals:
    redemptions: int
    gmv_fen: int
    discount_fen: int
    average_bill_fen: int
    members: int
    new_members: int
    returning_members: int


@dataclass(frozen=True)
class LeaderRow:
    rank: int
    note_public_id: UUID
    title: str
    url: str
    verified_visit: bool
    visits: float
    revenue_fen: int


@dataclass(frozen=True)
class AudienceGroup:
    key: str
    label: str
    members: int  # rounded down to COUNT_ROUNDING
    share_percent: int


@dataclass(frozen=True)
class AudienceBreakdown:
    dimension: str
    label: str
    groups: list[AudienceGroup]
    hidden_members: bool  # some members fell in groups too small to show, even merged


@dataclass(frozen=True)
class Audience:
    period: Period
    k: int
    breakdowns: list[AudienceBreakdown]


@dataclass(frozen=True)
class Dashboard:
    merchant: Merchant
    period: Period
    model: str
    totals: Totals
    daily: list[DayPoint]
    leaderboard: list[LeaderRow]
    audience: Audience


def _confirmed(merchant: Merchant) -> QuerySet[Redemption]:
    return Redemption.objects.filter(merchant_id=merchant.pk, status=Redemption.Status.CONFIRMED).order_by()


def daily_series(*, merchant: Merchant, period: Period) -> list[DayPoint]:
    """One point per day of the period (zero on days without redemptions): one query."""
    rows = {
        r["local_date"]: r
        for r in _confirmed(merchant)
        .filter(local_date__gte=period.start, local_date__lte=period.end)
        .values("local_date")
        .annotate(n=Count("pk"), gmv=Sum("bill_fen"), discount=Sum("discount_fen"))
    }
    points = []
    for day in period.dates():
        row = rows.get(day)
        points.append(DayPoint(day, row["n"], row["gmv"], row["discount"]) if row else DayPoint(day, 0, 0, 0))
    return points


def member_counts(*, merchant: Merchant, period: Period) -> tuple[int, int]:
    """(new, returning) members of the period: new ones never redeemed at this shop before it. One query."""
    per_member = (
        _confirmed(merchant)
        .filter(local_date__lte=period.end)
        .values("member_id")
        .annotate(first=Min("local_date"), last=Max("local_date"))
        .filter(last__gte=period.start)
    )
    counts = per_member.aggregate(
        new=Count("member_id", filter=Q(first__gte=period.start)),
        returning=Count("member_id", filter=Q(first__lt=period.start)),
    )
    return int(counts["new"] or 0), int(counts["returning"] or 0)


def totals_of(*, daily: list[DayPoint], new_members: int, returning_members: int) -> Totals:
    redemptions = sum(p.redemptions for p in daily)
    gmv = sum(p.gmv_fen for p in daily)
    return Totals(
        redemptions=redemptions,
        gmv_fen=gmv,
        discount_fen=sum(p.discount_fen for p in daily),
        average_bill_fen=round(gmv / redemptions) if redemptions else 0,
        members=new_members + returning_members,
        new_members=new_members,
        returning_members=returning_members,
    )


def leaderboard(*, merchant: Merchant, period: Period, model: str, limit: int = LEADERBOARD_SIZE) -> list[LeaderRow]:
    """The notes that drove the shop's redemptions in the period under ``model``: one query."""
    rows = (
        AttributionCredit.objects.filter(
            merchant_id=merchant.pk,
            model=model,
            local_date__gte=period.start,
            local_date__lte=period.end,
            note__hidden_at__isnull=True,
        )
        .values("note_id", "note__public_id", "note__title", "note__url", "note__redemption_id")
        .annotate(share=Sum("share_ppm"), revenue=Sum("revenue_fen"))
        .order_by("-share", "-revenue", "note_id")[:limit]
    )
    return [
        LeaderRow(
            rank=i + 1,
            note_public_id=r["note__public_id"],
            title=r["note__title"],
            url=r["note__url"],
            verified_visit=r["note__redemption_id"] is not None,
            visits=round(r["share"] / SHARE_ONE, 2),
            revenue_fen=int(r["revenue"]),
        )
        for i, r in enumerate(rows)
    ]


def _band(value: int | None, bands: tuple[tuple[str, int, int], ...]) -> str:
    if value is None:
        return "unknown"
    for key, low, high in bands:
        if low <= value <= high:
            return key
    return "unknown"


def k_anonymous(counts: dict[str, int], *, k: int = K_ANONYMITY) -> tuple[list[tuple[str, int]], bool]:
    """Groups of at least ``k`` members, the rest merged into "other" (left out when under ``k``).
    Returns the groups to show (exact counts) and whether some members were left out."""
    shown = [(key, n) for key, n in counts.items() if n >= k and key != "other"]
    small = sum(n for key, n in counts.items() if n < k or key == "other")
    if small >= k:
        shown.append(("other", small))
        return shown, False
    return shown, small > 0


AUDIENCE_SQL = """
SELECT u.birth_year, h.district_id, d.name_zh, d.name_en, r.visits, COUNT(*)
FROM (
    SELECT member_id, CASE WHEN COUNT(*) >= 4 THEN 4 ELSE COUNT(*) END AS visits
    FROM redemptions_redemption
    WHERE merchant_id = %s AND status = 'confirmed' AND local_date >= %s AND local_date <= %s
    GROUP BY member_id
) AS r
JOIN core_user AS u ON u.id = r.member_id
LEFT JOIN redemptions_memberhomedistrict AS h ON h.member_id = r.member_id
LEFT JOIN merchants_district AS d ON d.id = h.district_id
GROUP BY u.birth_year, h.district_id, d.name_zh, d.name_en, r.visits
"""


def _audience_rows(*, merchant: Merchant, period: Period) -> list[tuple[Any, ...]]:
    """Distinct members of the period counted per (birth year, home district, visits capped at 4): a few
    hundred rows whatever the shop's volume, so the per-member work stays in the database."""
    with connection.cursor() as cursor:
        cursor.execute(AUDIENCE_SQL, [merchant.pk, period.start, period.end])
        return list(cursor.fetchall())


def audience(*, merchant: Merchant, period: Period, today: date | None = None, k: int = K_ANONYMITY) -> Audience:
    """Who the shop's members are, over whole weeks covering ``period``: one query, k-anonymous."""
    weeks = period.whole_weeks()
    year = (today or timezone.now().date()).year
    tallies: dict[str, dict[str, int]] = {d: defaultdict(int) for d in DIMENSIONS}
    district_names: dict[str, tuple[str, str]] = {}
    for birth, district, name_zh, name_en, visits, members in _audience_rows(merchant=merchant, period=weeks):
        tallies["age"][_band(year - birth if birth else None, AGE_BANDS)] += members
        key = f"d{district}" if district else "unknown"
        if district:
            district_names[key] = (name_zh, name_en)
        tallies["district"][key] += members
        tallies["frequency"][_band(visits, FREQUENCY_BANDS)] += members
    breakdowns = []
    for dimension in DIMENSIONS:
        shown, hidden = k_anonymous(tallies[dimension], k=k)
        rounded = [(key, n - n % COUNT_ROUNDING) for key, n in shown]
        whole = sum(n for _key, n in rounded)
        order = {key: i for i, key in enumerate(_dimension_order(dimension))}
        order["other"] = len(order) + 99  # "Other" always comes last
        rounded.sort(key=lambda item: (order.get(item[0], 50), -item[1], item[0]))
        groups = [
            AudienceGroup(
                key=key,
                label=_group_label(dimension, key, district_names),
                members=n,
                share_percent=round(100 * n / whole) if whole else 0,
            )
            for key, n in rounded
        ]
        breakdowns.append(AudienceBreakdown(dimension, str(DIMENSION_LABELS[dimension]), groups, hidden))
    return Audience(period=weeks, k=k, breakdowns=breakdowns)


def _dimension_order(dimension: str) -> list[str]:
    if dimension == "age":
        return [b[0] for b in AGE_BANDS] + ["unknown"]
    if dimension == "frequency":
        return [b[0] for b in FREQUENCY_BANDS] + ["unknown"]
    return []  # districts: by size


def _group_label(dimension: str, key: str, district_names: dict[str, tuple[str, str]]) -> str:
    if key == "other":
        return _("Other")
    if key == "unknown":
        return _("Not known")
    if dimension == "district":
        from django.utils.translation import get_language

        zh, en = district_names.get(key, ("", ""))
        return zh if (get_language() or "zh-hans").startswith("zh") or not en else en
    if dimension == "frequency":
        return {"1": _("1 visit"), "2-3": _("2–3 visits"), "4+": _("4 or more visits")}[key]
    return key


def dashboard(*, merchant: Merchant, period: Period, model: str, today: date | None = None) -> Dashboard:
    """Everything the owner's console shows, in four queries."""
    daily = daily_series(merchant=merchant, period=period)
    new, returning = member_counts(merchant=merchant, period=period)
    return Dashboard(
        merchant=merchant,
        period=period,
        model=model,
        totals=totals_of(daily=daily, new_members=new, returning_members=returning),
        daily=daily,
        leaderboard=leaderboard(merchant=merchant, period=period, model=model),
        audience=audience(merchant=merchant, period=period, today=today),
    )


def merchant_today(*, merchant: Merchant, at: datetime | None = None) -> date:
    return merchant_local_date(merchant=merchant, at=at or timezone.now())


# --- CSV -------------------------------------------------------------------------------------------------


def _yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


def csv_text(*, board: Dashboard, kind: str) -> str:
    """``leaderboard``, ``daily`` or ``audience`` as CSV (UTF-8, header row first)."""
    out = io.StringIO()
    writer = csv.writer(out)
    if kind == "leaderboard":
        writer.writerow(["rank", "note_id", "title", "url", "verified_visit", "model", "visits", "revenue_yuan"])
        for row in board.leaderboard:
            writer.writerow(
                [
                    row.rank,
                    row.note_public_id,
                    row.title,
                    row.url,
                    int(row.verified_visit),
                    board.model,
                    f"{row.visits:.2f}",
                    _yuan(row.revenue_fen),
                ]
            )
    elif kind == "daily":
        writer.writerow(["date", "redemptions", "gmv_yuan", "discount_yuan"])
        for point in board.daily:
            writer.writerow([point.day.isoformat(), point.redemptions, _yuan(point.gmv_fen), _yuan(point.discount_fen)])
    elif kind == "audience":
        writer.writerow(["dimension", "group", "members_rounded", "share_percent", "from", "to", "k"])
        for breakdown in board.audience.breakdowns:
            for group in breakdown.groups:
                writer.writerow(
                    [
                        breakdown.dimension,
                        group.key if breakdown.dimension != "district" or group.key == "other" else group.label,
                        group.members,
                        group.share_percent,
                        board.audience.period.start.isoformat(),
                        board.audience.period.end.isoformat(),
                        board.audience.k,
                    ]
                )
    else:
        raise ValueError(kind)
    return out.getvalue()


def dashboard_payload(board: Dashboard) -> dict[str, Any]:
    """The dashboard as JSON for the API and the chart script (money in fen)."""
    return {
        "merchant": str(board.merchant.public_id),
        "from": board.period.start.isoformat(),
        "to": board.period.end.isoformat(),
        "model": board.model,
        "totals": {
            "redemptions": board.totals.redemptions,
            "gmv_fen": board.totals.gmv_fen,
            "discount_fen": board.totals.discount_fen,
            "average_bill_fen": board.totals.average_bill_fen,
            "members": board.totals.members,
            "new_members": board.totals.new_members,
            "returning_members": board.totals.returning_members,
            "currency": board.merchant.currency,
        },
        "daily": [
            {
                "date": p.day.isoformat(),
                "redemptions": p.redemptions,
                "gmv_fen": p.gmv_fen,
                "discount_fen": p.discount_fen,
            }
            for p in board.daily
        ],
        "leaderboard": [
            {
                "rank": r.rank,
                "note": str(r.note_public_id),
                "title": r.title,
                "url": r.url,
                "verified_visit": r.verified_visit,
                "visits": r.visits,
                "revenue_fen": r.revenue_fen,
            }
            for r in board.leaderboard
        ],
        "audience": {
            "from": board.audience.period.start.isoformat(),
            "to": board.audience.period.end.isoformat(),
            "k": board.audience.k,
            "count_rounding": COUNT_ROUNDING,
            "breakdowns": [
                {
                    "dimension": b.dimension,
                    "hidden_members": b.hidden_members,
                    "groups": [
                        {"key": g.key, "label": g.label, "members": g.members, "share_percent": g.share_percent}
                        for g in b.groups
                    ],
                }
                for b in board.audience.breakdowns
            ],
        },
    }
