"""What the bench runners share: the scratch PostgreSQL database, the environment Django runs in, shell commands,
percentiles and timings.

A runner is a script (``.venv/bin/python bench/<name>/run.py``): it puts the repository on ``sys.path``, imports
this module and keeps only what it measures.
"""

from __future__ import annotations

import base64
import json
import math
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SERVER = "postgres://postgres@127.0.0.1:5432"


def environment(db_name: str, *, production: bool = False, **extra: str) -> dict[str, str]:
    """The environment of a bench run on its own database ``db_name``.

    ``production`` runs ``redcard.settings.production`` with throwaway secrets and signing keys (as a deployment
    would, behind no TLS proxy); otherwise ``redcard.settings.base``. ``extra`` overrides or adds variables."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "redcard.settings.base",
        "DATABASE_URL": f"{SERVER}/{db_name}",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    if production:
        env |= {
            "DJANGO_SETTINGS_MODULE": "redcard.settings.production",
            "DB_CONN_MAX_AGE": "600",
            "SECRET_KEY": "bench-" + secrets.token_urlsafe(40),
            "REDCARD_CODE_KEYS": json.dumps({"bench": base64.b64encode(secrets.token_bytes(32)).decode()}),
            "REDCARD_CODE_KEY_ID": "bench",
            "REDCARD_DATA_KEYS": json.dumps({"bench": base64.b64encode(secrets.token_bytes(32)).decode()}),
            "REDCARD_DATA_KEY_ID": "bench",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "SECURE_SSL_REDIRECT": "0",
            "API_THROTTLE_RATE": "100000000/min",
            "REDCARD_MEDIA_ON_FILESYSTEM": "1",
        }
    env |= extra
    return env


def sh(env: dict[str, str], cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    """Run ``cmd`` from the repository root in ``env``; a failure stops the run."""
    return subprocess.run(cmd, check=True, env=env, cwd=ROOT, **kwargs)


def migrate(env: dict[str, str]) -> None:
    sh(env, [sys.executable, "manage.py", "migrate", "-v0"])


def recreate_database(env: dict[str, str], db_name: str) -> None:
    """Drop and create ``db_name``, then migrate it."""
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    migrate(env)


def django_setup(env: dict[str, str]) -> None:
    """Set up Django in this process with ``env``."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``share`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def timed(label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call ``fn``, print how long it took, return its result and the seconds."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    elapsed = time.perf_counter() - start
    print(f"{label}: {elapsed:.2f} s", flush=True)
    return result, elapsed


def members_with_cards(prefix: str, count: int, name: str = "会员") -> list[Any]:
    """``count`` members ``<prefix><n>@redcard.local`` with an active annual card (bulk inserts, default plans)."""
    from datetime import timedelta

    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from core.models import User
    from members.models import Plan, Subscription
    from members.services import seed_default_plans

    seed_default_plans()
    plan = Plan.objects.get(code="annual")
    password = make_password(None)
    users = User.objects.bulk_create(
        [User(email=f"{prefix}{n}@redcard.local", display_name=f"{name}{n}", password=password) for n in range(count)],
        batch_size=2000,
    )
    now = timezone.now()
    start, end = now - timedelta(days=1), now + timedelta(days=364)
    Subscription.objects.bulk_create(
        [Subscription(user=u, plan=plan, state="active", period_start=start, period_end=end) for u in users],
        batch_size=2000,
    )
    return users
