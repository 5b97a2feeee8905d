"""The operations figures through the API (/api/v1/ops/overview/: operators, or partner scope ``ops:read``)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.permissions import IsOperator, scoped
from core.api.views import APIView

from .selectors import (
    ops_figures,
    overview_as_json,
)


class OpsOverviewView(APIView):
    """The operations overview's figures and chart series, each with how it is computed, and its coverage
    gaps (districts where demand most outweighs the listed shops, biggest first)."""

    permission_classes = [IsOperator | scoped("ops:read")]

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "overview",
                value={
                    "at": "2026-11-23T02:00:00+00:00",
                    "rollup_through": "2026-11-22",
                    "figures": [
                        {
                            "key": "active_members",
                            "label": "Active members",
                            "value": 1520,
                            "display": "1,520",
                            "how": "People whose card works now…",
                        }
                    ],
                    "charts": [{"key": "seats", "title": "…", "how": "…", "unit": "", "bars": []}],
                    "coverage_gaps": [
                        {
                            "city": "上海",
                            "district": "徐汇区",
                            "listed": 0,
                            "residents": 3,
                            "asking": 2,
                            "searches": 4,
                            "demand": 9,
                            "per_shop": 9.0,
                            "wanted": 1,
                        }
                    ],
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        return Response(overview_as_json(ops_figures()))
