"""Idempotency-Key on unsafe requests: replay, mismatch, concurrency and caller scoping."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from core.models import AuditEntry, IdempotencyRecord
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def patch_me(client, key, **data):
    return client.patch("/api/v1/me/", data or {"display_name": "小红"}, HTTP_IDEMPOTENCY_KEY=key)


def test_replay_returns_the_first_response_without_a_second_write(person_client, user):
    first = patch_me(person_client, "k-1", display_name="第一次")
    assert first.status_code == 200
    writes = AuditEntry.objects.filter(action="user.profile_update").count()
    assert writes == 1
    # Somebody changes the name in between: a replay must not re-apply the request.
    user.display_name = "改过了"
    user.save()

    again = patch_me(person_client, "k-1", display_name="第一次")
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true"
    assert AuditEntry.objects.filter(action="user.profile_update").count() == writes
    user.refresh_from_db()
    assert user.display_name == "改过了"


def test_same_key_with_a_different_body_is_refused(person_client):
    assert patch_me(person_client, "k-2", display_name="甲").status_code == 200
    response = patch_me(person_client, "k-2", display_name="乙")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


def test_a_different_caller_with_the_same_key_is_independent(person_client):
    assert patch_me(person_client, "shared", display_name="甲").status_code == 200
    other = APIClient()
    other.force_login(UserFactory())
    response = patch_me(other, "shared", display_name="乙")
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response
    assert response.json()["display_name"] == "乙"


def test_errors_are_replayed_but_server_errors_release_the_key(person_client, monkeypatch):
    bad = person_client.patch("/api/v1/me/", {"birth_year": 1}, HTTP_IDEMPOTENCY_KEY="k-err")
    assert bad.status_code == 400
    assert person_client.patch("/api/v1/me/", {"birth_year": 1}, HTTP_IDEMPOTENCY_KEY="k-err").content == bad.content

    from core.api import endpoints

    monkeypatch.setattr(endpoints, "audit_record", lambda **kw: (_ for _ in ()).throw(RuntimeError("down")))
    assert patch_me(person_client, "k-5xx").status_code == 500
    assert not IdempotencyRecord.objects.filter(key="k-5xx").exists()
    monkeypatch.undo()
    assert patch_me(person_client, "k-5xx").status_code == 200


def test_expired_keys_are_forgotten(person_client, user):
    from datetime import timedelta

    from django.utils import timezone

    patch_me(person_client, "old", display_name="甲")
    IdempotencyRecord.objects.filter(key="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    response = patch_me(person_client, "old", display_name="乙")
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response
    assert response.json()["display_name"] == "乙"


def test_invalid_key_is_refused(person_client):
    response = person_client.patch("/api/v1/me/", {"display_name": "x"}, HTTP_IDEMPOTENCY_KEY="x" * 256)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_duplicate_gets_409_while_the_first_runs(monkeypatch):
    """The first request is held inside the view; the duplicate arrives meanwhile."""
    user = UserFactory()
    from core.api import endpoints

    entered, release = threading.Event(), threading.Event()
    real_audit = endpoints.audit_record

    def slow_audit(**kwargs):
        entered.set()
        assert release.wait(10)
        return real_audit(**kwargs)

    monkeypatch.setattr(endpoints, "audit_record", slow_audit)
    results = {}
    # Both sessions exist before the race (logging in updates the user row the first request locks).
    first_client, client = APIClient(), APIClient()
    first_client.force_login(user)
    client.force_login(user)

    def first():
        results["first"] = patch_me(first_client, "race", display_name="甲")
        connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(10)
    second = patch_me(client, "race", display_name="甲")
    release.set()
    thread.join(10)

    assert second.status_code == 409
    assert second.json()["code"] == "idempotency_key_in_progress"
    assert results["first"].status_code == 200
    assert AuditEntry.objects.filter(action="user.profile_update").count() == 1
    # Once finished, the retry replays the first response.
    third = patch_me(client, "race", display_name="甲")
    assert third.status_code == 200
    assert third["Idempotent-Replayed"] == "true"


def test_every_unsafe_api_view_supports_idempotency_keys():
    """Walk the URLconf: a view under /api/v1/ that accepts POST/PUT/PATCH/DELETE must use our base classes."""
    from django.urls import URLPattern, URLResolver, get_resolver

    from core.api.views import IdempotentMixin

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern.callback

    offenders = []
    for route, callback in walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/"):
            continue
        view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if view_class is None:
            continue
        actions = getattr(callback, "actions", None)
        methods = set(actions) if actions else {m for m in ("post", "put", "patch", "delete") if hasattr(view_class, m)}
        if methods & {"post", "put", "patch", "delete"} and not issubclass(view_class, IdempotentMixin):
            offenders.append(route)
    assert offenders == []
