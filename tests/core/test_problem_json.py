"""Every API error is application/problem+json with a stable code, in zh-Hans by default and English on request."""

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith("/" + code)
    assert body["title"] and body["detail"]
    return body


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh-hans", "字段"), ("en", "Some fields are not valid.")],
)
def test_validation_error_lists_fields_in_the_callers_language(person_client, language, expected):
    response = person_client.patch("/api/v1/me/", {"birth_year": 1800}, HTTP_ACCEPT_LANGUAGE=language)
    body = assert_problem(response, 400, "validation_failed")
    assert expected in body["detail"]
    assert body["fields"]["birth_year"][0]["code"] == "out_of_range"


@pytest.mark.parametrize(("language", "expected"), [("zh-hans", "未找到"), ("en", "Not found")])
def test_unknown_api_url_is_a_problem(client, language, expected):
    response = client.get("/api/v1/no-such-thing/", HTTP_ACCEPT_LANGUAGE=language)
    body = assert_problem(response, 404, "not_found")
    assert expected in body["detail"]


@pytest.mark.parametrize(("language", "expected"), [("zh-hans", "方法"), ("en", "Method")])
def test_wrong_method_is_a_problem(person_client, language, expected):
    response = person_client.delete("/api/v1/me/", HTTP_ACCEPT_LANGUAGE=language)
    body = assert_problem(response, 405, "method_not_allowed")
    assert expected in body["detail"]


@pytest.mark.parametrize(("language", "expected"), [("zh-hans", "身份认证"), ("en", "Authentication")])
def test_unauthenticated_call_is_a_401_problem(api_client, language, expected):
    response = api_client.get("/api/v1/me/", HTTP_ACCEPT_LANGUAGE=language)
    body = assert_problem(response, 401, "not_authenticated")
    assert expected in body["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("language", "expected"), [("zh-hans", "权限"), ("en", "permission")])
def test_forbidden_call_is_a_403_problem(partner_client, language, expected):
    client, _app = partner_client("members:read")
    response = client.get("/api/v1/me/", HTTP_ACCEPT_LANGUAGE=language)  # a partner token is not a person
    body = assert_problem(response, 403, "permission_denied")
    assert expected in body["detail"]


def test_csrf_failure_for_a_session_call_is_a_problem(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.patch("/api/v1/me/", data="{}", content_type="application/json")
    assert_problem(response, 403, "csrf_failed")


def away_from_a_window_boundary(duration=60):
    """Throttle windows are aligned to the clock: start a test's calls well inside one."""
    import time

    if time.time() % duration > duration - 3:
        time.sleep(3.5)


def test_throttled_call_answers_429_with_retry_after(settings, person_client):
    away_from_a_window_boundary()
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "client": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    assert person_client.get("/api/v1/me/").status_code == 200
    assert person_client.get("/api/v1/me/").status_code == 200
    response = person_client.get("/api/v1/me/")
    body = assert_problem(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert body["retry_after"] == int(response["Retry-After"])
    # Throttling is per client: another person still gets through.
    from rest_framework.test import APIClient

    other = APIClient()
    other.force_login(UserFactory())
    assert other.get("/api/v1/me/").status_code == 200


def test_server_error_is_a_problem(person_client, monkeypatch):
    from core.api import endpoints

    def boom(*args, **kwargs):
        raise RuntimeError("kaputt")

    monkeypatch.setattr(endpoints.MeSerializer, "to_representation", boom)
    response = person_client.get("/api/v1/me/", HTTP_ACCEPT_LANGUAGE="en")
    body = assert_problem(response, 500, "server_error")
    assert "kaputt" not in body["detail"]


def test_domain_errors_have_registered_codes():
    from core.errors import DomainError

    with pytest.raises(ValueError):
        DomainError("no_such_code_anywhere")


@pytest.mark.redis
def test_throttle_counts_in_redis_with_one_key_per_client_and_window(settings, user, person_client, monkeypatch):
    """With the Redis cache (production), the count is one integer per client and window, incremented
    in place and expiring with the window; the 3rd call of a 2/min client gets 429 until the window ends."""
    import os

    import redis

    from core.api import throttling

    url = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url)
    client.ping()
    monkeypatch.setattr(throttling, "_redis_client", lambda: client)
    away_from_a_window_boundary()
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "client": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    assert person_client.get("/api/v1/me/").status_code == 200
    assert person_client.get("/api/v1/me/").status_code == 200
    response = person_client.get("/api/v1/me/")
    assert_problem(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    mine = [k.decode() for k in client.scan_iter(f"redcard:throttle:client:user:{user.pk}:60:*")]
    assert len(mine) == 1, mine
    assert int(client.get(mine[0])) == 3
    assert 0 < client.ttl(mine[0]) <= 61
    client.delete(*mine)
