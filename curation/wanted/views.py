"""The member's page of shops they asked for, with the form to ask for one more."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from core.errors import DomainError
from core.models import User

from . import selectors, services
from .forms import NominationForm


@login_required
def wanted_mine(request: HttpRequest) -> HttpResponse:
    member: User = request.user  # type: ignore[assignment]
    form = NominationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            nomination = services.nomination_submit(
                member=member,
                city=data["city"],
                district=data["district"],
                name=data["name"],
                address=data["address"],
                lat=data["lat"],
                lng=data["lng"],
                note_url=data["note_url"],
            )
        except DomainError as exc:
            if exc.fields:
                for field, items in exc.fields.items():
                    form.add_error(field if field in form.fields else None, [item["detail"] for item in items])
            else:
                form.add_error(None, exc.detail)
        else:
            messages.success(
                request,
                _("Thank you: we have noted that you want %(shop)s. We will tell you when it takes RedCard.")
                % {"shop": nomination.shop.name},
            )
            return redirect("curation:wanted")
    return render(
        request,
        "curation/wanted/mine.html",
        {"form": form, "nominations": list(selectors.nominations_of(member=member)[:100])},
    )
