"""Prometheus metrics (prometheus_client), served at ``/metrics`` to the scraper only.

Counted as they happen: requests by route name, method and status (and their duration), and whatever the apps
count (confirms, refusals: ``redemptions.metrics``). Read at scrape time: each installed app's
``<app>.metrics.gauges()`` (the outbox lag) and the Celery queue lengths in the Redis broker.

Under gunicorn every worker is its own process: with ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn.conf.py sets it)
counters are kept in files there and a scrape of any worker adds up all of them. The endpoint answers only a
request bearing ``REDCARD_METRICS_TOKEN`` (``Authorization: Bearer …``) or coming from
``REDCARD_METRICS_NETWORKS`` (the client address as :func:`core.logs.client_ip` reads it); 404 otherwise.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from importlib import import_module
from importlib.util import find_spec

from django.apps import apps
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from .logs import client_ip

logger = logging.getLogger(__name__)
#: Counting into files shared by the worker processes (read once: prometheus_client chose the same at import).
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUESTS = Counter(
    "redcard_http_requests", "HTTP requests answered, by route name, method and status.", ["route", "method", "status"]
)
REQUEST_SECONDS = Histogram(
    "redcard_http_request_duration_seconds",
    "Time to answer an HTTP request, by route name.",
    ["route"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
#: Methods kept as they are; anything else is counted as "other" (a client may send any word).
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def route_of(request: HttpRequest) -> str:
    """The URL pattern's name (``namespace:name``), never the path: a bounded set of labels."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unmatched>"
    return match.view_name or "<unnamed>"


class RequestMetricsMiddleware:
    """Counts every answered request (also those a later middleware or view answered with an error)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        route = route_of(request)
        method = request.method if request.method in METHODS else "other"
        REQUESTS.labels(route=route, method=method, status=str(response.status_code)).inc()
        REQUEST_SECONDS.labels(route=route).observe(time.perf_counter() - started)
        return response


# --- Read at scrape time ----------------------------------------------------------------------------------


def _app_gauges() -> Iterator[GaugeMetricFamily]:
    """``gauges()`` of every installed app that has a ``metrics`` module (each app reads its own data)."""
    for config in apps.get_app_configs():
        module_name = f"{config.name}.metrics"
        if config.name == "core" or find_spec(module_name) is None:
            continue
        gauges = getattr(import_module(module_name), "gauges", None)
        if gauges is None:
            continue
        try:
            yield from gauges()
        except Exception:  # a figure that cannot be read is left out; the scrape still answers
            logger.exception("metrics of %s could not be read", config.name)


def _queue_lengths() -> Iterator[GaugeMetricFamily]:
    """Messages waiting in each Celery queue of the Redis broker (and taken but not yet acknowledged)."""
    broker = str(settings.CELERY_BROKER_URL)
    if not broker.startswith(("redis://", "rediss://")):
        return
    import redis

    queues = GaugeMetricFamily("redcard_task_queue_length", "Tasks waiting in a Celery queue.", labels=["queue"])
    unacked = GaugeMetricFamily(
        "redcard_task_unacked", "Tasks a worker has taken and not yet acknowledged (late acknowledgement)."
    )
    up = GaugeMetricFamily("redcard_task_broker_up", "Whether the scrape reached the broker (1) or not (0).")
    client = redis.Redis.from_url(broker, **settings.REDIS_TIMEOUTS)
    try:
        for name in settings.REDCARD_METRICS_QUEUES:
            queues.add_metric([name], client.llen(name))
        unacked.add_metric([], client.hlen("unacked"))
    except redis.RedisError as exc:
        logger.warning("metrics: the broker did not answer: %s", exc)
        up.add_metric([], 0)
        yield up
        return
    finally:
        client.close()
    up.add_metric([], 1)
    yield from (queues, unacked, up)


class LiveCollector(Collector):
    """Figures read when the scraper asks (not counted in any process)."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        yield from _app_gauges()
        yield from _queue_lengths()


def exposition() -> bytes:
    """The text Prometheus reads: the counters (of every worker process when multiprocess) and the live figures."""
    live = CollectorRegistry(auto_describe=False)
    live.register(LiveCollector())
    if MULTIPROCESS:
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    return generate_latest(counted) + generate_latest(live)


def scraper_allowed(request: HttpRequest) -> bool:
    token = settings.REDCARD_METRICS_TOKEN
    if token:
        offered = request.headers.get("authorization", "")
        if hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
            return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.REDCARD_METRICS_NETWORKS)


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not scraper_allowed(request):
        raise Http404
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
