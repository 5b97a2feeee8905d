"""Pages of the merchants app: the public catalogue, merchant pages and the merchant console."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.files import private_file_response
from core.links import sections as slot_sections
from core.localtime import use_zone_of_city

from . import services
from .filters import CatalogueFilter, catalogue_search_note
from .forms import CapacityForm, InviteForm, OfferForm, OfflineForm, PhoneForm, PhotoForm, fen_to_yuan, yuan_to_fen
from .models import Category, City, District, Merchant, MerchantPhoto, MerchantStaff, OfferChange
from .selectors import (
    capacity_status,
    catalogue,
    catalogue_merchant,
    merchant_for_staff,
    merchant_is_open,
    merchants_of_staff,
    opening_hours_rows,
    photo_by_public_id,
    shop_photos,
    today_used,
)

PAGE_SIZE = 20
WEEKDAY_LABELS = {
    "mon": gettext_lazy("Monday"),
    "tue": gettext_lazy("Tuesday"),
    "wed": gettext_lazy("Wednesday"),
    "thu": gettext_lazy("Thursday"),
    "fri": gettext_lazy("Friday"),
    "sat": gettext_lazy("Saturday"),
    "sun": gettext_lazy("Sunday"),
}


def _row(merchant: Merchant, now: Any) -> dict[str, Any]:
    return {
        "merchant": merchant,
        "open_now": merchant_is_open(merchant=merchant, at=now),
        "capacity": capacity_status(merchant=merchant, used=today_used(merchant=merchant, at=now), at=now),
        "distance_km": getattr(merchant, "distance_km", None),
    }


def catalogue_page(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    filterset = CatalogueFilter(request.GET or None, queryset=catalogue(at=now))
    queryset = filterset.qs if filterset.is_bound else filterset.queryset
    if filterset.is_bound and not filterset.is_valid():
        queryset = catalogue(at=now).none()
    elif filterset.is_bound:
        catalogue_search_note(user=request.user, params=request.GET, first_page="page" not in request.GET)
    near = "distance_km" in queryset.query.annotations
    ordering = ("distance_km", "pk") if near else ("promotion_hold", "-pk")  # shops on surge hold last
    page = Paginator(queryset.order_by(*ordering), PAGE_SIZE).get_page(request.GET.get("page"))
    city = filterset.form.cleaned_data.get("city") if filterset.is_bound and filterset.is_valid() else None
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "merchants/catalogue.html",
        {
            "filter": filterset,
            "page": page,
            "rows": [_row(m, now) for m in page.object_list],
            "cities": City.objects.filter(is_active=True),
            # One city's districts once a city is chosen; before that, each city's under its own heading.
            "districts": District.objects.filter(city__code=city).select_related("city")
            if city
            else District.objects.filter(city__is_active=True).select_related("city").order_by("city__pk", "pk"),
            "city_chosen": bool(city),
            "categories": Category.objects.all(),
            "tiers": Category.PriceTier.choices,
            "query": query.urlencode(),
        },
    )


def merchant_page(request: HttpRequest, public_id: Any) -> HttpResponse:
    merchant = catalogue_merchant(public_id=public_id)
    if merchant is None:
        raise Http404
    use_zone_of_city(merchant.city)
    now = timezone.now()
    hours = [
        {
            "days": WEEKDAY_LABELS[row.first]
            if row.first == row.last
            else _("%(first)s – %(last)s") % {"first": WEEKDAY_LABELS[row.first], "last": WEEKDAY_LABELS[row.last]},
            "ranges": row.ranges,
            "today": row.today,
        }
        for row in opening_hours_rows(merchant=merchant, at=now)
    ]
    sections = [section.html for section in slot_sections("merchants.shop_page.sections", request, merchant=merchant)]
    return render(
        request,
        "merchants/merchant.html",
        {
            **_row(merchant, now),
            "hours": hours,
            "maps": map_links(merchant),
            "sections": sections,
            "photos": shop_photos(merchant=merchant),
        },
    )


def map_links(merchant: Merchant) -> dict[str, str]:
    """Directions to the shop: Amap's marker page (opens the Amap app where installed; our coordinates are
    WGS-84) and a ``geo:`` URI, which the phone hands to its own map app."""
    lat, lng, name = f"{merchant.lat:.6f}", f"{merchant.lng:.6f}", str(merchant.name)
    amap = urlencode({"position": f"{lng},{lat}", "name": name, "coordinate": "wgs84", "callnative": 1})
    return {"amap": f"https://uri.amap.com/marker?{amap}", "geo": f"geo:{lat},{lng}?q={lat},{lng}({quote(name)})"}


# --- Console ---------------------------------------------------------------------------------------


def _staff_or_404(request: HttpRequest, public_id: Any) -> tuple[Merchant, MerchantStaff]:
    found = merchant_for_staff(user=request.user, public_id=public_id)
    if found is None:
        raise Http404  # a shop the person does not work for does not exist for them
    use_zone_of_city(found[0].city)
    return found


def _error(request: HttpRequest, exc: DomainError) -> None:
    details = [item["detail"] for items in exc.fields.values() for item in items]
    messages.error(request, " ".join([exc.detail, *details]) if details else exc.detail)


@login_required
def console_home(request: HttpRequest) -> HttpResponse:
    return render(request, "merchants/console/home.html", {"shops": merchants_of_staff(user=request.user)})  # type: ignore[arg-type]


@login_required
def console_shop(request: HttpRequest, public_id: Any) -> HttpResponse:
    merchant, role = _staff_or_404(request, public_id)
    now = timezone.now()
    offer = merchant.offer
    pending = OfferChange.objects.filter(merchant=merchant, state=OfferChange.State.PENDING).first()
    return render(
        request,
        "merchants/console/shop.html",
        {
            "merchant": merchant,
            "role": role,
            "capacity": capacity_status(merchant=merchant, used=today_used(merchant=merchant, at=now), at=now),
            "pending": pending,
            "offer_form": OfferForm(
                initial={
                    "percent": offer.rate_bp / 100,
                    "cap_yuan": fen_to_yuan(offer.cap_fen),
                    "min_bill_yuan": fen_to_yuan(offer.min_bill_fen),
                }
            ),
            "capacity_form": CapacityForm(initial={"daily_capacity": merchant.daily_capacity}),
            "phone_form": PhoneForm(initial={"phone": merchant.phone}),
            "offline_form": OfflineForm(initial={"offline_accept": merchant.offline_accept}),
            "photo_form": PhotoForm(),
            "photos": shop_photos(merchant=merchant, shown_only=False),
        },
    )


@login_required
@require_POST
def console_photo_add(request: HttpRequest, public_id: Any) -> HttpResponse:
    """An owner uploads a photo of the shop; a curator reviews it before the shop page shows it."""
    merchant, _role = _staff_or_404(request, public_id)
    form = PhotoForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, form.errors.as_text())
        return redirect("merchants:console_shop", public_id=merchant.public_id)
    try:
        services.shop_photo_upload(
            merchant=merchant,
            actor=request.user,  # type: ignore[arg-type]
            upload=form.cleaned_data["photo"],
            caption=form.cleaned_data["caption"],
        )
        messages.success(request, _("Photo received: it appears on the shop page once a curator has looked at it."))
    except DomainError as exc:
        _error(request, exc)
    return redirect("merchants:console_shop", public_id=merchant.public_id)


@login_required
@require_POST
def console_photo_remove(request: HttpRequest, public_id: Any, photo_id: Any) -> HttpResponse:
    merchant, _role = _staff_or_404(request, public_id)
    photo = photo_by_public_id(public_id=photo_id)
    if photo is None or photo.merchant_id != merchant.pk:
        raise Http404
    try:
        services.shop_photo_remove(photo=photo, actor=request.user)  # type: ignore[arg-type]
        messages.success(request, _("Photo removed."))
    except DomainError as exc:
        _error(request, exc)
    return redirect("merchants:console_shop", public_id=merchant.public_id)


def shop_photo(request: HttpRequest, photo_id: Any) -> HttpResponseBase:
    """A shop photo's bytes (or a short-lived signed URL on object storage): an approved photo for anyone, a
    waiting or refused one only for the shop's staff and the console's curators."""
    photo = photo_by_public_id(public_id=photo_id)
    if photo is None:
        raise Http404
    if photo.state != MerchantPhoto.State.APPROVED:
        user: Any = request.user
        staff = user.is_authenticated and merchant_for_staff(user=user, public_id=photo.merchant.public_id)
        if not (staff or (user.is_authenticated and user.has_perm("merchants.change_merchantphoto"))):
            raise Http404
    return private_file_response(photo.image)


@login_required
@require_POST
def console_offer(request: HttpRequest, public_id: Any) -> HttpResponse:
    merchant, _role = _staff_or_404(request, public_id)
    form = OfferForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please check the offer: %(errors)s") % {"errors": form.errors.as_text()})
        return redirect("merchants:console_shop", public_id=merchant.public_id)
    try:
        change = services.offer_change_request(
            merchant=merchant,
            actor=request.user,  # type: ignore[arg-type]
            rate_bp=int(form.cleaned_data["percent"] * 100),
            cap_fen=yuan_to_fen(form.cleaned_data["cap_yuan"]),
            min_bill_fen=yuan_to_fen(form.cleaned_data["min_bill_yuan"]),
        )
    except DomainError as exc:
        _error(request, exc)
    else:
        if change.state == OfferChange.State.APPLIED:
            messages.success(request, _("Your new offer is live."))
        else:
            messages.info(
                request, _("Lowering the offer needs a curator's review; the current offer stays until then.")
            )
    return redirect("merchants:console_shop", public_id=merchant.public_id)


@login_required
@require_POST
def console_phone(request: HttpRequest, public_id: Any) -> HttpResponse:
    merchant, _role = _staff_or_404(request, public_id)
    form = PhoneForm(request.POST)
    if form.is_valid():
        try:
            services.merchant_phone_set(
                merchant=merchant,
                actor=request.user,  # type: ignore[arg-type]
                phone=form.cleaned_data["phone"],
            )
            messages.success(request, _("Phone saved."))
        except DomainError as exc:
            _error(request, exc)
    else:
        messages.error(request, form.errors.as_text())
    return redirect("merchants:console_shop", public_id=merchant.public_id)


@login_required
@require_POST
def console_capacity(request: HttpRequest, public_id: Any) -> HttpResponse:
    merchant, _role = _staff_or_404(request, public_id)
    form = CapacityForm(request.POST)
    if form.is_valid():
        try:
            services.merchant_capacity_set(
                merchant=merchant,
                actor=request.user,  # type: ignore[arg-type]
                daily_capacity=form.cleaned_data["daily_capacity"],
            )
            messages.success(request, _("Daily capacity saved."))
        except DomainError as exc:
            _error(request, exc)
    else:
        messages.error(request, form.errors.as_text())
    return redirect("merchants:console_shop", public_id=merchant.public_id)


@login_required
@require_POST
def console_offline(request: HttpRequest, public_id: Any) -> HttpResponse:
    merchant, _role = _staff_or_404(request, public_id)
    form = OfflineForm(request.POST)
    form.is_valid()  # a checkbox: absent means off
    accept = bool(form.cleaned_data.get("offline_accept"))
    try:
        services.merchant_offline_set(merchant=merchant, actor=request.user, accept=accept)  # type: ignore[arg-type]
        messages.success(
            request,
            _("The scanner accepts codes offline and syncs them later.")
            if accept
            else _("The scanner needs the network to accept codes."),
        )
    except DomainError as exc:
        _error(request, exc)
    return redirect("merchants:console_shop", public_id=merchant.public_id)


@login_required
@require_POST
def console_pause(request: HttpRequest, public_id: Any) -> HttpResponse:
    merchant, _role = _staff_or_404(request, public_id)
    paused = request.POST.get("paused") == "1"
    try:
        services.merchant_pause_today(merchant=merchant, actor=request.user, paused=paused)  # type: ignore[arg-type]
        messages.success(request, _("RedCard is paused for today.") if paused else _("RedCard is on again."))
    except DomainError as exc:
        _error(request, exc)
    return redirect("merchants:console_shop", public_id=merchant.public_id)


@login_required
def console_staff(request: HttpRequest, public_id: Any) -> HttpResponse:
    merchant, role = _staff_or_404(request, public_id)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.staff_invite(
                merchant=merchant,
                actor=request.user,  # type: ignore[arg-type]
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
            messages.success(request, _("Invitation sent."))
            return redirect("merchants:console_staff", public_id=merchant.public_id)
        except DomainError as exc:
            _error(request, exc)
    staff = MerchantStaff.objects.filter(merchant=merchant).select_related("user").order_by("role", "pk")
    return render(
        request, "merchants/console/staff.html", {"merchant": merchant, "role": role, "staff": staff, "form": form}
    )


@login_required
@require_POST
def console_staff_remove(request: HttpRequest, public_id: Any, staff_id: int) -> HttpResponse:
    merchant, _role = _staff_or_404(request, public_id)
    staff = MerchantStaff.objects.filter(merchant=merchant, pk=staff_id).select_related("user", "merchant").first()
    if staff is None:
        raise Http404
    try:
        services.staff_remove(staff=staff, actor=request.user)  # type: ignore[arg-type]
        messages.success(request, _("Removed from the shop's staff."))
    except DomainError as exc:
        _error(request, exc)
    return redirect("merchants:console_staff", public_id=merchant.public_id)
