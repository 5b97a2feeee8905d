"""The floor of the fixed stack, for ``run.py``: the confirm URL answered by a DRF view that does no work of its
own, behind the project's middleware, OAuth 2 bearer authentication (one query), the ``redemptions:write``
scope permission and the throttle, returning a constant 201. What Django, DRF, the token check and the app
server cost before a line of redemption code runs.

Served with ``DJANGO_SETTINGS_MODULE=bench.redemption.floor_settings`` (production settings, this URLconf).

``BENCH_FLOOR=plain`` serves the **plain floor** instead: a Django view without DRF behind the same middleware,
doing what DRF's part of the stack does for the confirm by hand, as the confirm's lean path does
(``core.api.lean``): the same bearer-token read (``core.oauth.PartnerValidator``, one prepared statement) and
scope check, the same throttle count (one Redis round trip), the JSON body parsed and a JSON 201: the floor of
the lean path.
"""

from __future__ import annotations

import json
import os

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.lean import partner_token, throttled
from core.api.views import APIView
from redemptions.counter.api import PARTNER


class Confirm(APIView):
    permission_classes = [PARTNER]

    def post(self, request: Request) -> Response:
        body = {"status": "confirmed", "bill_fen": request.data.get("bill_fen")}
        return Response(body, status=status.HTTP_201_CREATED)


@csrf_exempt
def plain_confirm(request: HttpRequest) -> JsonResponse:
    token = partner_token(request, ("redemptions:write",))
    if token is None:
        return JsonResponse({"code": "not_authenticated"}, status=401)
    if throttled(token) is not None:
        return JsonResponse({"code": "throttled"}, status=429)
    body = json.loads(request.body)
    return JsonResponse({"status": "confirmed", "bill_fen": body.get("bill_fen")}, status=201)


urlpatterns = [
    path(
        "api/v1/redemptions/confirm/",
        plain_confirm if os.environ.get("BENCH_FLOOR") == "plain" else Confirm.as_view(),
    ),
    path("", include("redcard.urls")),
]
