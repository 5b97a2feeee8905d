"""U+0000 and other text PostgreSQL cannot store, in a path, a query or a body: 400 problem+json, never 500
(issue 18: ``POST /o/token/`` with ``client_id=a%00b``, ``POST /api/v1/applications/`` with a NUL in the
city, ``PUT``/``DELETE /api/v1/notes/a%00b/``)."""

from __future__ import annotations

import json

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_invalid_input(response, where: str | None = None) -> dict:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith(PROBLEM), response["Content-Type"]
    body = response.json()
    assert body["code"] == "invalid_input"
    assert body["status"] == 400
    if where is not None:
        assert body["where"] == where
    return body


def test_nul_in_oauth_client_id_is_a_400_problem_without_login(client):
    response = client.post(
        "/o/token/",
        "grant_type=client_credentials&client_id=a%00b&client_secret=x",
        content_type="application/x-www-form-urlencoded",
    )
    assert_invalid_input(response, "body")


def test_nul_in_a_slug_of_a_json_body_is_a_400_problem(user, person_client):
    response = person_client.post(
        "/api/v1/applications/", {"city": "sh\u0000", "name": "店"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    body = assert_invalid_input(response, "body")
    assert "U+0000" in body["detail"] or "cannot" in body["detail"]


@pytest.mark.parametrize("method", ["put", "delete"])
def test_nul_in_a_path_is_a_400_problem(partner_client, method):
    client, _app = partner_client("notes:write")
    response = getattr(client, method)("/api/v1/notes/a%00b/", {}, format="json")
    assert_invalid_input(response, "path")


def test_nul_in_a_query_is_a_400_problem(person_client):
    response = person_client.get("/api/v1/me/?x=a%00b")
    assert_invalid_input(response, "query")


def test_a_lone_surrogate_in_json_is_a_400_problem(person_client):
    raw = '{"city": "sh\\ud800", "name": "x"}'
    response = person_client.post("/api/v1/applications/", raw, content_type="application/json")
    assert_invalid_input(response, "body")


def test_an_escaped_backslash_u0000_is_ordinary_text(person_client):
    """``"\\\\u0000"`` in JSON is a backslash followed by ``u0000``: valid text, refused only by the field."""
    raw = json.dumps({"city": "\\u0000", "name": "x"})
    response = person_client.post("/api/v1/applications/", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_failed"


def test_nul_on_a_page_gets_the_html_400_page(client):
    response = client.get("/accounts/login/?next=/a%00b")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_nul_in_a_login_form_is_refused_without_a_500(client):
    UserFactory(email="nul@example.com")
    response = client.post("/accounts/login/", {"login": "nul\x00@example.com", "password": "x"})
    assert response.status_code == 400


def test_a_database_data_error_left_over_is_a_400_problem(person_client, monkeypatch):
    """Any other value PostgreSQL refuses (DataError) leaves as 400 problem+json, not 500."""
    from django.db import DataError

    from core.api import endpoints

    def refuse(*args, **kwargs):
        raise DataError("value out of range")

    monkeypatch.setattr(endpoints.MeSerializer, "to_representation", refuse)
    assert_invalid_input(person_client.get("/api/v1/me/"))
