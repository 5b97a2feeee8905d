"""A real Celery worker round trip through the local Redis (no database involved)."""

import os
import uuid

import pytest


@pytest.mark.redis
def test_a_real_celery_worker_runs_a_task_through_redis():
    """A worker thread consumes from the local Redis broker and returns the result through Redis."""
    import redis
    from celery.backends.redis import RedisBackend
    from celery.contrib.testing.worker import start_worker

    from core.tasks import ping
    from redcard.celery import app

    url = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15")
    redis.Redis.from_url(url).ping()
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_url=url, result_backend=url, task_always_eager=False)
    queue = f"test-{uuid.uuid4().hex}"  # our own queue: other runs sharing this Redis cannot take the task
    try:
        with start_worker(
            app, perform_ping_check=False, pool="solo", loglevel="WARNING", shutdown_timeout=10, queues=[queue]
        ):
            # Explicit connection and result backend: the app caches both per thread, and other tests
            # in this process already created in-memory ones.
            with app.connection_for_write(url) as connection:
                sent = ping.apply_async(args=["穿过 Redis"], queue=queue, connection=connection)
            result = app.AsyncResult(sent.id, backend=RedisBackend(app=app, url=url))
            assert result.get(timeout=20) == "穿过 Redis"
    finally:
        app.conf.update(saved)
