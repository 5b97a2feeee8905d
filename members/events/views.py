"""Member event pages (under /membership/events/): the list with the priority countdown, an event's
page (register, waitlist, confirm an offered place, cancel, the registration QR), my registrations,
and the organiser's list with its CSV export."""

from __future__ import annotations

import csv
from datetime import UTC
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError
from merchants.selectors import merchants_of_staff as staff_shops
from merchants.selectors import staff_membership

from ..models import Event, EventPayment, EventRegistration
from ..payments import wechat_signin
from . import payments as event_payments
from . import selectors, services
from .forms import EventProposalForm

State = EventRegistration.State


def is_owner(*, user: Any, merchant: Any) -> bool:
    role = staff_membership(user=user, merchant=merchant)
    return role is not None and role.is_owner


def _qr_svg(text: str) -> str:
    import segno

    return str(segno.make(text, error="m").svg_inline(scale=5, dark="#1f1f1f"))


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def event_row(event: Event, user: Any, at: Any) -> dict[str, Any]:
    """What a list shows of one event: local times, places left and the countdown to the window
    that concerns this person."""
    opens_at = event.public_open_at
    priority = False
    if user is not None and user.is_authenticated:
        access = services.registration_access(event=event, user=user, at=at)
        opens_at, priority = access.opens_at, access.priority
    return {
        "event": event,
        "starts": services.local_text(event, event.starts_at),
        "ends": services.local_text(event, event.ends_at)[-5:],
        "members_open": services.local_text(event, event.members_open_at),
        "public_open": services.local_text(event, event.public_open_at),
        "opens_at": opens_at,
        "opens_iso": opens_at.astimezone(UTC).isoformat(),
        "opens_local": services.local_text(event, opens_at),
        "open_now": opens_at <= at < event.starts_at,
        "priority": priority,
        "places_left": max(0, event.capacity - event.places_taken),
        "distance_km": getattr(event, "distance_km", None),
    }


def event_list(request: HttpRequest) -> HttpResponse:
    """Upcoming events, nearest first when the page knows where the person is (``?lat=&lng=``)."""
    now = timezone.now()
    events = selectors.upcoming_events(at=now)
    lat, lng = _float(request.GET.get("lat")), _float(request.GET.get("lng"))
    rows = selectors.near(events, lat=lat, lng=lng) if lat is not None and lng is not None else list(events[:100])
    return render(
        request,
        "members/events/list.html",
        {
            "rows": [event_row(event, request.user, now) for event in rows[:100]],
            "near": lat is not None,
            "organiser": request.user.is_authenticated and staff_shops(user=request.user).exists(),
        },
    )


def _event_or_404(public_id: UUID) -> Event:
    event = selectors.event_by_public_id(public_id=public_id)
    if event is None:
        raise Http404
    return event


def event_page(request: HttpRequest, public_id: UUID) -> HttpResponse:
    event = _event_or_404(public_id)
    now = timezone.now()
    registration = selectors.registration_of(event=event, user=request.user)
    context: dict[str, Any] = {
        **event_row(event, request.user, now),
        "registration": registration,
        "States": State,
        "cutoff": services.local_text(event, services.cancel_cutoff(event)),
        "can_cancel": registration is not None
        and registration.state in (State.REGISTERED, State.OFFERED, State.PENDING_PAYMENT, State.WAITLISTED)
        and (registration.state == State.WAITLISTED or now < services.cancel_cutoff(event)),
        "ahead": selectors.waiting_ahead(registration=registration) if registration else None,
        "may_manage": services.may_manage(event=event, user=request.user),
        "guest_choices": range(event.max_guests + 1),
    }
    if registration is not None and registration.offer_expires_at:
        context["confirm_by"] = services.local_text(event, registration.offer_expires_at)
    if registration is not None and registration.state == State.PENDING_PAYMENT:
        context["payment"] = registration.payments.filter(state=EventPayment.State.PENDING).order_by("-pk").first()
    if registration is not None and registration.state == State.REGISTERED:
        ticket = services.ticket_text(registration=registration)
        context["ticket_svg"] = mark_safe(_qr_svg(ticket))  # noqa: S308 (segno's own SVG)
    return render(request, "members/events/event.html", context)


def _act(request: HttpRequest, event: Event, action: Any, success: str) -> HttpResponse:
    try:
        action()
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, success)
    return redirect("members:event", public_id=event.public_id)


#: What a member asked for on a paid event's page inside WeChat while WeChat's sign-in runs (``resume``
#: takes it once): the openid WeChat Pay's JSAPI checkout needs comes first, as for the card.
INTENT_SESSION_KEY = "members.event_intent"


def _signin_first(request: HttpRequest, event: Event, **intent: Any) -> HttpResponse | None:
    """Inside WeChat without the member's openid: keep ``intent`` and send the member through WeChat's
    sign-in, which leads back to :func:`resume`. ``None`` when no sign-in is needed."""
    if not wechat_signin.signin_needed(request):
        return None
    request.session[INTENT_SESSION_KEY] = {"event": str(event.public_id), **intent}
    return redirect(wechat_signin.signin_start(request, then=reverse("members:event_resume", args=[event.public_id])))


@login_required
def resume(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Where WeChat's sign-in leads: the registration or confirmation asked for before it, taken once."""
    event = _event_or_404(public_id)
    intent = request.session.pop(INTENT_SESSION_KEY, None)
    if not isinstance(intent, dict) or intent.get("event") != str(event.public_id):
        return redirect("members:event", public_id=event.public_id)
    if intent.get("action") == "confirm":
        return _confirm(request, event)
    return _register(request, event, guests=int(intent.get("guests") or 0))


@login_required
@require_POST
def register(request: HttpRequest, public_id: UUID) -> HttpResponse:
    event = _event_or_404(public_id)
    try:
        guests = int(request.POST.get("guests") or 0)
    except ValueError:
        guests = -1
    if not event.is_free:
        signin = _signin_first(request, event, action="register", guests=guests)
        if signin is not None:
            return signin
    return _register(request, event, guests=guests)


def _register(request: HttpRequest, event: Event, *, guests: int) -> HttpResponse:
    try:
        registration = services.registration_create(
            event=event,
            user=request.user,  # type: ignore[arg-type]
            guests=guests,
            payer=wechat_signin.payer_of(request),
        )
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        if registration.state == State.PENDING_PAYMENT:
            return _to_checkout(registration)
        if registration.state == State.WAITLISTED:
            messages.success(
                request,
                _("The event is full: you are number %(n)s on the waitlist.") % {"n": registration.waitlist_position},
            )
        else:
            messages.success(request, _("You are registered."))
    return redirect("members:event", public_id=event.public_id)


def _own_registration(request: HttpRequest, event: Event) -> EventRegistration:
    registration = selectors.registration_of(event=event, user=request.user)
    if registration is None:
        raise Http404
    return registration


@login_required
@require_POST
def cancel(request: HttpRequest, public_id: UUID) -> HttpResponse:
    event = _event_or_404(public_id)
    registration = _own_registration(request, event)
    return _act(
        request,
        event,
        lambda: services.registration_cancel(
            registration=registration,
            actor=request.user,  # type: ignore[arg-type]
            reason="cancelled by the person",
        ),
        _("Your registration is cancelled."),
    )


@login_required
@require_POST
def give_back(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The person keeps their place and gives the guest's back (a paid one's share is refunded)."""
    event = _event_or_404(public_id)
    registration = _own_registration(request, event)
    return _act(
        request,
        event,
        lambda: services.registration_reduce(registration=registration, actor=request.user),  # type: ignore[arg-type]
        _("The guest's place is given back."),
    )


@login_required
@require_POST
def confirm(request: HttpRequest, public_id: UUID) -> HttpResponse:
    event = _event_or_404(public_id)
    if _own_registration(request, event).price_fen > 0:
        signin = _signin_first(request, event, action="confirm")
        if signin is not None:
            return signin
    return _confirm(request, event)


def _confirm(request: HttpRequest, event: Event) -> HttpResponse:
    registration = _own_registration(request, event)
    try:
        registration = services.offer_confirm(
            registration=registration,
            user=request.user,  # type: ignore[arg-type]
            payer=wechat_signin.payer_of(request),
        )
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("members:event", public_id=event.public_id)
    if registration.state == State.PENDING_PAYMENT:
        return _to_checkout(registration)
    messages.success(request, _("The place is yours."))
    return redirect("members:event", public_id=event.public_id)


def _to_checkout(registration: EventRegistration) -> HttpResponse:
    """Off to the provider's hosted checkout page of the registration's open order."""
    payment = registration.payments.filter(state=EventPayment.State.PENDING).order_by("-pk").first()
    if payment is None or not payment.checkout_url:
        return redirect("members:event", public_id=registration.event.public_id)
    return redirect(payment.checkout_url)


@login_required
def paid(request: HttpRequest, public_id: UUID, payment_id: UUID) -> HttpResponse:
    """Where the provider sends the payer back: ask it at once (the notification may be late)."""
    event = _event_or_404(public_id)
    payment = event_payments.payment_of(public_id=payment_id)
    if payment is None or payment.registration.user_id != request.user.pk or payment.registration.event_id != event.pk:
        raise Http404
    try:
        outcome = event_payments.sync(payment=payment)
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        if outcome in ("registered", "already_paid"):
            messages.success(request, _("Payment received: you are registered."))
        elif outcome == "refund_due":
            messages.error(request, _("The place was released before your payment arrived; the money is refunded."))
        elif outcome == "released":
            messages.error(request, _("The payment was not completed, so the place was released."))
        else:
            messages.info(request, _("We are waiting for the payment to be confirmed."))
    return redirect("members:event", public_id=event.public_id)


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    rows = []
    for registration in selectors.registrations_of_user(user=request.user)[:100]:  # type: ignore[arg-type]
        rows.append(
            {
                "registration": registration,
                "starts": services.local_text(registration.event, registration.event.starts_at),
                "ahead": selectors.waiting_ahead(registration=registration),
            }
        )
    return render(request, "members/events/mine.html", {"rows": rows, "States": State})


def _managed_or_404(request: HttpRequest, public_id: UUID) -> Event:
    event = selectors.event_by_public_id(public_id=public_id, published_only=False)
    if event is None or not services.may_manage(event=event, user=request.user):
        raise Http404
    return event


@login_required
def attendance(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The organiser's counts and list (who registered, who waits, who came)."""
    event = _managed_or_404(request, public_id)
    rows = list(selectors.attendance(event=event))
    if request.GET.get("format") == "csv":
        return attendance_csv(event, rows)
    return render(
        request,
        "members/events/attendance.html",
        {
            "event": event,
            "counts": selectors.event_counts(event=event),
            "rows": rows,
            "starts": services.local_text(event, event.starts_at),
            "zone": services.event_zone(event),
        },
    )


def attendance_csv(event: Event, rows: list[EventRegistration]) -> HttpResponse:
    """The attendance list as CSV (UTF-8 with a BOM so spreadsheet programs read the Chinese)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="event-{event.public_id}-attendance.csv"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(
        [_("name"), _("e-mail"), _("state"), _("places"), _("waitlist number"), _("checked in at"), _("no-show")]
    )
    for registration in rows:
        checkin = getattr(registration, "checkin", None) if hasattr(registration, "checkin") else None
        writer.writerow(
            [
                registration.user.display_name,
                registration.user.email,
                registration.get_state_display(),
                registration.places,
                registration.waitlist_position or "",
                services.local_text(event, checkin.at) if checkin else "",
                _("yes") if registration.no_show else "",
            ]
        )
    return response


# --- Organisers: a shop's events and proposing one -----------------------------------------------------


@login_required
def organise(request: HttpRequest) -> HttpResponse:
    """The events of the shops where this person is owner or staff, with their counts."""
    shops = list(staff_shops(user=request.user))  # type: ignore[arg-type]
    rows = []
    for shop in shops:
        for event in selectors.managed_events(merchant=shop)[:50]:
            rows.append(
                {
                    "event": event,
                    "shop": shop,
                    "starts": services.local_text(event, event.starts_at),
                    "counts": selectors.event_counts(event=event),
                }
            )
    owned = [shop for shop in shops if shop.is_visible and is_owner(user=request.user, merchant=shop)]
    return render(request, "members/events/organise.html", {"rows": rows, "owned": owned})


@login_required
def propose(request: HttpRequest, merchant_id: UUID) -> HttpResponse:
    """A listed shop's owner proposes an event at the shop; a curator reviews it before it is shown."""
    shop = next(
        (s for s in staff_shops(user=request.user) if s.public_id == merchant_id and s.is_visible),  # type: ignore[arg-type]
        None,
    )
    if shop is None or not is_owner(user=request.user, merchant=shop):
        raise Http404
    form = EventProposalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.event_create(data=form.to_input(merchant=shop), actor=request.user, organiser_id=shop.pk)  # type: ignore[arg-type]
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(request, _("Thank you: the event is sent to the curators for review."))
            return redirect("members:events_organise")
    return render(request, "members/events/propose.html", {"form": form, "shop": shop})
