"""The merchant owner's dashboard (/r/dashboard/...) and the member's post-redemption note invitation.

Only the shop's owner sees its dashboard: someone who is not staff of the shop gets 404 (the shop's existence
is not confirmed to strangers), its staff who are not owners get 403.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from core.errors import DomainError
from core.localtime import use_zone_of_city
from core.models import User
from core.replica import replica_reads
from merchants.models import Merchant, MerchantStaff
from merchants.selectors import merchant_for_staff, merchants_owned
from redemptions.counter.selectors import offline_attention, redemption_by_public_id

from ..attribution import selectors as attribution_selectors
from ..attribution import services as attribution
from ..attribution.selectors import DayPoint
from ..models import AttributionModel

CSV_KINDS = ("leaderboard", "daily", "audience")

# The chart's drawing box (SVG user units; CSS scales it to the screen).
CHART_W, CHART_H = 720, 240
PAD_L, PAD_R, PAD_T, PAD_B = 44, 12, 14, 30


def yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def owned_merchant(request: HttpRequest, merchant_id: UUID) -> Merchant:
    found = merchant_for_staff(user=request.user, public_id=merchant_id)
    if found is None:
        raise Http404
    merchant, staff = found
    if staff.role != MerchantStaff.Role.OWNER:
        raise PermissionDenied(str(DomainError("dashboard_not_owner").detail))
    use_zone_of_city(merchant.city)
    return merchant


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    label: str


def _nice_max(value: int) -> int:
    if value <= 4:
        return 4
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 4, 6, 8, 10):  # even, so that the middle tick is a whole number
        top = int(step * magnitude)
        if top >= value:
            return top
    return value


def chart(daily: list[DayPoint], *, width: int = CHART_W, font: int = 11) -> dict[str, Any]:
    """The daily chart as SVG geometry: a bar per day (redemptions, counted on the left axis) and a line (the bill
    total, in ¥ on the right axis), no inline styles. ``width``/``font`` in SVG units: the phone's chart is drawn
    narrower with a larger font so that its text stays readable when scaled to the screen."""
    pad_l, pad_r = PAD_L + font, PAD_R + 4 * font
    inner_w, inner_h = width - pad_l - pad_r, CHART_H - PAD_T - PAD_B
    top = _nice_max(max((p.redemptions for p in daily), default=0))
    top_yuan = _nice_max(-(-max((p.gmv_fen for p in daily), default=0) // 100))
    slot = inner_w / max(1, len(daily))
    bars, points, xticks = [], [], []
    label_every = max(1, len(daily) // max(2, inner_w // (font * 6)))
    for i, p in enumerate(daily):
        h = inner_h * p.redemptions / top
        x = pad_l + i * slot
        bars.append(
            Bar(
                round(x + slot * 0.15, 1),
                round(PAD_T + inner_h - h, 1),
                round(max(1.0, slot * 0.7), 1),
                round(h, 1),
                _("%(day)s: %(n)s redemptions, ¥%(gmv)s")
                % {"day": p.day.isoformat(), "n": p.redemptions, "gmv": f"{p.gmv_fen / 100:.2f}"},
            )
        )
        points.append(f"{x + slot / 2:.1f},{PAD_T + inner_h - inner_h * p.gmv_fen / (top_yuan * 100):.1f}")
        if (len(daily) - 1 - i) % label_every == 0:  # the latest day always carries its date
            xticks.append(Tick(round(x + slot / 2, 1), CHART_H - 10, p.day.strftime("%m-%d")))
    levels = (0, 0.5, 1)
    yticks = [Tick(pad_l - 6, round(PAD_T + inner_h - inner_h * f, 1) + 4, str(int(top * f))) for f in levels]
    money_ticks = [
        Tick(width - pad_r + 6, round(PAD_T + inner_h - inner_h * f, 1) + 4, f"¥{int(top_yuan * f):,}") for f in levels
    ]
    return {
        "width": width,
        "height": CHART_H,
        "font": font,
        "bars": bars,
        "line": " ".join(points),
        "xticks": xticks,
        "yticks": yticks,
        "money_ticks": money_ticks,
        "base_y": PAD_T + inner_h,
        "top_y": PAD_T,
        "left": pad_l,
        "right": width - pad_r,
    }


#: The phone's chart: the latest two weeks in a narrow box.
PHONE_DAYS, PHONE_W = 14, 360


@login_required
def dashboard_pick(request: HttpRequest) -> HttpResponse:
    """The shops this person owns; straight to the dashboard when there is one."""
    user = request.user
    assert isinstance(user, User)
    owned = merchants_owned(user=user)
    if len(owned) == 1:
        return redirect("redemptions:dashboard", merchant_id=owned[0].public_id)
    return render(request, "redemptions/dashboard/pick.html", {"merchants": owned})


def _board(request: HttpRequest, merchant: Merchant) -> attribution_selectors.Dashboard:
    today = attribution_selectors.merchant_today(merchant=merchant)
    period = attribution_selectors.period_parse(start=request.GET.get("from"), end=request.GET.get("to"), today=today)
    model = attribution_selectors.model_parse(request.GET.get("model"))
    return attribution_selectors.dashboard(merchant=merchant, period=period, model=model, today=today)


@login_required
@never_cache
def dashboard(request: HttpRequest, merchant_id: UUID) -> HttpResponse:
    merchant = owned_merchant(request, merchant_id)
    error = None
    try:
        board = _board(request, merchant)
    except DomainError as exc:
        error = exc.detail
        today = attribution_selectors.merchant_today(merchant=merchant)
        period = attribution_selectors.period_parse(start=None, end=None, today=today)
        board = attribution_selectors.dashboard(
            merchant=merchant, period=period, model=AttributionModel.LAST_TOUCH, today=today
        )
    query = f"from={board.period.start.isoformat()}&to={board.period.end.isoformat()}&model={board.model}"
    with replica_reads():  # the figures from the replica; who may see them was checked on the primary
        offline_list = offline_attention(merchant=merchant, since=timezone.now() - timedelta(days=30))
    return render(
        request,
        "redemptions/dashboard/dashboard.html",
        {
            "merchant": merchant,
            "board": board,
            "error": error,
            "chart": chart(board.daily),
            "phone_chart": chart(board.daily[-PHONE_DAYS:], width=PHONE_W, font=13),
            "models": AttributionModel.choices,
            "model_label": AttributionModel(board.model).label,
            "query": query,
            "csv_kinds": CSV_KINDS,
            "money": {
                "gmv": yuan(board.totals.gmv_fen),
                "discount": yuan(board.totals.discount_fen),
                "average": yuan(board.totals.average_bill_fen),
            },
            "leaders": [{**asdict(row), "revenue_yuan": yuan(row.revenue_fen)} for row in board.leaderboard],
            "offline": offline_list,
        },
        status=422 if error else 200,
    )


@login_required
def dashboard_csv(request: HttpRequest, merchant_id: UUID, kind: str) -> HttpResponse:
    if kind not in CSV_KINDS:
        raise Http404
    merchant = owned_merchant(request, merchant_id)
    try:
        board = _board(request, merchant)
    except DomainError as exc:
        return HttpResponse(exc.detail, status=422, content_type="text/plain; charset=utf-8")
    response = HttpResponse(
        "\ufeff" + attribution_selectors.csv_text(board=board, kind=kind), content_type="text/csv; charset=utf-8"
    )
    name = f"redcard-{kind}-{board.period.start.isoformat()}-{board.period.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@never_cache
def note_invite(request: HttpRequest, redemption_id: UUID) -> HttpResponse:
    """After a redemption: write a note about the visit (pre-tagged with the shop and #小红卡)."""
    redemption = redemption_by_public_id(public_id=redemption_id)
    if redemption is None or redemption.member_id != request.user.pk:
        raise Http404
    try:
        invite = attribution.note_invite(redemption=redemption, member=request.user)
    except DomainError as exc:
        return render(
            request,
            "redemptions/dashboard/note_invite.html",
            {"redemption": redemption, "invite": None, "error": exc.detail, "back": reverse("home")},
            status=409,
        )
    post_note = getattr(redemption, "post_note", None)  # RelatedObjectDoesNotExist is an AttributeError
    return render(
        request,
        "redemptions/dashboard/note_invite.html",
        {"redemption": redemption, "invite": invite, "post_note": post_note, "error": None},
    )
