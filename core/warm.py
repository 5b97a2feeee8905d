"""Load, once and before a server forks its workers, what Django would otherwise load on each worker's first
request.

Django imports the URLconf, and with it every app's views (allauth, its MFA and fido2, DRF's views and
serializers), lazily, on the first request a process serves. Under gunicorn with ``preload_app`` that first
request came in each forked worker: about a second of CPU, paid again every time a worker is recycled
(``max_requests``). Measured on the counter's confirm (bench): the open loop at 50 confirms/s had p90 105 ms and p99
472 ms with a worker recycled every 300 requests, against p99 59 ms without recycling. Loaded in the master,
the modules are shared by every worker it forks (copy-on-write), and a new worker serves its first confirm
at the usual cost.

Nothing here opens a database or Redis connection (a connection must not cross a fork): it imports modules,
fills the resolver's caches (both ways) and reads the translation catalogues.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
from collections.abc import Sequence

from django.conf import settings
from django.urls import NoReverseMatch, Resolver404, get_resolver, reverse
from django.utils import translation

logger = logging.getLogger(__name__)


def warm_up(*, paths: Sequence[str] = ("/",), modules: Sequence[str] = ()) -> float:
    """Import the URLconf and its views, resolve ``paths`` (the hot ones: their lookups are cached), load every
    language's catalogue and import ``modules`` (those a request imports late, a task module). Returns the
    seconds it took (logged). The project's WSGI module names what to warm."""
    started = time.perf_counter()
    resolver = get_resolver()
    for path in paths:
        try:
            resolver.resolve(path)
        except Resolver404:  # a path a deployment does not serve: nothing to load
            continue
    with contextlib.suppress(NoReverseMatch):
        reverse("healthz")  # fills the resolver's reverse tables, which pages use for every link
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            translation.gettext("RedCard")
    for module in modules:
        importlib.import_module(module)

    seconds = time.perf_counter() - started
    logger.info("warmed up in %.2f s", seconds)
    return seconds
