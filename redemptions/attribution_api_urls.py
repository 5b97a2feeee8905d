"""API endpoints of issue 6 (included by redemptions/api_urls.py under /api/v1/)."""

from django.urls import path

from . import attribution_api

urlpatterns = [
    path("notes/<str:external_id>/", attribution_api.NoteView.as_view(), name="api-note"),
    path("touches/batch/", attribution_api.TouchBatchView.as_view(), name="api-touches-batch"),
    path("insights/merchants/<uuid:public_id>/", attribution_api.InsightsView.as_view(), name="api-merchant-insights"),
    path("merchants/<uuid:public_id>/notes/", attribution_api.MerchantNotesView.as_view(), name="api-merchant-notes"),
    path(
        "redemptions/<uuid:public_id>/note-invite/",
        attribution_api.NoteInviteView.as_view(),
        name="api-redemption-note-invite",
    ),
]
