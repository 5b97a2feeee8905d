"""The floor of the fixed stack, for ``run.py --floor``: the same two URLs as the redemption API, answered
by views that do no work of their own, so that the load client measures what Django, gunicorn, DRF and the
OAuth token check cost before a single line of redemption code runs.

``FLOOR=drf`` (default): DRF ``APIView`` with the project's authentication (OAuth 2 bearer token, one
query), the ``redemptions:write`` scope permission and the throttle, returning a constant body.
``FLOOR=django``: a plain Django view returning a constant ``JsonResponse`` (middleware only, no database).

Served with ``DJANGO_SETTINGS_MODULE=bench.redemption.floor_settings`` (production settings, this URLconf).
"""

from __future__ import annotations

import os

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.views import APIView
from redemptions.counter.api import PARTNER

FLOOR = os.environ.get("FLOOR", "drf")


class Prepare(APIView):
    permission_classes = [PARTNER]

    def post(self, request: Request) -> Response:
        return Response({"token": "floor", "merchant": request.data.get("merchant")})


class Confirm(APIView):
    permission_classes = [PARTNER]

    def post(self, request: Request) -> Response:
        body = {"status": "confirmed", "bill_fen": request.data.get("bill_fen")}
        return Response(body, status=status.HTTP_201_CREATED)


def plain_prepare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"token": "floor"})


def plain_confirm(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "confirmed"}, status=201)


def _csrf_exempt(view):  # type: ignore[no-untyped-def]
    from django.views.decorators.csrf import csrf_exempt

    return csrf_exempt(view)


urlpatterns = [
    *(
        [
            path("api/v1/redemptions/prepare/", Prepare.as_view()),
            path("api/v1/redemptions/confirm/", Confirm.as_view()),
        ]
        if FLOOR == "drf"
        else [
            path("api/v1/redemptions/prepare/", _csrf_exempt(plain_prepare)),
            path("api/v1/redemptions/confirm/", _csrf_exempt(plain_confirm)),
        ]
    ),
    path("", include("redcard.urls")),
]
