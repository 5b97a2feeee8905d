"""gunicorn settings for a RedCard web node (``gunicorn -c gunicorn.conf.py redcard.wsgi``), from the
environment like the rest of the configuration (docs/operations.md)."""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# One process per core, four threads each (gthread: keep-alive, a thread waits on PostgreSQL while another runs):
# measured against sync workers, more gthread processes and granian in docs/decisions/0018.
workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count())))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread" if threads > 1 else "sync")
# A request that takes longer than this is a bug or a stuck dependency: the worker is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Workers are recycled after about this many requests (jitter keeps them from restarting together).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "200"))
# Only our proxies may set X-Forwarded-Proto/For (their addresses, comma-separated; REDCARD_TRUSTED_PROXIES
# says how many stand in front).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Access log to stdout with the request id RedCard returns (core.logs), the client address and the time taken.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
access_log_format = (
    '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s forwarded_for="%({x-forwarded-for}i)s" '
    'agent="%(a)s"'
)
# Credentials in a request line (a token a client put in the query string) are written as [redacted].
logger_class = "core.access_log.RedactingLogger"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Load the application before forking: workers share its memory and a broken configuration fails at once.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") == "1"

# Prometheus metrics (core.metrics): every worker counts in files under PROMETHEUS_MULTIPROC_DIR and a scrape of
# any worker adds them up. Without the variable, a fresh folder of this server's own (set before the app is
# loaded, emptied at start so the counters of an earlier run are not added in, removed at exit).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="redcard-metrics-")
_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
os.makedirs(_metrics_dir, exist_ok=True)
for _stale in os.listdir(_metrics_dir):
    if _stale.endswith(".db"):
        os.remove(os.path.join(_metrics_dir, _stale))


def child_exit(server: object, worker: object) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def pre_fork(server: object, worker: object) -> None:
    """Before each worker is forked: move the preloaded application's objects (core.warm loaded the URLconf and
    its views) out of the garbage collector's reach. A worker's collections then never walk them (shorter
    pauses) nor write to their pages (copy-on-write keeps them shared between workers)."""
    import gc

    gc.freeze()
