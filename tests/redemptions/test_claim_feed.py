"""Issue 18, item 6: the scanner's claim feed answers "nothing new" without PostgreSQL. A version per shop in
Redis (replaced after every committed change to the shop's claims), a conditional request (ETag /
If-None-Match -> 304) and a signed feed token (a header, never in the URL) instead of the session; Redis away:
every poll reads the database."""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta
from html import unescape

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from merchants.models import MerchantStaff
from redemptions.counter import feed, services
from tests.factories.redemptions import member_with_card, shop, staff_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def scanner(client, merchant, staff):
    """The feed token as the scanner page gives it to its signed-in staff member; the feed URL carries none."""
    client.force_login(staff)
    page = client.get(reverse("redemptions:scanner", kwargs={"merchant_id": merchant.public_id}))
    assert page.status_code == 200
    html = page.content.decode()
    url = unescape(re.search(r'data-claims-feed-url="([^"]+)"', html).group(1))
    assert url == reverse("api-claim-feed")
    token = unescape(re.search(r'data-claims-feed-token="([^"]+)"', html).group(1))
    assert feed.feed_token_read(token) == (str(merchant.public_id), staff.pk)
    return token


@pytest.fixture
def poll():
    anonymous = APIClient()  # no session: the token is the credential

    def get(token: str, etag: str = "", *, url: str = ""):
        headers = {"HTTP_IF_NONE_MATCH": etag} if etag else {}
        if token:
            headers["HTTP_X_CLAIM_FEED_TOKEN"] = token
        return anonymous.get(url or reverse("api-claim-feed"), **headers)

    return get


def claim(merchant, member=None, bill="88", **kwargs):
    return services.claim_create(member=member or member_with_card(), merchant=merchant, bill=bill, **kwargs)


def ids(response) -> list[str]:
    return [c["id"] for c in response.json()["results"]]


def test_nothing_new_is_a_304_without_a_query(scanner, poll, merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        waiting = claim(merchant)
    first = poll(scanner)
    assert first.status_code == 200 and ids(first) == [str(waiting.public_id)]
    etag = first["ETag"]
    assert etag and first["Cache-Control"] == "private, no-cache"
    with CaptureQueriesContext(connection) as queries:
        again = poll(scanner, etag)
    assert again.status_code == 304 and again["ETag"] == etag
    assert len(queries) == 0, [q["sql"] for q in queries]


def test_every_change_to_the_shops_claims_is_seen_at_the_next_poll(
    scanner, poll, merchant, staff, django_capture_on_commit_callbacks
):
    etag = poll(scanner)["ETag"]
    assert poll(scanner, etag).status_code == 304
    member = member_with_card()
    with django_capture_on_commit_callbacks(execute=True):
        first = claim(merchant, member)
    seen = poll(scanner, etag)
    assert seen.status_code == 200 and ids(seen) == [str(first.public_id)]
    steps = [
        lambda: claim(merchant, member, bill="99"),  # replaces the member's pending claim
        lambda: services.claim_reject(claim=services_pending(merchant)[0], merchant=merchant, staff=staff),
        lambda: claim(merchant, member, bill="60"),
        lambda: services.claim_cancel(claim=services_pending(merchant)[0], member=member),
        lambda: claim(merchant, member, bill="70"),
        lambda: services.claim_confirm(claim=services_pending(merchant)[0], merchant=merchant, staff=staff),
    ]
    for step in steps:
        etag = seen["ETag"]
        assert poll(scanner, etag).status_code == 304
        with django_capture_on_commit_callbacks(execute=True):
            step()
        seen = poll(scanner, etag)
        assert seen.status_code == 200
        assert ids(seen) == [str(c.public_id) for c in services_pending(merchant)]
    assert ids(seen) == []


def services_pending(merchant):
    from redemptions.counter.selectors import pending_claims

    return list(pending_claims(merchant=merchant))


def test_a_change_at_another_shop_or_rolled_back_changes_nothing(
    scanner, poll, merchant, django_capture_on_commit_callbacks
):
    etag = poll(scanner)["ETag"]
    with django_capture_on_commit_callbacks(execute=True):
        claim(shop())
    assert poll(scanner, etag).status_code == 304
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        claim(merchant)
        raise RuntimeError("rolled back")
    assert poll(scanner, etag).status_code == 304


def test_a_claim_running_out_of_time_or_an_old_answer_is_read_again(
    scanner, poll, merchant, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        waiting = claim(merchant)
    seen = poll(scanner)
    assert ids(seen) == [str(waiting.public_id)]
    with time_machine.travel(waiting.expires_at + timedelta(seconds=1)):
        gone = poll(scanner, seen["ETag"])  # no write happened: the listed claim's time ran out
        assert gone.status_code == 200 and ids(gone) == []
    settings.REDCARD_CLAIM_FEED_MAX_AGE = 30
    empty = poll(scanner)
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert poll(scanner, empty["ETag"]).status_code == 200  # bounded staleness should a bump be lost
    assert poll(scanner, empty["ETag"]).status_code == 304


def test_the_feed_token_is_the_credential(scanner, poll, merchant, staff, client):
    for token in (
        "",
        "nonsense",
        scanner[:-3] + "xyz",
        feed.feed_token(merchant_public_id=shop().public_id, staff_id=staff.pk),
    ):
        refused = poll(token)
        assert refused.status_code == 403, token
        assert refused["Content-Type"].startswith("application/problem+json")
        assert refused.json()["code"] == "staff_not_authorized"
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert poll(scanner).status_code == 403  # a day old
    # A person removed from the shop is refused at the next full answer.
    etag = poll(scanner)["ETag"]
    MerchantStaff.objects.filter(user=staff, merchant=merchant).delete()
    assert poll(scanner, "").status_code == 403
    assert poll(scanner, etag).status_code in (304, 403)  # at most until the next change or MAX_AGE


def test_a_token_in_the_url_is_not_taken(scanner, poll, caplog):
    """Request lines go to access logs: the feed takes its token from the header only, so no client is led to put
    a day-long credential in a URL (a scanner page from before this rule falls back to its session's list)."""
    for url in (f"{reverse('api-claim-feed')}?t={scanner}", f"{reverse('api-claim-feed')}?token={scanner}"):
        refused = poll("", url=url)
        assert refused.status_code == 403 and refused.json()["code"] == "staff_not_authorized"
    answered = poll(scanner)
    assert answered.status_code == 200 and feed.TOKEN_HEADER in answered["Vary"]
    # Django's request log (core.logs' JSON lines in production) names the path, never the query string.
    assert any("claims/feed" in record.getMessage() for record in caplog.records)
    assert not any(scanner in record.getMessage() for record in caplog.records)


def test_the_page_of_another_shops_staff_gives_no_feed_of_this_shop(client, merchant):
    other = staff_of(shop())
    client.force_login(other)
    assert client.get(reverse("redemptions:scanner", kwargs={"merchant_id": merchant.public_id})).status_code == 404


def test_redis_away_every_poll_reads_the_database(scanner, poll, merchant, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.FailOpenRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    first = poll(scanner)
    assert first.status_code == 200 and "ETag" not in first
    waiting = claim(merchant)  # its version bump is lost: no 304 can hide it
    forged = poll(scanner, '"x.0.9999999999"')
    assert forged.status_code == 200 and ids(forged) == [str(waiting.public_id)]


@pytest.mark.redis
def test_with_a_real_redis_nothing_new_costs_no_query(scanner, poll, merchant, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.FailOpenRedisCache",
            "LOCATION": os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15"),
            "KEY_PREFIX": f"feed-{uuid.uuid4().hex}",
        }
    }
    etag = poll(scanner)["ETag"]
    with CaptureQueriesContext(connection) as queries:
        assert poll(scanner, etag).status_code == 304
    assert len(queries) == 0
