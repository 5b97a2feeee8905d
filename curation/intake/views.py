"""The merchant owner's application wizard (mobile, zh-Hans/en): drafts saved step by step, read-only
once submitted until the curators decide or ask for changes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.errors import DomainError
from curation.models import Application
from curation.wanted.selectors import invited_shop
from merchants.forms import fen_to_yuan, yuan_to_fen
from merchants.validators import opening_hours_text

from . import selectors, services
from .forms import BusinessStep, ContactStep, LocationStep, OfferStep, ShopStep

STEPS: dict[str, tuple[Any, type[forms.Form]]] = {
    "business": (gettext_lazy("Business"), BusinessStep),
    "location": (gettext_lazy("Location"), LocationStep),
    "shop": (gettext_lazy("The shop"), ShopStep),
    "offer": (gettext_lazy("Offer"), OfferStep),
    "contact": (gettext_lazy("Contacts"), ContactStep),
}
#: wizard field -> application field (where the names differ)
FORM_TO_MODEL = {
    "average_spend_yuan": "average_spend_fen",
    "offer_percent": "offer_rate_bp",
    "offer_cap_yuan": "offer_cap_fen",
    "offer_min_bill_yuan": "offer_min_bill_fen",
}
MODEL_TO_FORM = {v: k for k, v in FORM_TO_MODEL.items()}


def _initial(app: Application | None) -> dict[str, Any]:
    if app is None:
        return {"dine_in": True}
    return {
        "legal_name": app.legal_name,
        "name_zh": app.name_zh,
        "name_en": app.name_en,
        "uscc": app.uscc,
        "food_licence": app.food_licence,
        "category": app.category_id,
        "city": app.city_id,
        "district": app.district_id,
        "address": app.address,
        "lat": app.lat,
        "lng": app.lng,
        "average_spend_yuan": fen_to_yuan(app.average_spend_fen),
        "external_rating": app.external_rating,
        "opening_hours": opening_hours_text(app.opening_hours) if app.opening_hours else "",
        "dine_in": app.dine_in,
        "offer_percent": None if app.offer_rate_bp is None else Decimal(app.offer_rate_bp) / 100,
        "offer_cap_yuan": fen_to_yuan(app.offer_cap_fen),
        "offer_min_bill_yuan": fen_to_yuan(app.offer_min_bill_fen),
        "daily_capacity": app.daily_capacity,
        "contact_name": app.contact_name,
        "contact_phone": app.contact_phone,
        "contact_email": app.contact_email,
        "links": app.links,
    }


PLACE_FIELDS = ("city", "district", "address", "lat", "lng")


def _invited(invite: str | None) -> dict[str, Any] | None:
    """A new application opened from a curator's invitation starts with what members said of the shop."""
    shop = invited_shop(public_id=invite) if invite else None
    if shop is None:
        return None
    return {
        **_initial(None),
        "name_zh": shop.name,
        "city": shop.city,
        "district": shop.district,
        "address": shop.address,
        "lat": shop.lat,
        "lng": shop.lng,
    }


def _to_model(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name in ("average_spend_yuan", "offer_cap_yuan", "offer_min_bill_yuan"):
            out[FORM_TO_MODEL[name]] = yuan_to_fen(value)
        elif name == "offer_percent":
            out["offer_rate_bp"] = None if value is None else int(value * 100)
        elif name == "opening_hours":
            out[name] = value.strip() or {}
        else:
            out[name] = value
    return out


def _current(request: HttpRequest) -> Application | None:
    return selectors.open_application(owner=request.user)  # type: ignore[arg-type]


def _summary(app: Application) -> list[tuple[str, Any]]:
    rows = []
    for _key, (_label, form_class) in STEPS.items():
        form = form_class(initial=_initial(app))
        for name, field in form.fields.items():
            value = form.initial.get(name)
            if isinstance(field, forms.ModelChoiceField):
                value = getattr(app, name)
            rows.append((str(field.label), value))
    return rows


def _apply_signed_out(request: HttpRequest) -> HttpResponse:
    """A signed-out shop owner (from the menu or a curator's invitation) sees what joining means and what to have
    at hand, then signs in or up and comes back to the page they opened, invitation included."""
    shop = _invited(request.GET.get("invite"))
    return render(
        request,
        "curation/apply_home.html",
        {"anonymous": True, "next": request.get_full_path(), "invited_name": shop["name_zh"] if shop else ""},
    )


def apply_home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return _apply_signed_out(request)
    app = _current(request)
    latest = app or selectors.applications_of(owner=request.user).first()
    missing: dict[str, Any] = {}
    if app is not None and app.is_editable:
        missing = {MODEL_TO_FORM.get(k, k): p for k, p in services.validate_complete(app).items()}
    return render(
        request,
        "curation/apply_home.html",
        {
            "app": latest,
            "steps": [(key, label) for key, (label, _f) in STEPS.items()],
            "summary": _summary(latest) if latest else [],
            "missing": missing,
            "message": selectors.latest_message(application=latest) if latest else "",
            "can_start": app is None,
        },
    )


def apply_step(request: HttpRequest, step: str) -> HttpResponse:
    if step not in STEPS:
        raise Http404
    if not request.user.is_authenticated:
        return _apply_signed_out(request)
    label, form_class = STEPS[step]
    app = _current(request)
    if app is not None and not app.is_editable:
        messages.error(request, DomainError("application_read_only").detail)
        return redirect("curation:apply")
    invited = None if app is not None else _invited(request.GET.get("invite"))
    form = form_class(request.POST or None, initial=_initial(app) if invited is None else invited)
    if request.method == "POST" and form.is_valid():
        # The first save of an invited shop keeps what members said of its place (the later steps' fields).
        carried = {} if invited is None else {k: v for k, v in invited.items() if k in PLACE_FIELDS}
        try:
            app = services.application_save(
                owner=request.user,
                application=app,
                data={**carried, **_to_model(form.cleaned_data)},
            )
        except DomainError as exc:
            if exc.fields:
                for name, items in exc.fields.items():
                    field = MODEL_TO_FORM.get(name, name)
                    target = field if field in form.fields else None
                    form.add_error(target, [item["detail"] for item in items])
            else:
                messages.error(request, exc.detail)
        else:
            keys = list(STEPS)
            index = keys.index(step)
            messages.success(request, _("Draft saved."))
            if "next" in request.POST and index + 1 < len(keys):
                return redirect("curation:apply_step", step=keys[index + 1])
            return redirect("curation:apply")
    return render(
        request,
        "curation/apply_step.html",
        {
            "form": form,
            "step": step,
            "label": label,
            "steps": [(key, lbl) for key, (lbl, _f) in STEPS.items()],
            "is_last": step == list(STEPS)[-1],
        },
    )


@login_required
@require_POST
def apply_submit(request: HttpRequest) -> HttpResponse:
    app = _current(request)
    if app is None:
        raise Http404
    try:
        services.application_submit(application=app, actor=request.user)  # type: ignore[arg-type]
        messages.success(request, _("Submitted. The curation team will review your application."))
    except DomainError as exc:
        details = [item["detail"] for items in exc.fields.values() for item in items]
        messages.error(request, " ".join([exc.detail, *details]))
    return redirect("curation:apply")


@login_required
@require_POST
def apply_withdraw(request: HttpRequest) -> HttpResponse:
    app = _current(request)
    if app is None:
        raise Http404
    try:
        services.application_withdraw(application=app, actor=request.user)  # type: ignore[arg-type]
        messages.success(request, _("Your application was withdrawn."))
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("curation:apply")
