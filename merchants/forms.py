"""Forms of the merchant console and the catalogue page."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import MerchantStaff


def yuan_to_fen(value: Decimal | None) -> int | None:
    """¥ with up to two decimals to integer fen (half up); None stays None."""
    if value is None:
        return None
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen_to_yuan(value: int | None) -> Decimal | None:
    return None if value is None else (Decimal(value) / 100).quantize(Decimal("0.01"))


class OfferForm(forms.Form):
    percent = forms.DecimalField(label=_("Member discount (%)"), max_digits=4, decimal_places=1, min_value=0)
    cap_yuan = forms.DecimalField(
        label=_("Cap per visit (¥, optional)"), max_digits=9, decimal_places=2, required=False, min_value=0
    )
    min_bill_yuan = forms.DecimalField(
        label=_("Minimum bill (¥, optional)"), max_digits=9, decimal_places=2, required=False, min_value=0
    )


class CapacityForm(forms.Form):
    daily_capacity = forms.IntegerField(label=_("RedCard visits per day"), min_value=0, max_value=100000)


class OfflineForm(forms.Form):
    offline_accept = forms.BooleanField(label=_("Accept member codes when the network is down"), required=False)


class PhoneForm(forms.Form):
    phone = forms.CharField(label=_("Public phone"), max_length=20, required=False)


class InviteForm(forms.Form):
    email = forms.CharField(label=_("E-mail address"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=MerchantStaff.Role.choices, initial=MerchantStaff.Role.STAFF)


class PhotoForm(forms.Form):
    photo = forms.FileField(label=_("Photo (JPEG, PNG or WebP, up to 5 MB)"))
    caption = forms.CharField(label=_("Caption (optional)"), max_length=80, required=False)
