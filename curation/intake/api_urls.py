"""API endpoints of intake (included by :mod:`curation.api.urls` under /api/v1/)."""

from django.urls import path

from . import api

urlpatterns = [
    path("applications/", api.ApplicationListView.as_view(), name="api-applications"),
    path("applications/<uuid:public_id>/", api.ApplicationDetailView.as_view(), name="api-application"),
    path("applications/<uuid:public_id>/submit/", api.ApplicationSubmitView.as_view(), name="api-application-submit"),
    path(
        "applications/<uuid:public_id>/withdraw/",
        api.ApplicationWithdrawView.as_view(),
        name="api-application-withdraw",
    ),
]
