"""Issue 18: Prometheus metrics at /metrics, for the scraper only: requests by route, method and status,
confirms, refusals by code, the outbox lag and the Celery queue lengths; under gunicorn the workers' counts add
up (PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from redemptions.models import Redemption, RedemptionOutbox
from tests.factories.redemptions import code_of
from tests.gunicorn import free_port, gunicorn_env, gunicorn_start

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "scrape-" + secrets.token_urlsafe(16)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def scrape(client, settings):
    settings.REDCARD_METRICS_TOKEN = TOKEN

    def read() -> dict:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        return samples(response.content.decode())

    return read


@pytest.mark.django_db
def test_only_the_scraper_reads_the_metrics(client, settings):
    settings.REDCARD_METRICS_TOKEN = ""
    settings.REDCARD_METRICS_NETWORKS = []
    assert client.get("/metrics").status_code == 404  # neither set: nobody
    settings.REDCARD_METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    settings.REDCARD_METRICS_TOKEN = ""
    settings.REDCARD_METRICS_NETWORKS = ["10.1.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 404
    # Behind a trusted proxy the client's address counts, not the proxy's, and a client cannot forge it.
    settings.REDCARD_TRUSTED_PROXIES = 1
    assert client.get("/metrics", REMOTE_ADDR="10.1.0.9", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 404
    forged = client.get("/metrics", REMOTE_ADDR="10.1.0.9", HTTP_X_FORWARDED_FOR="10.1.2.3, 203.0.113.5")
    assert forged.status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="10.1.0.9", HTTP_X_FORWARDED_FOR="10.1.7.7").status_code == 200


@pytest.mark.django_db
def test_a_confirm_shows_in_requests_confirms_and_refusals(
    scrape, staff_client, merchant, member, django_capture_on_commit_callbacks
):
    before = scrape()
    payload = {"merchant": str(merchant.public_id), "code": code_of(member).qr, "bill_fen": 5000}
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.post(reverse("api-redemption-confirm"), payload).status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.post(reverse("api-redemption-confirm"), payload).status_code == 409
    after = scrape()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = {"route": "api-redemption-confirm", "method": "POST"}
    assert grew("redcard_http_requests_total", **route, status="201") == 1
    assert grew("redcard_http_requests_total", **route, status="409") == 1
    assert grew("redcard_http_request_duration_seconds_count", route="api-redemption-confirm") == 2
    assert grew("redcard_confirms_total", channel="staff_scan") == 1
    assert grew("redcard_refusals_total", code="code_already_used", step="confirm") == 1
    # A path no pattern matches is counted under one label, not under its path.
    client_404 = staff_client.get(f"/no-such-page-{uuid.uuid4().hex}/")
    assert client_404.status_code == 404
    assert grew("redcard_http_requests_total", route="<unmatched>", method="GET", status="404") == 0
    assert value(scrape(), "redcard_http_requests_total", route="<unmatched>", method="GET", status="404") >= 1
    assert not [key for key in after if "no-such-page" in str(key)]


@pytest.mark.django_db
def test_the_outbox_lag_is_the_age_of_the_oldest_unprocessed_row(
    scrape, staff_client, merchant, member, django_capture_on_commit_callbacks
):
    assert value(scrape(), "redcard_outbox_lag_seconds") == 0 and value(scrape(), "redcard_outbox_pending") == 0
    payload = {"merchant": str(merchant.public_id), "code": code_of(member).qr, "bill_fen": 5000}
    with django_capture_on_commit_callbacks(execute=True):  # the worker processes the outbox row at once
        assert staff_client.post(reverse("api-redemption-confirm"), payload).status_code == 201
    assert value(scrape(), "redcard_outbox_pending") == 0
    RedemptionOutbox.objects.create(
        redemption=Redemption.objects.get(), event="voided", created_at=timezone.now() - timedelta(minutes=5)
    )
    found = scrape()
    assert value(found, "redcard_outbox_pending") == 1
    assert 300 <= value(found, "redcard_outbox_lag_seconds") < 330


@pytest.mark.django_db
@pytest.mark.redis
def test_task_queue_lengths_are_read_from_the_redis_broker(scrape, settings):
    from core.tasks import ping
    from redcard.celery import app

    url = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15")
    queue = f"metrics-{uuid.uuid4().hex}"
    settings.CELERY_BROKER_URL = url
    settings.REDCARD_METRICS_QUEUES = [queue]
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        with app.connection_for_write(url) as connection:
            for _ in range(3):
                ping.apply_async(args=["x"], queue=queue, connection=connection)
    finally:
        app.conf.task_always_eager = eager
    try:
        found = scrape()
        assert value(found, "redcard_task_queue_length", queue=queue) == 3
        assert value(found, "redcard_task_broker_up") == 1
    finally:
        import redis

        redis.Redis.from_url(url).delete(queue)
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there: reported, not raised
    found = scrape()
    assert value(found, "redcard_task_broker_up") == 0 and "redcard_outbox_lag_seconds" in {k[0] for k in found}


# --- gunicorn: two worker processes, one set of figures ---------------------------------------------------------


@pytest.mark.slow
def test_under_gunicorn_every_worker_counts_into_one_exposition(tmp_path, django_db_setup):
    from django.db import connection

    port = free_port()
    test_db = connection.creation._get_test_db_name()  # migrated, so the outbox lag can be read
    database = connection.settings_dict
    env = gunicorn_env(
        port,
        DATABASE_URL=(
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT'] or 5432}"
            f"/{test_db}"
        ),
        REDCARD_METRICS_TOKEN=TOKEN,
        WEB_CONCURRENCY="2",
        GUNICORN_KEEPALIVE="0",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    log = (tmp_path / "gunicorn.log").open("w+")
    server = gunicorn_start(env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/livez", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()[-2000:]
                time.sleep(0.3)

        def livez_count() -> float:
            response = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
            found = samples(response.text)
            assert "redcard_outbox_lag_seconds" in {key[0] for key in found}, (tmp_path / "gunicorn.log").read_text()
            return value(found, "redcard_http_requests_total", route="livez", method="GET", status="200")

        before = livez_count()
        with ThreadPoolExecutor(8) as pool:  # in parallel, so that both workers answer some
            assert {
                r.status_code for r in pool.map(lambda _: requests.get(f"{base}/livez", timeout=10), range(40))
            } == {200}
        totals = [livez_count() - before for _ in range(6)]  # whichever worker answers gives the sum over both
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert totals == [40.0] * 6, totals
    assert len(list((tmp_path / "metrics").glob("counter_*.db"))) == 2  # each worker counted into its own file
    booted = [line for line in (tmp_path / "gunicorn.log").read_text().splitlines() if "Booting worker" in line]
    assert len(booted) == 2, booted
