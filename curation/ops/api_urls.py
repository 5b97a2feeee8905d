"""API endpoints of the operations overview (included by :mod:`curation.api.urls` under /api/v1/)."""

from django.urls import path

from . import api

urlpatterns = [
    path("ops/overview/", api.OpsOverviewView.as_view(), name="api-ops-overview"),
]
