"""Fixtures shared by the whole suite (factories live in tests/factories)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.utils import translation
from rest_framework.test import APIClient

from tests.factories import PartnerApplicationFactory, UserFactory, access_token_for
from tests.factories.core import second_factor_session

#: The awkward instants of a day for a product that counts days in Shanghai (UTC+8): the last second of the
#: Shanghai day, the first of the next, the last of the UTC day, and the first second of a Shanghai day read
#: from its own zone. Each is taken on today's date, so the database's own clock (``now()``) stays within a
#: day of the frozen one.
AWKWARD_INSTANTS = ("15:59:59Z", "16:00:01Z", "23:59:59Z", "00:00:01+08:00")


def awkward_instant(spec: str, *, today: datetime | None = None) -> datetime:
    """``"HH:MM:SS"`` with ``Z`` or ``+08:00`` -> that time of day on today's date in that zone, as aware UTC."""
    clock, zone = (spec[:-1], UTC) if spec.endswith("Z") else (spec[:8], ZoneInfo("Asia/Shanghai"))
    today = (today or datetime.now(UTC)).astimezone(zone)
    instant = datetime.combine(today.date(), time.fromisoformat(clock), tzinfo=zone)
    if instant > datetime.now(UTC) + timedelta(hours=12):
        instant -= timedelta(days=1)  # stay near the database's clock
    return instant.astimezone(UTC)


def pytest_addoption(parser):
    parser.addoption(
        "--clock",
        default=os.environ.get("REDCARD_TEST_CLOCK", ""),
        help="freeze the clock of every test at this time of day on today's date (e.g. 15:59:59Z, 00:00:01+08:00)",
    )


def pytest_collection_modifyitems(config, items):
    """Under ``--clock`` the server's clock is frozen but Chromium's is not: browser tests compare the two
    (a code's window, a void's age), so they run on the real clock only."""
    if not config.getoption("--clock"):
        return
    skip = pytest.mark.skip(reason="--clock freezes the server's clock, not the browser's")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def pytest_generate_tests(metafunc):
    """A test marked ``clock`` runs once per awkward instant (and once on the real clock)."""
    if metafunc.definition.get_closest_marker("clock") and "_clock" in metafunc.fixturenames:
        metafunc.parametrize("_clock", ["now", *AWKWARD_INSTANTS], indirect=True)


@pytest.fixture(autouse=True)
def _clock(request):
    """The clock a test runs on: frozen at an awkward instant (``clock`` marker or ``--clock``), else real."""
    spec = getattr(request, "param", None) or request.config.getoption("--clock") or "now"
    if spec == "now":
        yield None
        return
    with time_machine.travel(awkward_instant(spec), tick=False) as traveller:
        yield traveller


@pytest.fixture
def local_midday():
    """Freeze the clock at noon in Shanghai today, for a test whose times "a few minutes ago" and "now" must
    fall on the same local day (right after midnight they would not)."""
    with time_machine.travel(awkward_instant("12:00:00+08:00"), tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _clean_cache_and_language():
    cache.clear()
    translation.activate("zh-hans")
    yield
    translation.deactivate()
    cache.clear()


@pytest.fixture(autouse=True)
def _console_sessions_passed_a_second_factor(request, monkeypatch):
    """A test client signed in with ``force_login``/``login`` as someone who can reach the console gets a
    session that passed the second factor (an enrolled authenticator app), as a real console session has.
    The tests of the console lock itself (``@pytest.mark.real_mfa``) go through allauth's own pages."""
    if request.node.get_closest_marker("real_mfa") is not None:
        return
    from django.test.client import ClientMixin

    original = ClientMixin._login

    def login(self, user, backend=None):
        original(self, user, backend)
        if user.is_staff:
            second_factor_session(self.session, user)

    monkeypatch.setattr(ClientMixin, "_login", login)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def person_client(user) -> APIClient:
    """An API client signed in as ``user`` through the session."""
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def partner_client(db):
    """``partner_client("scope another:scope")`` -> (client, application) with a bearer token."""

    def make(scopes: str, **app_fields):
        app = PartnerApplicationFactory(allowed_scopes=scopes, **app_fields)
        token = access_token_for(app, scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
        return client, app

    return make


@pytest.fixture
def tasks_to_worker():
    """Tasks go to the broker (in memory, with no worker consuming it) instead of running inline: the
    production shape, where the request only publishes and a Celery worker does the rest."""
    from redcard.celery import app

    app.conf.task_always_eager = False
    try:
        yield app
    finally:
        app.conf.task_always_eager = True
