import pytest
from django.urls import reverse

from curation.models import Application
from tests.factories import CategoryFactory, DistrictFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client):
    owner = UserFactory()
    client.force_login(owner)
    return client, owner


def _fill_all(client, city, category, district):
    steps = {
        "business": {
            "legal_name": "上海阿明餐饮有限公司",
            "name_zh": "阿明面馆",
            "uscc": "91350100M000100Y43",
            "category": category.pk,
            "food_licence": "JY13101060000123",
        },
        "location": {
            "city": city.pk,
            "district": district.pk,
            "address": "进贤路 1 号",
            "lat": "31.215",
            "lng": "121.46",
        },
        "shop": {
            "average_spend_yuan": "50",
            "external_rating": "4.7",
            "opening_hours": "mon-sun 10:00-21:00",
            "dine_in": "on",
        },
        "offer": {"offer_percent": "12", "offer_cap_yuan": "30", "daily_capacity": "60"},
        "contact": {"contact_name": "阿明", "contact_phone": "13800000000", "links": "https://example.com/a"},
    }
    for step, data in steps.items():
        response = client.post(reverse("curation:apply_step", args=[step]), {**data, "next": "1"})
        assert response.status_code == 302, (step, response.content.decode()[:3000])


def test_owner_applies_step_by_step_submits_and_then_cannot_edit(owner_client, open_city):
    client, owner = owner_client
    category = CategoryFactory()
    district = DistrictFactory(city=open_city)
    assert client.get(reverse("curation:apply")).status_code == 200
    _fill_all(client, open_city, category, district)
    app = Application.objects.get(owner=owner)
    assert (app.state, app.offer_rate_bp, app.offer_cap_fen, app.average_spend_fen) == ("draft", 1200, 3000, 5000)
    assert app.opening_hours["sun"] == ["10:00-21:00"]
    client.post(reverse("curation:apply_submit"))
    app.refresh_from_db()
    assert app.state == "submitted" and app.rule_results.count() == 9
    page = client.get(reverse("curation:apply")).content.decode()
    assert "阿明面馆" in page
    response = client.post(reverse("curation:apply_step", args=["business"]), {"name_zh": "改名了"})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.name_zh == "阿明面馆"


def test_bad_values_are_shown_on_the_step_and_not_saved(owner_client, open_city):
    client, owner = owner_client
    response = client.post(
        reverse("curation:apply_step", args=["business"]), {"uscc": "91350100M000100Y44", "name_zh": "x"}
    )
    assert response.status_code == 200
    assert not Application.objects.filter(owner=owner).exists()
    response = client.post(reverse("curation:apply_step", args=["shop"]), {"opening_hours": "all day long"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    response = client.post(reverse("curation:apply_step", args=["offer"]), {"offer_percent": "8"})
    assert response.status_code == 200
    assert not Application.objects.filter(owner=owner).exists()


def test_incomplete_draft_cannot_be_submitted(owner_client, open_city):
    client, owner = owner_client
    client.post(reverse("curation:apply_step", args=["business"]), {"name_zh": "半成品"})
    app = Application.objects.get(owner=owner)
    client.post(reverse("curation:apply_submit"))
    app.refresh_from_db()
    assert app.state == "draft"
    client.post(reverse("curation:apply_withdraw"))
    app.refresh_from_db()
    assert app.state == "withdrawn"


def test_unknown_step_is_not_found(owner_client):
    client, _owner = owner_client
    assert client.get(reverse("curation:apply_step", args=["payment"])).status_code == 404
