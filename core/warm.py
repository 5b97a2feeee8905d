"""Load, once and before a server forks its workers, what Django would otherwise load on each worker's first
request.

Django imports the URLconf, and with it every app's views (allauth, its MFA and fido2, DRF's views and
serializers), lazily, on the first request a process serves. Under gunicorn with ``preload_app`` that first
request came in each forked worker: about a second of CPU, paid again every time a worker is recycled
(``max_requests``). Measured in bench/redemption: the open loop at 50 confirms/s had p90 105 ms and p99
472 ms with a worker recycled every 300 requests, against p99 59 ms without recycling. Loaded in the master,
the modules are shared by every worker it forks (copy-on-write), and a new worker serves its first confirm
at the usual cost.

Nothing here opens a database or Redis connection (a connection must not cross a fork): it imports modules,
fills the resolver's caches (both ways) and reads the translation catalogues.
"""

from __future__ import annotations

import contextlib
import logging
import time

from django.conf import settings
from django.urls import NoReverseMatch, Resolver404, get_resolver, reverse
from django.utils import translation

logger = logging.getLogger(__name__)

#: Paths whose views are imported and whose resolution is cached (the counter's hot path first).
PATHS = ("/api/v1/redemptions/confirm/", "/api/v1/redemptions/card/status/", "/r/", "/")


def warm_up() -> float:
    """Import the URLconf and its views, resolve the hot paths, load every language's catalogue. Returns the
    seconds it took (logged)."""
    started = time.perf_counter()
    resolver = get_resolver()
    for path in PATHS:
        try:
            resolver.resolve(path)
        except Resolver404:  # a path a deployment does not serve: nothing to load
            continue
    with contextlib.suppress(NoReverseMatch):
        reverse("healthz")  # fills the resolver's reverse tables, which pages use for every link
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            translation.gettext("RedCard")
    from redemptions.counter import tasks  # noqa: F401 (the task the confirm queues on commit)

    seconds = time.perf_counter() - started
    logger.info("warmed up in %.2f s", seconds)
    return seconds
