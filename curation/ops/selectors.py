"""Reads of the operations overview: every figure and chart, each with how it is computed.

The overview reads the members, merchants and redemptions tables with aggregate queries only (a fixed
number of queries whatever the data size); redemption totals come from the nightly ``OpsDailyTotal``
roll-up so the page never scans the redemptions table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

from django.db.models import (
    Count,
    F,
    FloatField,
    Q,
    Sum,
)
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.replica import replica_reads
from curation.models import Complaint, Finding, OpsDailyTotal, OpsSnapshot, RemovalRule
from curation.standing.rules import programme_zone
from curation.wanted.selectors import asking_in_district, wanted_in_district
from members.selectors import GuaranteeForecast, guarantee_forecast, live_member_counts, member_kpis
from merchants.selectors import (
    active_cities,
    catalogue_districts,
    districts_with_city,
    listed_in_district,
    searches_in_district,
    seated_counts,
)
from redemptions.attribution.selectors import residents_in_district
from redemptions.counter.selectors import paid_members_savings, surge_flag_counts


@dataclass
class Figure:
    """One number of the overview, with how it is computed."""

    key: str
    label: str
    value: str
    how: str
    raw: float | int | None = None


@dataclass
class Bar:
    label: str
    value: float
    limit: float | None = None
    note: str = ""
    warn: bool = False


@dataclass
class Chart:
    key: str
    title: str
    how: str
    bars: list[Bar] = field(default_factory=list)
    unit: str = ""
    axis_label: str = ""  # what the value axis counts (column charts)

    @property
    def max_value(self) -> float:
        values = [b.value for b in self.bars] + [b.limit for b in self.bars if b.limit is not None]
        return max(values, default=0) or 1


@dataclass
class CoverageGap:
    """One district's demand against the shops listed there (:func:`coverage_gaps`)."""

    district_id: int
    city: str
    district: str
    listed: int
    residents: int
    asking: int
    searches: int
    wanted: int

    @property
    def demand(self) -> int:
        return self.residents + self.asking + self.searches

    @property
    def per_shop(self) -> float:
        """Demand per listed shop, counting the next one (a district with none is not a division by zero)."""
        return round(self.demand / (self.listed + 1), 1)


@dataclass
class Overview:
    at: datetime
    figures: list[Figure]
    charts: list[Chart]
    rollup_through: date | None
    gaps: list[CoverageGap] = field(default_factory=list)


#: A district with fewer visible shops than this is shown as thin coverage.
THIN_COVERAGE = 5


def _pct(part: float, whole: float) -> float | None:
    return None if not whole else round(100.0 * part / whole, 1)


def _fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


class Reading:
    """What the figures and charts of one overview share, each read once (on first use) at ``now``."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.today = now.astimezone(programme_zone()).date()

    @cached_property
    def members(self) -> tuple[int, int]:
        """(active members, of which on a free trial)."""
        return live_member_counts(now=self.now)

    @cached_property
    def guarantee(self) -> GuaranteeForecast:
        """The savings guarantee's years in force and what they are on course to cost (one query)."""
        return guarantee_forecast(now=self.now)

    @cached_property
    def kpis(self) -> dict[str, Any]:
        """The slow-moving member figures of the last nightly snapshot (computed now when there is none)."""
        snapshot = OpsSnapshot.objects.order_by("-day").values_list("figures", flat=True).first()
        return snapshot or member_kpis(now=self.now)

    @cached_property
    def as_of(self) -> str:
        computed = str(self.kpis["computed_at"])[:16].replace("T", " ")
        return str(_("Computed nightly (last: %(at)s UTC).") % {"at": computed})

    @cached_property
    def sla(self) -> dict[str, int]:
        """Complaints of the last 30 days: due and on time for each SLA clock, and open now (one aggregate)."""
        now = self.now
        row = Complaint.objects.filter(created_at__gte=now - timedelta(days=30)).aggregate(
            due=Count("pk", filter=Q(first_response_due__lte=now) | Q(first_responded_at__isnull=False)),
            on_time=Count("pk", filter=Q(first_responded_at__lte=F("first_response_due"))),
            res_due=Count("pk", filter=Q(resolution_due__lte=now) | Q(resolved_at__isnull=False)),
            res_on_time=Count("pk", filter=Q(resolved_at__lte=F("resolution_due"))),
            open=Count("pk", filter=Q(state__in=Complaint.OPEN_STATES)),
        )
        return {key: value or 0 for key, value in row.items()}

    @property
    def first_response_ok(self) -> float | None:
        return _pct(self.sla["on_time"], self.sla["due"])

    @property
    def resolution_ok(self) -> float | None:
        return _pct(self.sla["res_on_time"], self.sla["res_due"])

    @cached_property
    def open_findings(self) -> dict[str, int]:
        """rule type -> active findings (one GROUP BY)."""
        rows = (
            Finding.objects.filter(state__in=Finding.ACTIVE_STATES)
            .values("rule_kind")
            .annotate(n=Count("pk"))
            .values_list("rule_kind", "n")
        )
        return dict(rows)

    @cached_property
    def seats(self) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
        """(seated shops per city, catalogue shops per city, catalogue shops per district): one scan."""
        seated: dict[int, int] = {}
        listed: dict[int, int] = {}
        per_district: dict[int, int] = {}
        for city_id, district_id, n_seated, n_listed in seated_counts():
            seated[city_id] = seated.get(city_id, 0) + n_seated
            listed[city_id] = listed.get(city_id, 0) + n_listed
            per_district[district_id] = n_listed
        return seated, listed, per_district

    def redemptions_since(self, days: int, field: str = "redemptions") -> int:
        """The roll-up's ``field`` summed over the ``days`` whole local days before today."""
        total = OpsDailyTotal.objects.filter(
            local_date__gte=self.today - timedelta(days=days), local_date__lt=self.today
        ).aggregate(n=Sum(field))["n"]
        return total or 0


# --- The figures: each a small function of the reading, shown in this order -------------------------------


def active_members(r: Reading) -> Figure:
    n = r.members[0]
    how = _("People whose card works now: trial, active or ending at period end, inside the paid period.")
    return Figure("active_members", str(_("Active members")), f"{n:,}", str(how), n)


def trials(r: Reading) -> Figure:
    n = r.members[1]
    how = _("Active members whose current subscription is the free trial.")
    return Figure("trials", str(_("Of which on a free trial")), f"{n:,}", str(how), n)


def trial_conversion(r: Reading) -> Figure:
    kpis = r.kpis
    conversion = _pct(kpis["trials_converted"], kpis["trials_ended"])
    how = _(
        "Of the free trials that ended in the last 90 days (%(n)s), the share whose member has a paid card (%(paid)s)."
    ) % {"n": kpis["trials_ended"], "paid": kpis["trials_converted"]}
    label = str(_("Trial → paid conversion (90 days)"))
    return Figure("trial_conversion", label, _fmt_pct(conversion), f"{how} {r.as_of}", conversion)


def renewal_rate(r: Reading) -> Figure:
    kpis = r.kpis
    renewal = _pct(kpis["years_renewed"], kpis["years_ended"])
    how = _(
        "Of the paid card years that ended in the last 90 days (%(n)s), the share followed back-to-back "
        "by a renewal (%(renewed)s)."
    ) % {"n": kpis["years_ended"], "renewed": kpis["years_renewed"]}
    return Figure("renewal_rate", str(_("Renewal rate (90 days)")), _fmt_pct(renewal), f"{how} {r.as_of}", renewal)


def redemptions_per_member(r: Reading) -> Figure:
    month = r.redemptions_since(30)
    members = r.members[0]
    per_member = round(month / members, 2) if members else None
    how = _("Confirmed redemptions of the last 30 whole days (%(n)s) divided by the active members.") % {"n": month}
    shown = "—" if per_member is None else f"{per_member:.2f}"
    return Figure("redemptions_per_member", str(_("Redemptions per member per month")), shown, str(how), per_member)


def savings_fee_ratio(r: Reading) -> Figure:
    saved = paid_members_savings(since=r.now - timedelta(days=365))
    net_fees = int(r.kpis["fees_net_fen"])
    ratio = round(saved / net_fees, 2) if net_fees > 0 else None
    how = _(
        "What paying members saved at shops in the last 365 days, on their paid card years only (¥%(saved)s; "
        "trial days left out), divided by the card fees paid in that time net of refunds (¥%(fees)s). Above 1 "
        "means the card paid for itself."
    ) % {"saved": f"{saved / 100:,.2f}", "fees": f"{net_fees / 100:,.2f}"}
    shown = "—" if ratio is None else f"{ratio:.2f}"
    return Figure("savings_fee_ratio", str(_("Savings / fee ratio (12 months)")), shown, f"{how} {r.as_of}", ratio)


def card_revenue(r: Reading) -> Figure:
    net_fees = int(r.kpis["fees_net_fen"])
    how = _("Card fees paid in the last 365 days, net of the refunds made on them.")
    return Figure(
        "card_revenue", str(_("Card revenue (12 months, net)")), f"¥{net_fees / 100:,.2f}", f"{how} {r.as_of}", net_fees
    )


def guarantee_claimants(r: Reading) -> Figure:
    forecast = r.guarantee
    how = _(
        "Of the paid years in force bought with the savings guarantee (%(years)s), those whose savings, at "
        "their pace so far (at least 30 days counted), end the year below the fee paid: they will claim."
    ) % {"years": forecast.years}
    label = str(_("Savings guarantee: members on track to claim"))
    return Figure("guarantee_claimants", label, f"{forecast.claimants:,}", str(how), forecast.claimants)


def guarantee_payout(r: Reading) -> Figure:
    forecast = r.guarantee
    how = _(
        "The sum, over the members on track to claim, of the fee paid minus the savings projected to the "
        "year's end at their pace so far: what the guarantee is expected to refund."
    )
    label = str(_("Savings guarantee: expected payout"))
    shown = f"¥{forecast.expected_fen / 100:,.2f}"
    return Figure("guarantee_payout", label, shown, str(how), forecast.expected_fen)


def complaint_first_response_sla(r: Reading) -> Figure:
    how = _(
        "Of the complaints filed in the last 30 days that were answered or whose first-response deadline "
        "has passed (%(due)s), the share answered before the deadline (%(ok)s)."
    ) % {"due": r.sla["due"], "ok": r.sla["on_time"]}
    label = str(_("Complaints answered within the SLA (30 days)"))
    ok = r.first_response_ok
    return Figure("complaint_first_response_sla", label, _fmt_pct(ok), str(how), ok)


def complaint_resolution_sla(r: Reading) -> Figure:
    how = _(
        "Of the complaints filed in the last 30 days that were resolved or whose resolution deadline has "
        "passed (%(due)s), the share resolved in time (%(ok)s). Open now: %(open)s."
    ) % {"due": r.sla["res_due"], "ok": r.sla["res_on_time"], "open": r.sla["open"]}
    label = str(_("Complaints resolved within the SLA (30 days)"))
    ok = r.resolution_ok
    return Figure("complaint_resolution_sla", label, _fmt_pct(ok), str(how), ok)


def open_findings(r: Reading) -> Figure:
    total = sum(r.open_findings.values())
    how = _("Removal-rule findings not yet cleared or decided (warned or suspended merchants).")
    return Figure("open_findings", str(_("Open findings")), f"{total:,}", str(how), total)


def surge_flags(r: Reading) -> Figure:
    open_now, week = surge_flag_counts(since=r.now - timedelta(days=7))
    how = _("Shops whose hourly rate ran far above their baseline and were not yet cleared; %(week)s this week.") % {
        "week": week
    }
    return Figure("surge_flags", str(_("Surge flags open")), f"{open_now:,}", str(how), open_now)


FIGURES: tuple[Callable[[Reading], Figure], ...] = (
    active_members,
    trials,
    trial_conversion,
    renewal_rate,
    redemptions_per_member,
    savings_fee_ratio,
    card_revenue,
    guarantee_claimants,
    guarantee_payout,
    complaint_first_response_sla,
    complaint_resolution_sla,
    open_findings,
    surge_flags,
)


# --- The charts ---------------------------------------------------------------------------------------------


def seats_chart(r: Reading) -> Chart:
    seated, listed, _per_district = r.seats
    how = _(
        "Bars: merchants in the catalogue (probation or listed). Mark: the city's seat quota. Warned and "
        "suspended merchants hold a seat too (shown in the note)."
    )
    bars = [
        Bar(
            c.name,
            listed.get(c.pk, 0),
            limit=c.seat_quota,
            note=str(_("%(seated)s of %(quota)s seats taken") % {"seated": seated.get(c.pk, 0), "quota": c.seat_quota}),
        )
        for c in active_cities()
    ]
    return Chart("seats", str(_("Merchants per city against seats")), str(how), bars)


def coverage_chart(r: Reading) -> Chart:
    per_district = r.seats[2]
    bars = sorted(
        (
            Bar(f"{d.city.name} · {d.name}", per_district.get(d.pk, 0), warn=per_district.get(d.pk, 0) < THIN_COVERAGE)
            for d in districts_with_city()
        ),
        key=lambda b: (b.value, b.label),
    )
    how = _("Merchants in the catalogue per district; districts with fewer than %(n)s are highlighted.") % {
        "n": THIN_COVERAGE
    }
    return Chart("coverage", str(_("Coverage: shops per district (thinnest first)")), str(how), bars[:30])


def daily_chart(r: Reading) -> Chart:
    days = [r.today - timedelta(days=i) for i in range(30, 0, -1)]
    daily = dict(
        OpsDailyTotal.objects.filter(local_date__gte=days[0], local_date__lt=r.today)
        .values("local_date")
        .annotate(n=Sum("redemptions"))
        .values_list("local_date", "n")
    )
    how = _("Confirmed redemptions per local day from the nightly roll-up (voided ones excluded).")
    bars = [Bar(d.strftime("%m-%d"), daily.get(d, 0)) for d in days]
    return Chart("daily", str(_("Redemptions per day (30 days)")), str(how), bars, axis_label=str(_("redemptions")))


def findings_chart(r: Reading) -> Chart:
    kinds = dict(RemovalRule.Kind.choices)
    bars = [Bar(str(kinds[k]), r.open_findings.get(k, 0)) for k in RemovalRule.Kind.values]
    return Chart("findings", str(_("Open findings by rule")), str(_("Active findings per removal rule type.")), bars)


def sla_chart(r: Reading) -> Chart:
    how = _("Share of due complaints handled within each SLA; the mark is the 95% target.")
    bars = [
        Bar(str(_("first response")), r.first_response_ok or 0, limit=95.0),
        Bar(str(_("resolution")), r.resolution_ok or 0, limit=95.0),
    ]
    return Chart("sla", str(_("Complaint SLA compliance (30 days)")), str(how), bars, unit="%")


CHARTS: tuple[Callable[[Reading], Chart], ...] = (seats_chart, coverage_chart, daily_chart, findings_chart, sla_chart)


# --- Coverage gaps -------------------------------------------------------------------------------------------

#: Catalogue searches of this many whole days count as a district's demand.
GAP_SEARCH_DAYS = 30
GAP_ROWS = 20


def coverage_gaps(*, now: datetime | None = None, limit: int = GAP_ROWS) -> list[CoverageGap]:
    """The districts where demand most outweighs the shops listed there, biggest gap first (one query).

    A district's demand is the members who live there (their home district: where they redeem most, from
    attribution's nightly refresh), the members who asked in the last year for a shop there that is still
    wanted, and the catalogue searches filtered on it in the last :data:`GAP_SEARCH_DAYS` days (signed-in
    people; counts only). The gap is that demand per listed shop, counting the next one (demand ÷ (listed
    + 1)); districts without demand are left out."""
    now = now or timezone.now()
    since = now.astimezone(programme_zone()).date() - timedelta(days=GAP_SEARCH_DAYS)
    rows = (
        catalogue_districts()
        .annotate(
            listed=listed_in_district(),
            residents=residents_in_district(),
            asking=asking_in_district(now=now),
            searches=searches_in_district(since=since),
            wanted=wanted_in_district(),
        )
        .annotate(demand=F("residents") + F("asking") + F("searches"))
        .filter(demand__gt=0)
        .annotate(gap=Cast("demand", FloatField()) / (F("listed") + 1.0))
        .order_by("-gap", "-demand", "city__code", "code")[:limit]
    )
    return [
        CoverageGap(
            district_id=d.pk,
            city=d.city.name,
            district=d.name,
            listed=d.listed,
            residents=d.residents,
            asking=d.asking,
            searches=d.searches,
            wanted=d.wanted,
        )
        for d in rows
    ]


def ops_figures(*, now: datetime | None = None) -> Overview:
    """Every figure and chart of the operations overview (:data:`FIGURES`, :data:`CHARTS`) and its coverage
    gaps. About a dozen aggregate queries, each shared read once; no query per row; from the replica when one is
    configured (:mod:`core.replica`): the console page, its JSON and the API alike."""
    with replica_reads():
        reading = Reading(now or timezone.now())
        figures = [figure(reading) for figure in FIGURES]
        charts = [chart(reading) for chart in CHARTS]
        last = OpsDailyTotal.objects.order_by("-local_date").values_list("local_date", flat=True).first()
        gaps = coverage_gaps(now=reading.now)
    return Overview(at=reading.now, figures=figures, charts=charts, rollup_through=last, gaps=gaps)


def overview_as_json(overview: Overview) -> dict[str, Any]:
    return {
        "at": overview.at.isoformat(),
        "rollup_through": overview.rollup_through.isoformat() if overview.rollup_through else None,
        "figures": [
            {"key": f.key, "label": f.label, "value": f.raw, "display": f.value, "how": f.how} for f in overview.figures
        ],
        "charts": [
            {
                "key": c.key,
                "title": c.title,
                "how": c.how,
                "unit": c.unit,
                "bars": [{"label": b.label, "value": b.value, "limit": b.limit, "warn": b.warn} for b in c.bars],
            }
            for c in overview.charts
        ],
        "coverage_gaps": [
            {
                "city": g.city,
                "district": g.district,
                "listed": g.listed,
                "residents": g.residents,
                "asking": g.asking,
                "searches": g.searches,
                "demand": g.demand,
                "per_shop": g.per_shop,
                "wanted": g.wanted,
            }
            for g in overview.gaps
        ],
    }


__all__ = ["Bar", "Chart", "CoverageGap", "Figure", "Overview", "coverage_gaps", "ops_figures", "overview_as_json"]
