"""Reads of the merchant dashboard and the insights API (issue 6): totals, the daily series, the notes
leaderboard under a chosen attribution model, and k-anonymous audience insights.

The whole dashboard costs a fixed number of queries whatever the period or the shop's volume (three, plus
``SET LOCAL jit = off`` on PostgreSQL):
- the daily series, from the shop's per-day roll-up (``merchants.MerchantDay``: confirmed redemptions, bill
  total and discount, kept exact by confirm and void; ``attribution.dashboard_rollups_rebuild`` recomputes it
  after writes that bypass them); totals are summed from it;
- the shop's visitors, one pass over the redemptions of the audience's whole weeks grouped per member: it
  feeds both the audience and new vs returning members. A member of the period is returning when they came
  back: more than one confirmed visit in the period, or one before it (inside the weeks that is read from the
  same pass, before them from the member's daily-limit rows: ``MemberDay``, one index probe per member of the
  period, ``count > 0`` so that a voided visit does not count);
- the leaderboard: the period's credits summed per note, then joined to the notes.

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

from django.db import transaction
from django.db.models import Count, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.db import per_row
from core.errors import DomainError
from core.replica import read_connection, replica_reads
from merchants.models import Merchant
from merchants.selectors import day_totals
from merchants.selectors import local_date as merchant_local_date

from ..models import SHARE_ONE, AttributionModel, MemberHomeDistrict, Note
from . import errors as _errors  # noqa: F401  (registers the codes)

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


def daily_series(*, merchant: Merchant, period: Period) -> list[DayPoint]:
    """One point per day of the period (zero on days without redemptions), from the shop's per-day roll-up:
    one query over at most ``MAX_PERIOD_DAYS`` rows."""
    rows = day_totals(merchant=merchant, first=period.start, last=period.end)
    return [DayPoint(day, *rows.get(day, (0, 0, 0))) for day in period.dates()]


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


LEADERBOARD_SQL = """
SELECT n.public_id, n.title, n.url, n.redemption_id, c.share, c.revenue
FROM (
    SELECT note_id, SUM(share_ppm) AS share, SUM(revenue_fen) AS revenue
    FROM redemptions_attributioncredit
    WHERE merchant_id = %s AND model = %s AND local_date >= %s AND local_date <= %s
    GROUP BY note_id
) AS c
JOIN redemptions_note AS n ON n.id = c.note_id
WHERE n.hidden_at IS NULL
ORDER BY c.share DESC, c.revenue DESC, c.note_id
LIMIT %s
"""


def leaderboard(*, merchant: Merchant, period: Period, model: str, limit: int = LEADERBOARD_SIZE) -> list[LeaderRow]:
    """The notes that drove the shop's redemptions in the period under ``model``: one query. The credits are
    summed per note first (an index-only scan of ``credit_leaderboard_idx``), then the few notes joined."""
    with read_connection().cursor() as cursor:
        cursor.execute(LEADERBOARD_SQL, [merchant.pk, model, period.start, period.end, limit])
        rows = cursor.fetchall()
    return [
        LeaderRow(
            rank=i + 1,
            note_public_id=public_id if isinstance(public_id, UUID) else UUID(public_id),  # SQLite: hex text
            title=title,
            url=url,
            verified_visit=redemption_id is not None,
            visits=round(share / SHARE_ONE, 2),
            revenue_fen=int(revenue),
        )
        for i, (public_id, title, url, redemption_id, share, revenue) in enumerate(rows)
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


VISITORS_SQL = """
SELECT g.birth_year, g.district_id, d.name_zh, d.name_en, g.visits, g.members, g.period_members, g.returning_members
FROM (
    SELECT p.birth_year, h.district_id, p.visits, COUNT(*) AS members,
        SUM(p.in_period) AS period_members, SUM(p.is_returning) AS returning_members
    FROM (
        SELECT q.member_id, q.birth_year, q.visits, q.in_period,
            CASE WHEN q.in_period = 1 AND (q.first_visit < %s OR q.period_visits > 1 OR EXISTS (
                SELECT 1 FROM redemptions_memberday AS md
                WHERE md.member_id = q.member_id AND md.merchant_id = %s AND md.local_date < %s AND md.count > 0
            )) THEN 1 ELSE 0 END AS is_returning
        FROM (
            SELECT member_id, MAX(member_birth_year) AS birth_year,
                CASE WHEN COUNT(*) >= 4 THEN 4 ELSE COUNT(*) END AS visits,
                MIN(local_date) AS first_visit,
                MAX(CASE WHEN local_date >= %s AND local_date <= %s THEN 1 ELSE 0 END) AS in_period,
                SUM(CASE WHEN local_date >= %s AND local_date <= %s THEN 1 ELSE 0 END) AS period_visits
            FROM redemptions_redemption
            WHERE merchant_id = %s AND status = 'confirmed' AND local_date >= %s AND local_date <= %s
            GROUP BY member_id
        ) AS q
    ) AS p
    LEFT JOIN redemptions_memberhomedistrict AS h ON h.member_id = p.member_id
    GROUP BY p.birth_year, h.district_id, p.visits
) AS g
LEFT JOIN merchants_district AS d ON d.id = g.district_id
"""


def _visitor_rows(*, merchant: Merchant, period: Period, weeks: Period) -> list[tuple[Any, ...]]:
    """The members of ``weeks`` counted per (birth year as kept on their redemptions, i.e. at the visit; home
    district; visits capped at 4), and how many of them came in ``period`` and how many of those had come
    before it: a few hundred rows whatever the shop's volume, so the per-member work stays in the database.
    ``weeks`` must cover ``period``."""
    with read_connection().cursor() as cursor:
        cursor.execute(
            VISITORS_SQL,
            [
                period.start,
                merchant.pk,
                weeks.start,
                period.start,
                period.end,
                period.start,
                period.end,
                merchant.pk,
                weeks.start,
                weeks.end,
            ],
        )
        return list(cursor.fetchall())


@dataclass(frozen=True)
class Visitors:
    audience: Audience
    new_members: int
    returning_members: int


def visitors(*, merchant: Merchant, period: Period, today: date | None = None, k: int = K_ANONYMITY) -> Visitors:
    """Who the shop's members are, over whole weeks covering ``period`` (k-anonymous), and how many members of
    ``period`` are new (one visit in the period, none at this shop before it) or returning (they came back: a
    second visit in the period, or an earlier one): one query."""
    weeks = period.whole_weeks()
    year = (today or merchant_local_date(merchant=merchant, at=timezone.now())).year
    tallies: dict[str, dict[str, int]] = {d: defaultdict(int) for d in DIMENSIONS}
    district_names: dict[str, tuple[str, str]] = {}
    in_period = returning = 0
    for birth, district, name_zh, name_en, visits, members, period_members, returning_members in _visitor_rows(
        merchant=merchant, period=period, weeks=weeks
    ):
        in_period += period_members
        returning += returning_members
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
    return Visitors(
        audience=Audience(period=weeks, k=k, breakdowns=breakdowns),
        new_members=in_period - returning,
        returning_members=returning,
    )


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
    """Everything the owner's console shows, in three queries (four on PostgreSQL), read from the replica when
    one is configured (:mod:`core.replica`): the page, the CSV and the insights API alike."""
    with replica_reads() as alias, transaction.atomic(using=alias, savepoint=False):
        connection = read_connection()
        if connection.vendor == "postgresql":
            # Aggregates over tens of thousands of rows that finish in tens of milliseconds: compiling them
            # (the planner's estimate with one probe per member crosses jit_above_cost) costs more than it saves.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        daily = daily_series(merchant=merchant, period=period)
        found = visitors(merchant=merchant, period=period, today=today)
        board = leaderboard(merchant=merchant, period=period, model=model)
    return Dashboard(
        merchant=merchant,
        period=period,
        model=model,
        totals=totals_of(daily=daily, new_members=found.new_members, returning_members=found.returning_members),
        daily=daily,
        leaderboard=board,
        audience=found.audience,
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


def notes_about(*, merchant: Merchant, limit: int = 6) -> list[Note]:
    """The notes that tag ``merchant`` and are not hidden, newest first (the shop page's "notes" section)."""
    return list(
        Note.objects.filter(tags__merchant=merchant, hidden_at__isnull=True)
        .select_related("source")
        .order_by("-published_at", "-pk")[:limit]
    )


#: A home district written this long before the newest one is stale: the nightly refresh rewrites every
#: member who redeemed in the last year and leaves the others' old rows alone.
HOME_DISTRICT_CURRENT = timedelta(days=2)


def residents_in_district(*, district_ref: str = "pk") -> Coalesce:
    """An annotation: the members whose current home district (``home_districts_refresh``) is the outer
    row's district."""
    newest = MemberHomeDistrict.objects.order_by("-computed_at").values("computed_at")[:1]
    current = MemberHomeDistrict.objects.filter(computed_at__gte=Subquery(newest) - Value(HOME_DISTRICT_CURRENT))
    return per_row(current, key="district_id", value=Count("pk"), outer=district_ref)
