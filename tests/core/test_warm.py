"""core.warm: what the WSGI module loads before gunicorn forks (a new worker's first request then costs what any
request costs), with no connection opened in the master."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys, time
import django
django.setup()
from django.db import connections
before = "redcard.urls" in sys.modules
from core.warm import warm_up
seconds = warm_up(paths=("/api/v1/redemptions/confirm/", "/"), modules=("redemptions.counter.tasks",))
from django.urls import get_resolver
WANTED = ("redcard.urls", "allauth.mfa.base.views", "redemptions.counter.api", "redemptions.counter.tasks")
print(json.dumps({
    "urls_before": before,
    "loaded": all(m in sys.modules for m in WANTED),
    "populated": get_resolver()._populated,
    "connected": [alias for alias in connections if connections[alias].connection is not None],
    "seconds": seconds,
}))
"""


def test_warm_up_loads_the_urlconf_and_its_views_without_connecting():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "redcard.settings.test", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["urls_before"] is False  # Django itself loads the URLconf lazily: this is what warm_up adds
    assert found["loaded"] and found["populated"]
    assert found["connected"] == []  # nothing that a fork would share with the workers
