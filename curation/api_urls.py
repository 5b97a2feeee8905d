"""API endpoints of the curation app, under /api/v1/."""

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

from .standing_api import urlpatterns as standing_urlpatterns  # noqa: E402  (issue 7: complaints, findings, ops)

urlpatterns += standing_urlpatterns
