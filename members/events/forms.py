"""The shop owner's form to propose an event (times in the shop city's local time, prices in yuan)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils.translation import gettext_lazy as _

from .services import EventInput

LOCAL = {"type": "datetime-local"}


class EventProposalForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 4}), required=False)
    starts = forms.DateTimeField(label=_("Starts (local time)"), widget=forms.DateTimeInput(attrs=LOCAL))
    ends = forms.DateTimeField(label=_("Ends (local time)"), widget=forms.DateTimeInput(attrs=LOCAL))
    capacity = forms.IntegerField(label=_("Places"), min_value=1, max_value=10000)
    members_open = forms.DateTimeField(
        label=_("Members may register from (local time)"), widget=forms.DateTimeInput(attrs=LOCAL)
    )
    priority_hours = forms.IntegerField(
        label=_("Hours members have before everyone else"), min_value=0, max_value=24 * 30, initial=48
    )
    price_yuan = forms.DecimalField(
        label=_("Price per place (¥, 0 = free)"), max_digits=9, decimal_places=2, min_value=0, initial=0
    )
    member_price_yuan = forms.DecimalField(
        label=_("Member price (¥, optional)"), max_digits=9, decimal_places=2, min_value=0, required=False
    )
    guest = forms.BooleanField(label=_("A member may bring one guest"), required=False)
    cancel_cutoff_hours = forms.IntegerField(
        label=_("Cancellation closes this many hours before the start"), min_value=0, max_value=24 * 30, initial=24
    )

    def to_input(self, *, merchant: Any) -> EventInput:
        """The service's input: local times made aware in the shop city's zone, yuan to fen."""
        data = self.cleaned_data
        zone = ZoneInfo(merchant.city.timezone)

        def aware(value: datetime) -> datetime:
            return value.replace(tzinfo=None).replace(tzinfo=zone)

        def fen(value: Decimal | None) -> int | None:
            return None if value is None else int((value * 100).to_integral_value())

        members_open = aware(data["members_open"])
        return EventInput(
            title=data["title"],
            description=data["description"],
            city_id=merchant.city_id,
            lat=merchant.lat,
            lng=merchant.lng,
            address=merchant.address,
            venue_id=merchant.pk,
            starts_at=aware(data["starts"]),
            ends_at=aware(data["ends"]),
            capacity=data["capacity"],
            members_open_at=members_open,
            public_open_at=members_open + timedelta(hours=data["priority_hours"]),
            price_fen=fen(data["price_yuan"]) or 0,
            member_price_fen=fen(data.get("member_price_yuan")),
            max_guests=1 if data["guest"] else 0,
            cancel_cutoff_hours=data["cancel_cutoff_hours"],
        )
