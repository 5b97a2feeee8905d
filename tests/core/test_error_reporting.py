"""Issue 18, part 5: with SENTRY_DSN set, errors go to Sentry tagged with the request id (here: a Sentry-
compatible ingest endpoint on loopback that records what it receives)."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import logging
import django
django.setup()
import sentry_sdk
from django.http import HttpResponse
from django.test import RequestFactory
from core.logs import RequestContextMiddleware

def view(request):
    try:
        1 / 0
    except ZeroDivisionError:
        logging.getLogger("core.api.errors").exception("the view failed")
    return HttpResponse()

RequestContextMiddleware(view)(RequestFactory().get("/x", HTTP_X_REQUEST_ID="edge-7"))
sentry_sdk.flush(timeout=10)
"""


def test_errors_reach_sentry_with_the_request_id_and_nothing_without_a_dsn():
    received: list[bytes] = []

    class Ingest(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            received.append(body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Ingest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "redcard.settings.test",
        "REDCARD_TRUSTED_PROXIES": "1",
        "PYTHONPATH": str(ROOT),
    }
    try:
        subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, check=True, timeout=60)
        assert received == []  # no DSN: nothing is sent anywhere
        env["SENTRY_DSN"] = f"http://publickey@127.0.0.1:{server.server_port}/1"
        subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, check=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    events = b"".join(received)
    assert b"ZeroDivisionError" in events and b"the view failed" in events
    assert b'"request_id":"edge-7"' in events.replace(b" ", b"")
