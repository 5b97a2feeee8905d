"""The floor of the fixed stack, for ``run.py``: the confirm URL answered by a DRF view that does no work of its
own, behind the project's middleware, OAuth 2 bearer authentication (one query), the ``redemptions:write``
scope permission and the throttle, returning a constant 201. What Django, DRF, the token check and the app
server cost before a line of redemption code runs.

Served with ``DJANGO_SETTINGS_MODULE=bench.redemption.floor_settings`` (production settings, this URLconf).
"""

from __future__ import annotations

from django.urls import include, path
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.views import APIView
from redemptions.counter.api import PARTNER


class Confirm(APIView):
    permission_classes = [PARTNER]

    def post(self, request: Request) -> Response:
        body = {"status": "confirmed", "bill_fen": request.data.get("bill_fen")}
        return Response(body, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("api/v1/redemptions/confirm/", Confirm.as_view()),
    path("", include("redcard.urls")),
]
