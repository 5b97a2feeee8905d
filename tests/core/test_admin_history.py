"""Issue 18, part 2: every console edit of configuration and money-relevant data leaves a history entry with
who, when, before/after and a reason (required where the change is a decision). Issue: "a plan's price
changed through admin: 0 entries"."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps

from core.models import PartnerApplication, WebhookEndpoint
from curation.models import AdmissionRule
from members.models import Plan
from merchants.models import Category, CityCategory, Merchant, MerchantStaff, PartnerGrant
from tests.factories import MerchantFactory, PartnerApplicationFactory, UserFactory
from tests.factories.merchants import CategoryFactory, CityCategoryFactory, CityFactory

pytestmark = pytest.mark.django_db


def _put(data: dict, key: str, value) -> None:
    if value is None or value is False:
        return
    if value is True:
        data[key] = "on"
    elif isinstance(value, list | tuple):
        data[key] = [str(v) for v in value]
    else:
        data[key] = str(value)


def _put_field(data: dict, form, name: str) -> None:
    from django.forms import MultiWidget

    widget, value = form.fields[name].widget, form[name].value()
    if isinstance(widget, MultiWidget):  # the admin's date + time inputs
        for index, part in enumerate(widget.decompress(value)):
            _put(data, f"{form.add_prefix(name)}_{index}", part)
    else:
        _put(data, form.add_prefix(name), value)


def change_form_data(response) -> dict:
    """What the browser would send back unchanged: the form's and every inline's current values."""
    data: dict = {}
    form = response.context["adminform"].form
    for name in form.fields:
        _put_field(data, form, name)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for key, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{key}"] = "" if value is None else str(value)
        for row in formset.forms:
            for name in row.fields:
                _put_field(data, row, name)
    return data


@pytest.fixture
def operator(client):
    person = UserFactory(is_staff=True, is_superuser=True, email="ops@example.com")
    client.force_login(person)
    return person


def edit(client, page_url: str, **changes) -> object:
    page = client.get(page_url)
    assert page.status_code == 200, page.status_code
    data = change_form_data(page)
    data.update(changes)
    return client.post(page_url, data)


def test_a_plans_price_changed_in_the_console_is_kept_with_who_when_before_after_and_why(client, operator):
    plan = Plan.objects.create(code="year", name_zh="年卡", name_en="Year", price_fen=19900, duration_days=365)
    url = f"/admin/members/plan/{plan.pk}/change/"
    refused = edit(client, url, price_fen="9900")  # a price is a decision: no reason, no change
    assert refused.status_code == 200 and "change_reason" in refused.context["adminform"].form.errors
    plan.refresh_from_db()
    assert plan.price_fen == 19900
    done = edit(client, url, price_fen="9900", change_reason="Winter promotion approved by finance")
    assert done.status_code == 302
    latest, before = plan.history.all()[:2]
    assert latest.history_user == operator and latest.history_type == "~"
    assert latest.history_change_reason == "Winter promotion approved by finance"
    delta = latest.diff_against(before)
    assert [(c.field, c.old, c.new) for c in delta.changes] == [("price_fen", 19900, 9900)]
    page = client.get(f"/admin/members/plan/{plan.pk}/history/").content.decode()
    assert "Winter promotion approved by finance" in page


def test_city_quotas_and_category_openings_are_kept(client, operator):
    city = CityFactory()
    opening = CityCategoryFactory(city=city, category=CategoryFactory())
    url = f"/admin/merchants/city/{city.pk}/change/"
    prefix = next(p for p in change_form_data(client.get(url)) if p.endswith("-0-is_open")).rsplit("-0-", 1)[0]
    response = edit(
        client,
        url,
        seat_quota="900",
        change_reason="Board raised the Shanghai quota",
        **{
            f"{prefix}-0-is_open": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    city_change = city.history.first()
    assert city_change.history_user == operator and city_change.seat_quota == 900
    assert city_change.history_change_reason == "Board raised the Shanghai quota"
    opening_change = CityCategory.history.filter(id=opening.pk).first()
    assert opening_change.is_open is False and opening_change.history_user == operator
    assert opening_change.history_change_reason == "Board raised the Shanghai quota"


def test_category_edits_are_kept(client, operator):
    category = CategoryFactory()
    response = edit(
        client, f"/admin/merchants/category/{category.pk}/change/", spend_max_fen="9000", change_reason="Prices went up"
    )
    assert response.status_code == 302
    assert Category.history.filter(id=category.pk, spend_max_fen=9000, history_user=operator).exists()


def test_merchant_fields_staff_and_partner_grants_edited_in_the_console_are_kept(client, operator):
    merchant = MerchantFactory()
    app = PartnerApplicationFactory()
    url = f"/admin/merchants/merchant/{merchant.pk}/change/"
    data = change_form_data(client.get(url))
    staff_prefix = next(k for k in data if k.endswith("-TOTAL_FORMS") and "staff" in k).removesuffix("-TOTAL_FORMS")
    grant_prefix = next(k for k in data if k.endswith("-TOTAL_FORMS") and "grant" in k).removesuffix("-TOTAL_FORMS")
    newcomer = UserFactory()
    data.update(
        {
            "name_en": "Renamed Café",
            "change_reason": "Owner asked for the English name",
            f"{staff_prefix}-TOTAL_FORMS": str(int(data[f"{staff_prefix}-TOTAL_FORMS"]) + 1),
            f"{staff_prefix}-{data[f'{staff_prefix}-TOTAL_FORMS']}-user": str(newcomer.pk),
            f"{staff_prefix}-{data[f'{staff_prefix}-TOTAL_FORMS']}-role": MerchantStaff.Role.STAFF,
            f"{grant_prefix}-TOTAL_FORMS": str(int(data[f"{grant_prefix}-TOTAL_FORMS"]) + 1),
            f"{grant_prefix}-{data[f'{grant_prefix}-TOTAL_FORMS']}-application": str(app.pk),
            f"{grant_prefix}-{data[f'{grant_prefix}-TOTAL_FORMS']}-scopes": "redemptions:write",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    change = Merchant.history.filter(id=merchant.pk).first()
    assert change.name_en == "Renamed Café" and change.history_user == operator
    assert change.history_change_reason == "Owner asked for the English name"
    staff = MerchantStaff.history.get(user=newcomer)
    assert staff.history_type == "+" and staff.history_user == operator
    grant = PartnerGrant.history.get(application_id=app.pk)
    assert grant.history_type == "+" and grant.history_user == operator and grant.scopes == "redemptions:write"


def test_partner_apps_and_webhook_endpoints_are_kept_without_their_secrets(client, operator):
    app = PartnerApplicationFactory()
    endpoint = WebhookEndpoint.objects.create(application=app, url="https://partner.example/hooks")
    response = edit(client, f"/admin/core/webhookendpoint/{endpoint.pk}/change/", url="https://partner.example/v2")
    assert response.status_code == 302
    change = WebhookEndpoint.history.filter(id=endpoint.pk).first()
    assert change.url == "https://partner.example/v2" and change.history_user == operator
    assert not hasattr(change, "secret")
    response = edit(client, f"/admin/core/partnerapplication/{app.pk}/change/", name="Renamed POS")
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    app_change = PartnerApplication.history.filter(id=app.pk).first()
    assert app_change.name == "Renamed POS" and app_change.history_user == operator
    assert not hasattr(app_change, "client_secret")


def test_admission_rule_changes_need_a_reason(client, operator):
    # The rules a migration seeds (again, if a transactional test flushed this reused test database before).
    importlib.import_module("curation.migrations.0002_default_admission_rules").create(django_apps, None)
    rule = AdmissionRule.objects.filter(results__isnull=True).first()
    assert rule is not None
    url = f"/admin/curation/admissionrule/{rule.pk}/change/"
    assert edit(client, url, description="tightened").status_code == 200  # no reason: refused
    done = edit(client, url, description="tightened", change_reason="Review board 2026-12")
    assert done.status_code == 302, done.context["adminform"].form.errors
    change = AdmissionRule.history.filter(id=rule.pk).first()
    assert change.description == "tightened" and change.history_change_reason == "Review board 2026-12"
