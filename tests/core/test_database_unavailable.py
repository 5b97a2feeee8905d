"""Issue 18 (more than one machine): with the database away (restarting, failing over) requests fail cleanly,
503 with Retry-After, problem+json under /api/, never a 500. The database here is really unreachable: the
connection is pointed at a loopback port nobody listens on. tests/system restarts a real cluster under load."""

from __future__ import annotations

import socket

import pytest
from django.db import connection

from core.api.errors import PROBLEM_CONTENT_TYPE


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def database_away(transactional_db, monkeypatch):
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
    monkeypatch.setitem(connection.settings_dict, "PORT", str(closed_port()))
    yield
    connection.close()
    monkeypatch.undo()  # before the test database is flushed


def test_an_api_call_gets_503_problem_json(database_away, client):
    response = client.get("/api/v1/plans/")
    assert response.status_code == 503
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert response["Retry-After"] == "5"
    assert response.json()["code"] == "service_unavailable"


def test_a_page_gets_503_text(database_away):
    from django.test import Client

    response = Client(raise_request_exception=False).get("/")  # through handler500, as in production
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
