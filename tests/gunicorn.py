"""A RedCard web node under production settings for tests that need a real server: gunicorn.conf.py on a free
loopback port, started in a subprocess (its output in a log file)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_env(port: int, **extra: str) -> dict[str, str]:
    """Production settings with fresh keys, the local PostgreSQL and Redis, uploads on the file system."""
    return {
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
        **extra,
    }


def gunicorn_start(env: dict[str, str], log: IO[str], *, start_new_session: bool = False) -> subprocess.Popen:
    """``start_new_session``: the node and its workers in a process group of their own (signalled together)."""
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "redcard.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=start_new_session,
    )
