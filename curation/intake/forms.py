"""Forms of the curation app: the decision pages in admin and the application wizard."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import User
from curation.models import Decision
from merchants.models import Category, City, District


class DecisionForm(forms.Form):
    reason_code = forms.ChoiceField(label=_("Reason"), choices=Decision.Reason.choices)
    message = forms.CharField(
        label=_("Message to the merchant"), widget=forms.Textarea(attrs={"rows": 4}), max_length=4000, required=False
    )
    override_reason = forms.CharField(
        label=_("Override reason (needed when a rule failed)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        required=False,
    )

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = Decision.REASONS_OF_KIND[kind]
        labels = dict(Decision.Reason.choices)
        reason = self.fields["reason_code"]
        assert isinstance(reason, forms.ChoiceField)
        reason.choices = [(r, labels[r]) for r in allowed]
        if kind != Decision.Kind.APPROVE:
            del self.fields["override_reason"]
            self.fields["message"].required = True
        else:
            self.fields["reason_code"].initial = Decision.Reason.MEETS_STANDARDS


class AssignForm(forms.Form):
    reviewer = forms.ModelChoiceField(label=_("Reviewer"), queryset=User.objects.none())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reviewer"].queryset = (  # type: ignore[attr-defined]
            User.objects.filter(is_active=True, is_staff=True)
            .filter(Q(groups__name="curator") | Q(is_superuser=True))
            .distinct()
            .order_by("email")
        )


# --- The wizard -------------------------------------------------------------------------------------


class BusinessStep(forms.Form):
    legal_name = forms.CharField(label=_("Legal name (as on the business licence)"), max_length=120, required=False)
    name_zh = forms.CharField(label=_("Shop name (Chinese)"), max_length=80, required=False)
    name_en = forms.CharField(label=_("Shop name (English, optional)"), max_length=120, required=False)
    uscc = forms.CharField(
        label=_("Unified Social Credit Code"), max_length=40, required=False, help_text=_("18 characters.")
    )
    category = forms.ModelChoiceField(label=_("Category"), queryset=Category.objects.all(), required=False)
    food_licence = forms.CharField(
        label=_("Food business licence number"), max_length=40, required=False, help_text=_("Food businesses only: JY…")
    )


class LocationStep(forms.Form):
    city = forms.ModelChoiceField(label=_("City"), queryset=City.objects.filter(is_active=True), required=False)
    district = forms.ModelChoiceField(
        label=_("District"), queryset=District.objects.select_related("city"), required=False
    )
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    lat = forms.FloatField(label=_("Latitude"), required=False)
    lng = forms.FloatField(label=_("Longitude"), required=False)


class ShopStep(forms.Form):
    average_spend_yuan = forms.DecimalField(
        label=_("Average spend per person (¥)"), max_digits=9, decimal_places=2, required=False, min_value=0
    )
    external_rating = forms.DecimalField(
        label=_("External rating (e.g. Dianping)"), max_digits=2, decimal_places=1, required=False
    )
    opening_hours = forms.CharField(
        label=_("Opening hours"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=_("One line per day or span, e.g. “mon-fri 09:00-21:00”, “sat 10:00-02:00”, “sun closed”."),
    )
    dine_in = forms.BooleanField(label=_("Customers can eat or stay on site"), required=False)


class OfferStep(forms.Form):
    offer_percent = forms.DecimalField(
        label=_("Member discount (%)"), max_digits=4, decimal_places=1, required=False, help_text=_("At least 10.")
    )
    offer_cap_yuan = forms.DecimalField(
        label=_("Cap per visit (¥, optional)"), max_digits=9, decimal_places=2, required=False
    )
    offer_min_bill_yuan = forms.DecimalField(
        label=_("Minimum bill (¥, optional)"), max_digits=9, decimal_places=2, required=False
    )
    daily_capacity = forms.IntegerField(label=_("RedCard visits per day you can take"), required=False)


class ContactStep(forms.Form):
    contact_name = forms.CharField(label=_("Contact name"), max_length=60, required=False)
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=20, required=False)
    contact_email = forms.EmailField(label=_("Contact e-mail"), required=False)
    links = forms.CharField(
        label=_("Links to photos or notes about the shop"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("One URL per line."),
    )
