"""The member's request form ("我想要这家店")."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from merchants.models import City, District


class NominationForm(forms.Form):
    name = forms.CharField(label=_("Shop name"), max_length=80)
    city = forms.ModelChoiceField(label=_("City"), queryset=City.objects.filter(is_active=True), empty_label=None)
    district = forms.ModelChoiceField(
        label=_("District (optional)"), queryset=District.objects.select_related("city"), required=False
    )
    address = forms.CharField(label=_("Address or landmark (optional)"), max_length=200, required=False)
    lat = forms.FloatField(label=_("Latitude (optional)"), required=False, widget=forms.HiddenInput)
    lng = forms.FloatField(label=_("Longitude (optional)"), required=False, widget=forms.HiddenInput)
    note_url = forms.URLField(label=_("A note about it (link, optional)"), required=False, assume_scheme="https")
