"""gunicorn.conf.py serves RedCard under production settings: timeouts and worker recycling from the
environment, an access log line per request with the request id RedCard returned and no credential in it."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
import requests

from tests.gunicorn import free_port, gunicorn_env, gunicorn_start

ROOT = Path(__file__).resolve().parents[2]


def test_the_config_reads_its_settings_from_the_environment(monkeypatch, tmp_path):
    import runpy

    monkeypatch.setenv("GUNICORN_TIMEOUT", "12")
    monkeypatch.setenv("GUNICORN_MAX_REQUESTS", "500")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.2")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the config would make one (and keep it set)
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["timeout"] == 12 and config["max_requests"] == 500 and config["max_requests_jitter"] > 0
    assert config["forwarded_allow_ips"] == "10.0.0.2"
    assert "%({x-request-id}o)s" in config["access_log_format"]
    assert config["logger_class"] == "core.access_log.RedactingLogger"


def test_credential_parameters_are_masked_and_the_rest_kept():
    from core.access_log import redact_query

    line = "GET /api/v1/redemptions/claims/feed/?t=abc.def:ghi&merchant=42&TOKEN=x%3Dy&tag= HTTP/1.1"
    assert redact_query(line) == (
        "GET /api/v1/redemptions/claims/feed/?t=[redacted]&merchant=42&TOKEN=[redacted]&tag= HTTP/1.1"
    )
    signed = "/media/a.png?X-Amz-Expires=60&X-Amz-Signature=deadbeef&X-Amz-Credential=AK%2F2026"
    masked = "/media/a.png?X-Amz-Expires=60&X-Amz-Signature=[redacted]&X-Amz-Credential=[redacted]"
    assert redact_query(signed) == masked
    assert redact_query("/r/dashboard/?from=2026-12-01&to=2026-12-03") == "/r/dashboard/?from=2026-12-01&to=2026-12-03"


@pytest.mark.slow
def test_gunicorn_serves_production_settings_and_logs_the_request_id_without_credentials(tmp_path):
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("w+")
    server = gunicorn_start(gunicorn_env(port), log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2) as response:
                    request_id = response.headers["X-Request-ID"]
                    assert response.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()[-2000:]
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            assert json.loads(response.read()) == {"status": "ok", "database": "ok"}
        # The scanner's feed token: in its header (the page's way) and, from an old page or a careless client, in
        # the query string. Neither reaches the log.
        feed = f"http://127.0.0.1:{port}/api/v1/redemptions/claims/feed/"
        for url, headers in (
            (feed, {"X-Claim-Feed-Token": "header-secret-1"}),
            (f"{feed}?t=query-secret-2&page=1", {}),
            (f"{feed}?access_token=query-secret-3", {"Authorization": "Bearer header-secret-4"}),
        ):
            assert requests.get(url, headers=headers, timeout=5).status_code == 403
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = (tmp_path / "gunicorn.log").read_text()
    assert f"request_id={request_id}" in text and '"GET /livez HTTP/1.1" 200' in text
    assert '"GET /api/v1/redemptions/claims/feed/?t=[redacted]&page=1 HTTP/1.1" 403' in text
    assert '"GET /api/v1/redemptions/claims/feed/?access_token=[redacted] HTTP/1.1" 403' in text
    assert "secret" not in text
