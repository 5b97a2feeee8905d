"""gunicorn.conf.py serves RedCard under production settings: timeouts and worker recycling from the
environment, an access log line per request with the request id RedCard returned."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "redcard.settings.production",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        "REDIS_URL": os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15"),
        "SECRET_KEY": "t-" + secrets.token_urlsafe(40),
        "REDCARD_CODE_KEYS": json.dumps({"k": base64.b64encode(secrets.token_bytes(32)).decode()}),
        "REDCARD_DATA_KEYS": json.dumps({"k": base64.b64encode(secrets.token_bytes(32)).decode()}),
        "ALLOWED_HOSTS": "127.0.0.1",
        "REDCARD_MEDIA_ON_FILESYSTEM": "1",
        "SECURE_SSL_REDIRECT": "0",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "gunicorn.log").open("w+")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "redcard.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
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
