"""Standing pages: a member complains (from their redemption history or a shop page) and follows the ticket;
a shop owner reads the complaints about the shop and its findings, answers and appeals. Mounted under
/curation/standing/ (see :mod:`.urls`)."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.files import private_file_response
from core.localtime import use_zone_of_city
from core.models import User
from curation.models import Complaint
from merchants.models import Merchant
from merchants.selectors import merchant_for_staff, merchant_with_city
from redemptions.counter.selectors import merchants_visited, redemption_of_member, redemptions_of_member

from . import services as standing
from .selectors import (
    complaint_messages,
    complaint_of_member,
    complaint_photo_for,
    complaint_sla,
    complaints_of_member,
    complaints_of_merchant,
    finding_of_merchant,
    findings_of_merchant,
)


class ComplaintForm(forms.Form):
    category = forms.ChoiceField(label=gettext_lazy("What went wrong?"), choices=Complaint.Category.choices)
    text = forms.CharField(
        label=gettext_lazy("Tell us what happened"),
        widget=forms.Textarea(attrs={"rows": 6, "maxlength": standing.MAX_TEXT}),
        required=False,
    )
    photo = forms.FileField(
        label=gettext_lazy("Photo (optional, JPEG, PNG or WebP, up to 5 MB)"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )


class MessageForm(forms.Form):
    body = forms.CharField(label=gettext_lazy("Your answer"), widget=forms.Textarea(attrs={"rows": 4}))


class AppealForm(forms.Form):
    text = forms.CharField(label=gettext_lazy("Why is this finding wrong?"), widget=forms.Textarea(attrs={"rows": 4}))


def _person(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


# --- member -------------------------------------------------------------------------------------------------


@login_required
def complaint_new(request: HttpRequest) -> HttpResponse:
    """The complaint form, opened from a redemption (``?redemption=``) or a shop page (``?merchant=``)."""
    member = _person(request)
    redemption = None
    merchant: Merchant | None = None
    if (rid := _uuid(request.GET.get("redemption") or request.POST.get("redemption"))) is not None:
        redemption = redemption_of_member(member=member, public_id=rid)
        if redemption is None:
            raise Http404
        merchant = redemption.merchant
    elif (mid := _uuid(request.GET.get("merchant") or request.POST.get("merchant"))) is not None:
        merchant = merchant_with_city(public_id=mid)
        if merchant is None:
            raise Http404
    form = ComplaintForm(request.POST or None, request.FILES or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            complaint = standing.complaint_file(
                member=member,
                category=form.cleaned_data["category"],
                text=form.cleaned_data["text"],
                redemption=redemption,
                merchant=None if redemption else merchant,
                photo=form.cleaned_data.get("photo") or None,
            )
        except DomainError as exc:
            error = exc.detail
        else:
            messages.success(request, _("Thank you. We will answer within 24 hours."))
            return redirect("curation:complaint_detail", public_id=complaint.public_id)
    return render(
        request,
        "curation/standing/complaint_new.html",
        {
            "form": form,
            "error": error,
            "redemption": redemption,
            "merchant": merchant,
            "visited": [] if merchant else list(merchants_visited(member=member)[:50]),
            "history": [] if merchant else list(redemptions_of_member(member=member)[:30]),
        },
        status=400 if error else 200,
    )


@login_required
def complaint_list(request: HttpRequest) -> HttpResponse:
    complaints = list(complaints_of_member(member=_person(request))[:100])
    return render(request, "curation/standing/complaint_list.html", {"complaints": complaints})


@login_required
def complaint_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    complaint = complaint_of_member(member=_person(request), public_id=public_id)
    if complaint is None:
        raise Http404
    return render(
        request,
        "curation/standing/complaint_detail.html",
        {
            "complaint": complaint,
            "thread": complaint_messages(complaint=complaint),
            "sla": complaint_sla(complaint=complaint),
        },
    )


@login_required
def complaint_photo(request: HttpRequest, public_id: uuid.UUID) -> HttpResponseBase:
    """A complaint's photo, for the member who filed it and for curators and operators (the console links
    here); 404 for everyone else. Streams from the file system or redirects to a short-lived signed URL."""
    complaint = complaint_photo_for(user=request.user, public_id=public_id)
    if complaint is None:
        raise Http404
    return private_file_response(complaint.photo)


# --- merchant owner ------------------------------------------------------------------------------------------


def _owned(request: HttpRequest, public_id: uuid.UUID) -> Merchant:
    found = merchant_for_staff(user=request.user, public_id=public_id)
    if found is None or not found[1].is_owner:
        raise Http404
    use_zone_of_city(found[0].city)
    return found[0]


@login_required
def shop_standing(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    merchant = _owned(request, public_id)
    complaints = list(complaints_of_merchant(merchant=merchant).prefetch_related("messages")[:100])
    findings = list(findings_of_merchant(merchant=merchant)[:50])
    return render(
        request,
        "curation/standing/shop.html",
        {
            "merchant": merchant,
            "complaints": [(c, [m for m in c.messages.all() if m.author_role != "internal"]) for c in complaints],
            "findings": [
                (f, standing.evidence_summary(kind=f.rule_kind, evidence=f.latest_evidence or f.evidence))
                for f in findings
            ],
            "advice": standing.FINDING_ADVICE,
            "answer_form": MessageForm(),
            "appeal_form": AppealForm(),
        },
    )


@login_required
@require_POST
def shop_answer(request: HttpRequest, public_id: uuid.UUID, complaint_id: uuid.UUID) -> HttpResponse:
    merchant = _owned(request, public_id)
    complaint = complaints_of_merchant(merchant=merchant).filter(public_id=complaint_id).first()
    if complaint is None:
        raise Http404
    form = MessageForm(request.POST)
    try:
        if not form.is_valid():
            raise DomainError("complaint_message_required")
        standing.complaint_merchant_answer(complaint=complaint, actor=_person(request), body=form.cleaned_data["body"])
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Your answer was sent to RedCard customer service."))
    return redirect("curation:shop_standing", public_id=merchant.public_id)


@login_required
@require_POST
def shop_appeal(request: HttpRequest, public_id: uuid.UUID, finding_id: uuid.UUID) -> HttpResponse:
    merchant = _owned(request, public_id)
    finding = finding_of_merchant(merchant=merchant, public_id=finding_id)
    if finding is None:
        raise Http404
    form = AppealForm(request.POST)
    try:
        if not form.is_valid():
            raise DomainError("appeal_text_required")
        standing.appeal_file(finding=finding, actor=_person(request), text=form.cleaned_data["text"])
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("Your appeal was sent to the curators."))
    return redirect("curation:shop_standing", public_id=merchant.public_id)
