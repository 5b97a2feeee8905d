"""The operations overview as JSON for curators and operators signed in to the console."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from core.models import User

from .selectors import (
    ops_figures,
    overview_as_json,
)


@staff_member_required
def ops_json(request: HttpRequest) -> HttpResponse:
    """The overview's figures as JSON for curators and operators signed in to the console."""
    user = request.user
    assert isinstance(user, User)
    if not (user.is_superuser or user.groups.filter(name__in=["curator", "operator"]).exists()):
        raise Http404
    data: dict[str, Any] = overview_as_json(ops_figures())
    return JsonResponse(data, json_dumps_params={"ensure_ascii": False})
