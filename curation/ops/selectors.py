"""Reads of the operations overview: every figure and chart, each with how it is computed.

The overview reads the members, merchants and redemptions tables with aggregate queries only (a fixed
number of queries whatever the data size); redemption totals come from the nightly ``OpsDailyTotal``
roll-up so the page never scans the redemptions table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import (
    Count,
    F,
    Q,
    Sum,
)
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from curation.models import Complaint, Finding, OpsDailyTotal, OpsSnapshot, RemovalRule
from curation.standing.rules import programme_zone
from members.selectors import live_member_counts, member_kpis
from merchants.models import City, District, Merchant
from redemptions.counter.selectors import surge_flag_counts


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

    @property
    def max_value(self) -> float:
        values = [b.value for b in self.bars] + [b.limit for b in self.bars if b.limit is not None]
        return max(values, default=0) or 1


@dataclass
class Overview:
    at: datetime
    figures: list[Figure]
    charts: list[Chart]
    rollup_through: date | None


#: A district with fewer visible shops than this is shown as thin coverage.
THIN_COVERAGE = 5


def _pct(part: float, whole: float) -> float | None:
    return None if not whole else round(100.0 * part / whole, 1)


def _fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def ops_figures(*, now: datetime | None = None) -> Overview:
    """Every figure of the operations overview. About a dozen aggregate queries; no query per row."""
    now = now or timezone.now()
    today = now.astimezone(programme_zone()).date()
    figures: list[Figure] = []

    active_members, trials = live_member_counts(now=now)
    figures.append(
        Figure(
            "active_members",
            str(_("Active members")),
            f"{active_members:,}",
            str(_("People whose card works now: trial, active or ending at period end, inside the paid period.")),
            active_members,
        )
    )
    figures.append(
        Figure(
            "trials",
            str(_("Of which on a free trial")),
            f"{trials:,}",
            str(_("Active members whose current subscription is the free trial.")),
            trials,
        )
    )

    snapshot = OpsSnapshot.objects.order_by("-day").values_list("figures", flat=True).first()
    kpis = snapshot or member_kpis(now=now)
    as_of = str(_("Computed nightly (last: %(at)s UTC).") % {"at": str(kpis["computed_at"])[:16].replace("T", " ")})
    conversion = _pct(kpis["trials_converted"], kpis["trials_ended"])
    figures.append(
        Figure(
            "trial_conversion",
            str(_("Trial → paid conversion (90 days)")),
            _fmt_pct(conversion),
            str(
                _(
                    "Of the free trials that ended in the last 90 days (%(n)s), the share whose member has a paid "
                    "card (%(paid)s)."
                )
                % {"n": kpis["trials_ended"], "paid": kpis["trials_converted"]}
            )
            + " "
            + as_of,
            conversion,
        )
    )
    renewal = _pct(kpis["years_renewed"], kpis["years_ended"])
    figures.append(
        Figure(
            "renewal_rate",
            str(_("Renewal rate (90 days)")),
            _fmt_pct(renewal),
            str(
                _(
                    "Of the paid card years that ended in the last 90 days (%(n)s), the share followed back-to-back "
                    "by a renewal (%(renewed)s)."
                )
                % {"n": kpis["years_ended"], "renewed": kpis["years_renewed"]}
            )
            + " "
            + as_of,
            renewal,
        )
    )

    month = OpsDailyTotal.objects.filter(local_date__gte=today - timedelta(days=30), local_date__lt=today).aggregate(
        n=Sum("redemptions")
    )
    per_member = round((month["n"] or 0) / active_members, 2) if active_members else None
    figures.append(
        Figure(
            "redemptions_per_member",
            str(_("Redemptions per member per month")),
            "—" if per_member is None else f"{per_member:.2f}",
            str(
                _("Confirmed redemptions of the last 30 whole days (%(n)s) divided by the active members.")
                % {"n": month["n"] or 0}
            ),
            per_member,
        )
    )

    year_start = today - timedelta(days=365)
    saved = OpsDailyTotal.objects.filter(local_date__gte=year_start, local_date__lt=today).aggregate(
        s=Sum("discount_fen")
    )["s"]
    net_fees = int(kpis["fees_net_fen"])
    ratio = round((saved or 0) / net_fees, 2) if net_fees > 0 else None
    figures.append(
        Figure(
            "savings_fee_ratio",
            str(_("Savings / fee ratio (12 months)")),
            "—" if ratio is None else f"{ratio:.2f}",
            str(
                _(
                    "What members saved at shops in the last 365 days (¥%(saved)s) divided by the card fees they "
                    "paid in that time net of refunds (¥%(fees)s). Above 1 means the card paid for itself."
                )
                % {"saved": f"{(saved or 0) / 100:,.2f}", "fees": f"{net_fees / 100:,.2f}"}
            )
            + " "
            + as_of,
            ratio,
        )
    )

    window_start = now - timedelta(days=30)
    sla = Complaint.objects.filter(created_at__gte=window_start).aggregate(
        due=Count("pk", filter=Q(first_response_due__lte=now) | Q(first_responded_at__isnull=False)),
        on_time=Count("pk", filter=Q(first_responded_at__lte=F("first_response_due"))),
        res_due=Count("pk", filter=Q(resolution_due__lte=now) | Q(resolved_at__isnull=False)),
        res_on_time=Count("pk", filter=Q(resolved_at__lte=F("resolution_due"))),
        open=Count("pk", filter=Q(state__in=Complaint.OPEN_STATES)),
    )
    first_ok = _pct(sla["on_time"] or 0, sla["due"] or 0)
    res_ok = _pct(sla["res_on_time"] or 0, sla["res_due"] or 0)
    figures.append(
        Figure(
            "complaint_first_response_sla",
            str(_("Complaints answered within the SLA (30 days)")),
            _fmt_pct(first_ok),
            str(
                _(
                    "Of the complaints filed in the last 30 days that were answered or whose first-response deadline "
                    "has passed (%(due)s), the share answered before the deadline (%(ok)s)."
                )
                % {"due": sla["due"] or 0, "ok": sla["on_time"] or 0}
            ),
            first_ok,
        )
    )
    figures.append(
        Figure(
            "complaint_resolution_sla",
            str(_("Complaints resolved within the SLA (30 days)")),
            _fmt_pct(res_ok),
            str(
                _(
                    "Of the complaints filed in the last 30 days that were resolved or whose resolution deadline has "
                    "passed (%(due)s), the share resolved in time (%(ok)s). Open now: %(open)s."
                )
                % {"due": sla["res_due"] or 0, "ok": sla["res_on_time"] or 0, "open": sla["open"] or 0}
            ),
            res_ok,
        )
    )

    open_findings = dict(
        Finding.objects.filter(state__in=Finding.ACTIVE_STATES)
        .values("rule_kind")
        .annotate(n=Count("pk"))
        .values_list("rule_kind", "n")
    )
    total_findings = sum(open_findings.values())
    figures.append(
        Figure(
            "open_findings",
            str(_("Open findings")),
            f"{total_findings:,}",
            str(_("Removal-rule findings not yet cleared or decided (warned or suspended merchants).")),
            total_findings,
        )
    )
    surge_open, surge_week = surge_flag_counts(since=now - timedelta(days=7))
    figures.append(
        Figure(
            "surge_flags",
            str(_("Surge flags open")),
            f"{surge_open:,}",
            str(
                _("Shops whose hourly rate ran far above their baseline and were not yet cleared; %(week)s this week.")
                % {"week": surge_week}
            ),
            surge_open,
        )
    )

    charts: list[Chart] = []
    # One scan of the merchants for both charts: seated and visible shops per (city, district).
    seated: dict[int, int] = {}
    listed: dict[int, int] = {}
    per_district: dict[int, int] = {}
    for city_id, district_id, n_seated, n_listed in (
        Merchant.objects.filter(state__in=Merchant.SEATED_STATES)
        .values("city_id", "district_id")
        .annotate(seated=Count("pk"), listed=Count("pk", filter=Q(state__in=Merchant.VISIBLE_STATES)))
        .values_list("city_id", "district_id", "seated", "listed")
    ):
        seated[city_id] = seated.get(city_id, 0) + n_seated
        listed[city_id] = listed.get(city_id, 0) + n_listed
        per_district[district_id] = n_listed
    cities = list(City.objects.filter(is_active=True).order_by("code"))
    charts.append(
        Chart(
            "seats",
            str(_("Merchants per city against seats")),
            str(
                _(
                    "Bars: merchants in the catalogue (probation or listed). Mark: the city's seat quota. Warned and "
                    "suspended merchants hold a seat too (shown in the note)."
                )
            ),
            [
                Bar(
                    c.name,
                    listed.get(c.pk, 0),
                    limit=c.seat_quota,
                    note=str(
                        _("%(seated)s of %(quota)s seats taken")
                        % {"seated": seated.get(c.pk, 0), "quota": c.seat_quota}
                    ),
                )
                for c in cities
            ],
        )
    )
    districts = list(District.objects.select_related("city").order_by("city__code", "code"))
    coverage = sorted(
        (
            Bar(
                f"{d.city.name} · {d.name}",
                per_district.get(d.pk, 0),
                warn=per_district.get(d.pk, 0) < THIN_COVERAGE,
            )
            for d in districts
        ),
        key=lambda b: (b.value, b.label),
    )
    charts.append(
        Chart(
            "coverage",
            str(_("Coverage: shops per district (thinnest first)")),
            str(
                _("Merchants in the catalogue per district; districts with fewer than %(n)s are highlighted.")
                % {"n": THIN_COVERAGE}
            ),
            coverage[:30],
        )
    )
    days = [today - timedelta(days=i) for i in range(30, 0, -1)]
    daily = dict(
        OpsDailyTotal.objects.filter(local_date__gte=days[0], local_date__lt=today)
        .values("local_date")
        .annotate(n=Sum("redemptions"))
        .values_list("local_date", "n")
    )
    charts.append(
        Chart(
            "daily",
            str(_("Redemptions per day (30 days)")),
            str(_("Confirmed redemptions per local day from the nightly roll-up (voided ones excluded).")),
            [Bar(d.strftime("%m-%d"), daily.get(d, 0)) for d in days],
        )
    )
    kinds = dict(RemovalRule.Kind.choices)
    charts.append(
        Chart(
            "findings",
            str(_("Open findings by rule")),
            str(_("Active findings per removal rule type.")),
            [Bar(str(kinds[k]), open_findings.get(k, 0)) for k in RemovalRule.Kind.values],
        )
    )
    charts.append(
        Chart(
            "sla",
            str(_("Complaint SLA compliance (30 days)")),
            str(_("Share of due complaints handled within each SLA; the mark is the 95% target.")),
            [
                Bar(str(_("first response")), first_ok or 0, limit=95.0),
                Bar(str(_("resolution")), res_ok or 0, limit=95.0),
            ],
            unit="%",
        )
    )
    last = OpsDailyTotal.objects.order_by("-local_date").values_list("local_date", flat=True).first()
    return Overview(at=now, figures=figures, charts=charts, rollup_through=last)


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
    }


__all__ = ["Bar", "Chart", "Figure", "Overview", "ops_figures", "overview_as_json"]
