"""The deployment the system tests share (one per session: starting it, migrations included, is most of their time):
a PostgreSQL primary, Redis, two gunicorn web nodes, a Celery worker and beat (tests/system/cluster.py); the
streaming replica the web nodes are told of (``DATABASE_REPLICA_URL``) is made by test_replica, which runs after
test_multinode's cases (modules run in file order; until then the dashboards would read the primary)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from .cluster import Cluster, wait_until

RACE_ATTEMPTS = 50
CAPPED_MEMBERS = 30
# The outage cases send about five confirms a second, each by another member (a member confirms once a day at a
# shop): 80 members span the 10 s Redis outage with load on both sides, 60 the PostgreSQL restart.
REDIS_LOAD, PG_LOAD = 80, 60
PAID_CARDS = 60


@pytest.fixture(scope="session")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="redcard-system-"))
    deployment = Cluster(root)
    started = time.monotonic()

    def took(what: str) -> None:
        print(f"system test: {what} after {time.monotonic() - started:.1f} s")

    try:
        deployment.pg_init()
        deployment.redis_start()
        took("PostgreSQL and Redis up")
        deployment.manage("migrate", "--noinput", "--skip-checks")
        took("migrated")
        deployment.world = deployment.seed(
            "world", "1", str(CAPPED_MEMBERS), str(REDIS_LOAD + PG_LOAD), str(PAID_CARDS)
        )
        took("seeded")
        for index in (0, 1):
            deployment.web_start(index)
        deployment.worker_start()
        deployment.beat_start()
        for index in (0, 1):
            wait_until(lambda i=index: deployment.web_ready(i), timeout=60, what=f"web node {index}")
        took("two web nodes, a worker and beat up")
        yield deployment
    except BaseException:
        for name in ("web0", "web1", "worker", "beat", "redis"):
            print(f"--- {name} ---\n{deployment.log(name)}")
        raise
    finally:
        deployment.close()
        shutil.rmtree(root, ignore_errors=True)
