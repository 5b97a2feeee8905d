"""gunicorn.conf.py serves RedCard under production settings: timeouts and worker recycling from the
environment, an access log line per request with the request id RedCard returned."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

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


@pytest.mark.slow
def test_gunicorn_serves_production_settings_and_logs_the_request_id(tmp_path):
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
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = (tmp_path / "gunicorn.log").read_text()
    assert f"request_id={request_id}" in text and '"GET /livez HTTP/1.1" 200' in text
