"""Pages of the redemption path: the member's card, the staff scanner, tap-to-claim, my redemptions."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from core.errors import DomainError
from core.localtime import use_zone_of_city
from core.models import User
from members.events import selectors as event_selectors
from members.events import services as event_services
from members.selectors import Entitlement, Savings, entitlement, member_savings, trial_days_left
from merchants.selectors import merchant_for_staff, merchants_of_staff

from ..models import Claim, NfcTag
from . import codes, door, selectors, services
from .feed import feed_token

#: The NDEF URL suffix to program into an NTAG 424 DNA: the tag mirrors PICCData and SDMMAC over the zeros.
SUN_MIRROR = "&picc=" + "0" * 32 + "&cmac=" + "0" * 16
#: How many codes the card holds ahead, so it keeps working offline for a couple of minutes.
CODES_AHEAD = 4


def qr_svg(text: str, *, scale: int = 6) -> str:
    """An inline SVG of ``text`` (no XML declaration, no style attributes: CSP-safe)."""
    return segno.make(text, error="m", micro=False).svg_inline(scale=scale, border=2, dark="#111", light="#fff")


def card_payload(member: User) -> dict[str, Any]:
    """What the card page shows and refreshes: entitlement, the current and next codes, savings."""
    return _card_state(member)[0]


def _card_state(member: User) -> tuple[dict[str, Any], Entitlement, Savings]:
    """The card's payload with the entitlement and savings it was built from (the page shows more of them)."""
    now = timezone.now()
    ent = entitlement(user=member, at=now)
    savings = member_savings(user=member)
    items = []
    if ent.entitled:
        for ahead in range(CODES_AHEAD):
            code = services.member_code(member=member, at=now, ahead=ahead, entitled_until=ent.period_end)
            items.append(
                {
                    "qr": code.qr,
                    "code_id": codes.code_id(member_public_id=member.public_id, window=code.window),
                    "numeric": code.numeric,
                    "svg": qr_svg(code.qr),
                    "shows_from": int(code.shows_from.timestamp() * 1000),
                    "rotates_at": int(code.rotates_at.timestamp() * 1000),
                    "expires_at": int(code.expires_at.timestamp() * 1000),
                }
            )
    return (
        {
            "entitled": ent.entitled,
            "period_end": ent.period_end.isoformat() if ent.period_end else None,
            "server_time": int(now.timestamp() * 1000),
            "codes": items,
            "savings": {"saved_fen": savings.saved_fen, "fee_fen": savings.fee_fen},
        },
        ent,
        savings,
    )


def _yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


@login_required
@never_cache
def card(request: HttpRequest) -> HttpResponse:
    payload, ent, member_saved = _card_state(request.user)  # type: ignore[arg-type]
    savings = payload["savings"]
    share = min(100, int(100 * savings["saved_fen"] / savings["fee_fen"])) if savings["fee_fen"] else 0
    return render(
        request,
        "redemptions/card.html",
        {
            "payload": payload,
            "current": payload["codes"][0] if payload["codes"] else None,
            "saved": _yuan(savings["saved_fen"]),
            "fee": _yuan(savings["fee_fen"]),
            "meter_step": share // 5 * 5,
            "guarantee": member_saved.guarantee,
            "paid_back": 0 < savings["fee_fen"] <= savings["saved_fen"],
            "trial_days_left": trial_days_left(ent),
            # The same end as the membership page and the API: the subscription's, on the programme's calendar.
            "valid_until": parse_datetime(payload["period_end"]) if payload["period_end"] else None,
        },
    )


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    member: User = request.user  # type: ignore[assignment]
    redemptions = list(selectors.redemptions_of_member(member=member)[:200])
    savings = member_savings(user=member)
    return render(
        request,
        "redemptions/mine.html",
        {
            "redemptions": redemptions,
            "totals": selectors.member_totals(member=member),
            "saved": _yuan(savings.saved_fen),
            "fee": _yuan(savings.fee_fen),
        },
    )


# --- Staff -----------------------------------------------------------------------------------------


@login_required
def scanner_pick(request: HttpRequest) -> HttpResponse:
    shops = list(merchants_of_staff(user=request.user))  # type: ignore[arg-type]
    if len(shops) == 1:
        return redirect("redemptions:scanner", merchant_id=shops[0].public_id)
    return render(request, "redemptions/scanner_pick.html", {"shops": shops})


def _staff_merchant(request: HttpRequest, merchant_id: UUID) -> Any:
    found = merchant_for_staff(user=request.user, public_id=merchant_id)
    if found is None:
        raise Http404
    use_zone_of_city(found[0].city)
    return found[0]


@login_required
@never_cache
def scanner(request: HttpRequest, merchant_id: UUID) -> HttpResponse:
    merchant = _staff_merchant(request, merchant_id)
    day = selectors.merchant_today(merchant=merchant)
    state = selectors.counter_state(merchant=merchant)
    return render(
        request,
        "redemptions/scanner.html",
        {
            "merchant": merchant,
            "offer": merchant.offer,
            "state": state,
            "staff_id": request.user.pk,
            "claim_feed_token": feed_token(merchant_public_id=merchant.public_id, staff_id=int(request.user.pk or 0)),
            "today": list(selectors.redemptions_of_merchant_day(merchant=merchant, day=day)[:100]),
            "used": state["used"],
            "void_minutes": int(services.void_window().total_seconds() // 60),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def stand(request: HttpRequest, merchant_id: UUID) -> HttpResponse:
    """The shop's printable QR stand and its NFC tags (each tag holds the claim URL)."""
    merchant = _staff_merchant(request, merchant_id)
    if request.method == "POST":
        try:
            services.tag_register(
                merchant=merchant,
                actor=request.user,  # type: ignore[arg-type]
                label=request.POST.get("label", ""),
                kind=request.POST.get("kind", NfcTag.Kind.PLAIN),
                meta_read_key=request.POST.get("meta_read_key", ""),
                file_read_key=request.POST.get("file_read_key", ""),
            )
        except DomainError as exc:
            messages.error(request, "; ".join(f["detail"] for fs in exc.fields.values() for f in fs) or exc.detail)
        return redirect("redemptions:stand", merchant_id=merchant.public_id)
    claim_url = request.build_absolute_uri(reverse("redemptions:claim", kwargs={"merchant_id": merchant.public_id}))
    tags = [
        {"tag": tag, "url": f"{claim_url}?t={tag.public_id}" + (SUN_MIRROR if tag.kind == "sun" else "")}
        for tag in selectors.tags_of_merchant(merchant=merchant)
    ]
    return render(
        request,
        "redemptions/stand.html",
        {"merchant": merchant, "claim_url": claim_url, "qr": qr_svg(claim_url, scale=8), "tags": tags},
    )


# --- Tap or scan at the counter --------------------------------------------------------------------


def tag_from_tap(*, merchant: Any, tag_id: Any, picc: str, cmac: str) -> tuple[NfcTag | None, bool]:
    """The tag a tap came from and whether its SUN message verified. A plain tag (or the printed
    stand) is a location hint only; a SUN tag must present a fresh, genuine message."""
    if not tag_id:
        return None, False
    tag = selectors.tag_of_merchant(merchant=merchant, public_id=tag_id)
    if tag is None:
        raise DomainError("tag_invalid", reason="unknown_tag")
    if tag.kind != NfcTag.Kind.SUN:
        return tag, False
    if not picc or not cmac:
        raise DomainError("tag_invalid", reason="missing_sun")
    services.tag_tap_verify(tag=tag, picc_data=picc, cmac=cmac)
    return tag, True


_TAP_SESSION = "redemptions.tap"


@require_http_methods(["GET", "POST"])
def claim(request: HttpRequest, merchant_id: UUID) -> HttpResponse:
    """The page a member's phone opens from the shop's QR stand or NFC tag. A signed-out visitor sees the shop
    and its offer first, then signs in and comes back here, tap included."""
    merchant = selectors.merchant_by_public_id(public_id=merchant_id)
    if merchant is None:
        raise Http404
    use_zone_of_city(merchant.city)
    if not request.user.is_authenticated:
        if request.method == "POST":
            return redirect_to_login(request.get_full_path())
        context = {"merchant": merchant, "offer": merchant.offer, "anonymous": True, "next": request.get_full_path()}
        return render(request, "redemptions/claim.html", context)
    member: User = request.user
    tap_error = None
    if request.method == "GET" and request.GET.get("t"):
        try:
            tag, verified = tag_from_tap(
                merchant=merchant,
                tag_id=_uuid(request.GET.get("t")),
                picc=request.GET.get("picc", ""),
                cmac=request.GET.get("cmac", ""),
            )
            request.session[_TAP_SESSION] = {
                "merchant": merchant.pk,
                "tag": tag.pk if tag else None,
                "verified": verified,
                "at": timezone.now().timestamp(),
            }
        except DomainError as exc:
            services.refusal_record(error=exc, step="tap", merchant=merchant, channel="member_claim", member=member)
            tap_error = exc
    if request.method == "POST":
        tap = request.session.pop(_TAP_SESSION, None) or {}
        fresh = tap.get("merchant") == merchant.pk and timezone.now().timestamp() - tap.get("at", 0) < 600
        tag_pk = int(tap.get("tag") or 0)
        tag = NfcTag.objects.filter(pk=tag_pk).first() if fresh and tag_pk else None
        try:
            created = services.claim_create(
                member=member,
                merchant=merchant,
                bill=request.POST.get("bill", ""),
                tag=tag,
                tag_verified=bool(fresh and tap.get("verified")),
            )
        except DomainError as exc:
            return render(
                request,
                "redemptions/claim.html",
                {"merchant": merchant, "offer": merchant.offer, "error": exc, "bill": request.POST.get("bill", "")},
                status=exc.status,
            )
        return redirect("redemptions:claim_live", claim_id=created.public_id)
    return render(
        request,
        "redemptions/claim.html",
        {
            "merchant": merchant,
            "offer": merchant.offer,
            "error": tap_error,
            "entitled": entitlement(user=member).entitled,
        },
    )


def _uuid(value: str | None) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


@login_required
@never_cache
def claim_live(request: HttpRequest, claim_id: UUID) -> HttpResponse:
    found = selectors.claim_of_member(member=request.user, public_id=claim_id)  # type: ignore[arg-type]
    if found is None:
        raise Http404
    if found.status == Claim.Status.PENDING and found.expires_at <= timezone.now():
        services.claims_expire()
        found.refresh_from_db()
    return render(
        request,
        "redemptions/claim_live.html",
        {"claim": found, "charge": _yuan(found.bill_fen - found.discount_fen), "member": request.user},
    )


# --- The scanner's event mode: check-in at an event's door ------------------------------------------


@login_required
def door_pick(request: HttpRequest) -> HttpResponse:
    events = event_selectors.door_events(user=request.user)
    if len(events) == 1:
        return redirect("redemptions:door", event_id=events[0].public_id)
    rows = [{"event": e, "starts": event_services.local_text(e, e.starts_at)} for e in events]
    return render(request, "redemptions/door_pick.html", {"rows": rows})


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def door_scan(request: HttpRequest, event_id: UUID) -> HttpResponse:
    """The door page: camera (same detector as the counter) or the code typed; the result in one
    word and the number of people. Works without JavaScript (the form posts here)."""
    event = event_selectors.event_by_public_id(public_id=event_id)
    if event is None or not event_services.may_manage(event=event, user=request.user):
        raise Http404
    result: dict[str, Any] | None = None
    if request.method == "POST":
        try:
            outcome = door.event_door_scan(
                event=event,
                text=request.POST.get("code", ""),
                counter=services.Counter(staff=request.user),  # type: ignore[arg-type]
            )
        except DomainError as exc:
            result = {"ok": False, "code": exc.code, "detail": exc.detail}
        else:
            result = {"ok": True, "places": outcome.places, "member": outcome.member_masked}
    counts = event_selectors.event_counts(event=event)
    return render(
        request,
        "redemptions/door.html",
        {
            "event": event,
            "starts": event_services.local_text(event, event.starts_at),
            "counts": counts,
            "result": result,
            "now": timezone.now(),
        },
        status=200,
    )


# --- The service worker: the scanner and the card open with no network ------------------------------


#: What the scanner and the card need to run offline (cached when the worker installs).
OFFLINE_ASSETS = (
    "css/site.css",
    "css/redemptions.css",
    "js/localtime.js",
    "js/redemptions-scanner.js",
    "js/redemptions-codes.js",
    "js/redemptions-camera.js",
    "js/redemptions-offline.js",
    "js/redemptions-card.js",
    "img/redcard.svg",
    "vendor/barcode-detector/ponyfill.js",
    "vendor/barcode-detector/zxing-exported.js",
    "vendor/barcode-detector/zxing_reader.wasm",
)


@require_http_methods(["GET"])
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker of /r/ (its scope): pages of the scanner and the card are kept as last fetched and
    served from there when the network is down; the static files they use are cached at install. Rendered so
    that it names the static files by their served (hashed) URLs; a new deployment changes them, and so the
    worker's bytes, which makes browsers install the new one."""
    assets = [static(path) for path in OFFLINE_ASSETS]
    response = render(
        request,
        "redemptions/sw.js",
        {"assets": json.dumps(assets), "version": hashlib.sha256("|".join(assets).encode()).hexdigest()[:12]},
        content_type="application/javascript; charset=utf-8",
    )
    response["Cache-Control"] = "no-cache"
    return response
