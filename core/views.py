"""Platform pages: home, notices, health, and the error handlers."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.api.errors import (
    DATABASE_UNAVAILABLE,
    PROBLEM_CONTENT_TYPE,
    UNAVAILABLE_HEADERS,
    problem_response,
    unavailable_body,
)

logger = logging.getLogger(__name__)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "core/home.html", {"home_sections": home_sections(request)})


def home_sections(request: HttpRequest) -> list[dict[str, Any]]:
    """Each app may offer home-page entry points: ``<app>.home.section(request) -> dict | list | None``,
    each with ``title``, ``text`` and ``links`` (``label``, ``url``, ``primary``), or ready ``html``,
    and ``order``."""
    from importlib import import_module
    from importlib.util import find_spec

    from django.apps import apps

    sections: list[dict[str, Any]] = []
    for config in apps.get_app_configs():
        if find_spec(f"{config.name}.home") is None:
            continue
        found = import_module(f"{config.name}.home").section(request)
        for section in found if isinstance(found, list) else [found]:
            if section:
                sections.append(section)
    return sorted(sections, key=lambda s: s.get("order", 100))


@login_required
def notices(request: HttpRequest) -> HttpResponse:
    items = request.user.notifications.all()[:100]  # type: ignore[union-attr]
    return render(request, "core/notices.html", {"notices": items})


@login_required
@require_POST
def notices_mark_read(request: HttpRequest) -> HttpResponse:
    request.user.notifications.filter(read_at__isnull=True).update(read_at=timezone.now())  # type: ignore[union-attr]
    return redirect("notices")


def _check(name: str, fn: Any) -> tuple[str, str]:
    try:
        return name, fn()
    except Exception as exc:  # a health check reports, it does not raise
        logger.warning("health check %s failed: %s", name, exc)
        return name, f"error: {exc.__class__.__name__}"


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _cache() -> str:
    # The cache fails open (core.cache), so a dead Redis shows as a value not kept.
    cache.set("healthz", "1", 10)
    return "ok" if cache.get("healthz") == "1" else "error: cache did not keep a value"


def _broker() -> str:
    from redcard.celery import app

    if app.conf.task_always_eager:
        return "inline"
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Every dependency, for people and monitoring: ``ok``; ``degraded`` (200) when Redis (cache or broker) is
    away, since the counter keeps confirming without it; ``down`` (503) when the database is away."""
    checks = dict(_check(name, fn) for name, fn in (("database", _database), ("cache", _cache), ("broker", _broker)))
    if checks["database"] != "ok":
        state, status = "down", 503
    elif all(value in ("ok", "inline") for value in checks.values()):
        state, status = "ok", 200
    else:
        state, status = "degraded", 200
    return JsonResponse({"status": state, **checks}, status=status)


@never_cache
def livez(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers (no dependency is asked, so a database outage restarts nothing)."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: this node can serve, i.e. it reaches the database (Redis is optional: it fails open)."""
    name, result = _check("database", _database)
    ready = result == "ok"
    return JsonResponse({"status": "ok" if ready else "unavailable", name: result}, status=200 if ready else 503)


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages without an icon link (admin): the brand icon."""
    from django.templatetags.static import static

    return redirect(static("img/redcard.svg"), permanent=True)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return problem_response(request, status=404, code="not_found", detail=_("Not found."))
    return render(request, "404.html", status=404)


def handler500(request: HttpRequest) -> HttpResponse:
    if isinstance(sys.exception(), DATABASE_UNAVAILABLE):
        return _database_unavailable(request)
    if _is_api(request):
        return problem_response(
            request, status=500, code="server_error", detail=_("Something went wrong on our side. Please retry.")
        )
    return render(request, "500.html", status=500)


def _database_unavailable(request: HttpRequest) -> HttpResponse:
    """The database is away (a restart, a failover): 503 with Retry-After, not a 500. Pages get plain text:
    the page templates would ask the database again (the signed-in person, notices)."""
    if _is_api(request) or request.path.startswith("/o/"):
        return JsonResponse(
            unavailable_body(),
            status=503,
            content_type=PROBLEM_CONTENT_TYPE,
            headers=UNAVAILABLE_HEADERS,
            json_dumps_params={"ensure_ascii": False},
        )
    return HttpResponse(
        _("RedCard is briefly unavailable. Please retry in a moment."),
        status=503,
        content_type="text/plain; charset=utf-8",
        headers=UNAVAILABLE_HEADERS,
    )


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return problem_response(
            request, status=403, code="permission_denied", detail=_("You do not have permission to do this.")
        )
    return render(request, "403.html", status=403)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return problem_response(
            request, status=400, code="bad_request", detail=_("The request could not be understood.")
        )
    return render(request, "400.html", status=400)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if _is_api(request):
        return problem_response(
            request,
            status=403,
            code="csrf_failed",
            detail=_("The CSRF token is missing or invalid. Reload the page and retry."),
        )
    return render(request, "403_csrf.html", status=403)
