"""Fuzzing the whole API (issue 18, part 7): schemathesis draws requests from the OpenAPI schema that
drf-spectacular serves (/api/v1/schema/) and sends them to the WSGI application, once with a partner's OAuth
token (every scope, granted on a shop) and once with a staff session (shop staff who is also a console
operator past the second factor). Any 5xx fails, and so does any error response that is not
application/problem+json.

Bounded: a fixed seed, a few examples per operation and phase (``FUZZ_EXAMPLES``), no shrinking; the whole
file runs in well under three minutes on two cores.
"""

from __future__ import annotations

import itertools
import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from core.api.errors import PROBLEM_CONTENT_TYPE
from members.models import Subscription
from merchants.models import MerchantStaff, PartnerGrant
from tests.factories import PartnerApplicationFactory, access_token_for
from tests.factories.attribution import redeem
from tests.factories.events import EventFactory
from tests.factories.redemptions import member_with_card, shop, staff_of

FUZZ_EXAMPLES = int(os.environ.get("REDCARD_FUZZ_EXAMPLES", "12"))
CSRF = "fuzzcsrf" * 4
ALL_SCOPES = (
    "members:read members:refund merchants:read merchants:write redemptions:write notes:write touches:write "
    "insights:read complaints:write ops:read events:write"
)

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 18,
        "generation": {
            "max-examples": FUZZ_EXAMPLES,
            "no-shrink": True,
            "deterministic": True,
            "database": "none",
            # The credentials are ours (below), not drawn from the security schemes.
            "with-security-parameters": False,
        },
        "phases": {
            "examples": {"enabled": True},
            # The coverage phase (boundaries, every invalid shape) is for a deeper run by hand: REDCARD_FUZZ_COVERAGE=1.
            "coverage": {"enabled": os.environ.get("REDCARD_FUZZ_COVERAGE") == "1"},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
    }
)


@schemathesis.check
def problem_json_errors(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case):
    """Every error response (4xx, 5xx) of the API is application/problem+json."""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if content_type != PROBLEM_CONTENT_TYPE:
        raise AssertionError(
            f"{case.method} {case.formatted_path} answered {response.status_code} as {content_type or 'no type'}, "
            f"not {PROBLEM_CONTENT_TYPE}: {response.text[:300]}"
        )
    return True


# Loaded at collection through the URL that serves it (no database needed); one test item per operation.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", WSGIHandler(), config=CONFIG)


@pytest.fixture(autouse=True)
def _requests_keep_the_test_connection():
    """As Django's test client does: the WSGI handler must not close the connection that holds the test's
    transaction at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db):
    """A listed shop with its staff, a member with a running card who redeemed there, an event, a partner app
    granted on the shop: the ids the requests aim at every other time (the rest are drawn at random)."""
    merchant = shop()
    member = member_with_card()
    staff = staff_of(merchant, is_staff=True, is_superuser=True)
    app = PartnerApplicationFactory(allowed_scopes=ALL_SCOPES)
    PartnerGrant.objects.create(merchant=merchant, application=app, scopes=ALL_SCOPES)
    redemption = redeem(merchant, member, staff=staff)
    event = EventFactory(city=merchant.city)
    ids = {
        "/merchants/{public_id}/": str(merchant.public_id),
        "/events/{public_id}/": str(event.public_id),
        "/redemptions/{public_id}/": str(redemption.public_id),
        "/members/{member_id}/": str(member.public_id),
        "/subscriptions/{subscription_id}/": str(Subscription.objects.get(user=member).public_id),
        "/staff/{staff_id}/": MerchantStaff.objects.get(user=staff).pk,
    }
    return {"staff": staff, "app": app, "ids": ids, "turn": itertools.count()}


def aim(case, world) -> None:
    """Every other example names the world's objects in its path, so requests get past the lookups."""
    if next(world["turn"]) % 2:
        return
    for fragment, value in world["ids"].items():
        name = fragment.split("{")[1].split("}")[0]
        if fragment in case.path + "/" and name in (case.path_parameters or {}):
            case.path_parameters[name] = value


@pytest.fixture
def partner_headers(world):
    token = access_token_for(world["app"], ALL_SCOPES)
    return {"Authorization": f"Bearer {token.token}"}


@pytest.fixture
def staff_cookies(world):
    """A staff session as the browser holds it: the session cookie and the CSRF cookie (its value is sent
    in X-CSRFToken too)."""
    client = Client()
    client.force_login(world["staff"])  # tests/conftest.py: the session passed the second factor
    return {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF}


FUZZ_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_with_a_partner_token(case, world, partner_headers):
    aim(case, world)
    response = case.call(headers=partner_headers)
    case.validate_response(response, checks=[not_a_server_error, problem_json_errors])


@schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_with_a_staff_session(case, world, staff_cookies):
    aim(case, world)
    response = case.call(headers={"X-CSRFToken": CSRF}, cookies=staff_cookies)
    case.validate_response(response, checks=[not_a_server_error, problem_json_errors])
