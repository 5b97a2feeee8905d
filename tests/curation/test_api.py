import pytest

from curation.models import Application
from tests.factories import CategoryFactory, DistrictFactory, UserFactory, valid_uscc
from tests.factories.curation import ApplicationFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/applications/"


@pytest.fixture
def full_body(open_city):
    DistrictFactory(city=open_city)
    CategoryFactory()
    return {
        "legal_name": "上海阿花咖啡有限公司",
        "name_zh": "阿花咖啡",
        "uscc": valid_uscc(9),
        "food_licence": "JY13101060000777",
        "category": "cafe",
        "city": "shanghai",
        "district": "jingan",
        "address": "延平路 2 号",
        "lat": 31.225,
        "lng": 121.445,
        "average_spend_fen": 4500,
        "external_rating": "4.6",
        "opening_hours": {"mon": ["08:00-20:00"], "sat": ["09:00-01:00"]},
        "dine_in": True,
        "offer_rate_bp": 1200,
        "daily_capacity": 50,
        "contact_name": "阿花",
        "contact_phone": "13800000001",
    }


def test_owner_creates_patches_and_submits_through_the_api(person_client, user, full_body):
    created = person_client.post(URL, {"name_zh": "阿花咖啡"}, format="json")
    assert created.status_code == 201, created.json()
    app_id = created.json()["id"]
    patched = person_client.patch(f"{URL}{app_id}/", full_body, format="json")
    assert patched.status_code == 200, patched.json()
    submitted = person_client.post(f"{URL}{app_id}/submit/", format="json", HTTP_IDEMPOTENCY_KEY="submit-1")
    assert submitted.status_code == 200, submitted.json()
    body = submitted.json()
    assert body["state"] == "submitted" and len(body["rules"]) == 9
    assert {r["outcome"] for r in body["rules"]} == {"pass"}
    again = person_client.patch(f"{URL}{app_id}/", {"name_zh": "改"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "application_read_only"
    twice = person_client.post(f"{URL}{app_id}/submit/", format="json")
    assert twice.status_code == 409 and twice.json()["code"] == "invalid_transition"


@pytest.mark.parametrize(
    ("patch", "field", "code"),
    [
        ({"uscc": "ABC"}, "uscc", "uscc_length"),
        ({"uscc": "91350100M000100Y44"}, "uscc", "uscc_check_digit"),
        ({"offer_rate_bp": 500}, "offer_rate_bp", "offer_rate_too_low"),
        ({"lat": 39.9, "lng": 116.4}, "lat", "coordinates_outside_city"),
        ({"opening_hours": {"mon": ["9am-5pm"]}}, "opening_hours", "opening_hours_invalid"),
        ({"district": "tianhe"}, "district", "district_not_in_city"),
    ],
)
def test_bad_input_through_the_api_has_stable_codes(person_client, user, open_city, full_body, patch, field, code):
    app = ApplicationFactory(owner=user, city=open_city)
    response = person_client.patch(f"{URL}{app.public_id}/", patch, format="json")
    assert response.status_code == 400
    problem = response.json()
    assert response["Content-Type"].startswith("application/problem+json")
    assert problem["code"] == "validation_failed" and problem["fields"][field][0]["code"] == code


def test_second_open_application_is_refused(person_client, user, open_city):
    ApplicationFactory(owner=user, city=open_city)
    response = person_client.post(URL, {"name_zh": "又一家"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "application_already_open"
    assert Application.objects.filter(owner=user).count() == 1


def test_food_shop_without_licence_is_incomplete(person_client, user, open_city):
    app = ApplicationFactory(owner=user, city=open_city, food_licence="")
    response = person_client.post(f"{URL}{app.public_id}/submit/", format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "application_incomplete"
    assert response.json()["fields"]["food_licence"][0]["code"] == "food_licence_required"


def test_someone_elses_application_is_not_found(person_client, open_city):
    other = ApplicationFactory(owner=UserFactory(), city=open_city)
    for method, suffix in (("get", ""), ("patch", ""), ("post", "submit/"), ("post", "withdraw/")):
        response = getattr(person_client, method)(f"{URL}{other.public_id}/{suffix}", {}, format="json")
        assert response.status_code == 404
    other.refresh_from_db()
    assert other.state == "draft"


def test_list_shows_only_mine_and_needs_a_person(api_client, person_client, user, open_city):
    ApplicationFactory(owner=user, city=open_city)
    ApplicationFactory(owner=UserFactory(), city=open_city)
    assert len(person_client.get(URL).json()["results"]) == 1
    assert api_client.get(URL).status_code in (401, 403)
