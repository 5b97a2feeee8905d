"""API endpoints of notes, touches and insights, included by :mod:`redemptions.api.urls`."""

from django.urls import path

from . import api

urlpatterns = [
    path("notes/<str:external_id>/", api.NoteView.as_view(), name="api-note"),
    path("touches/batch/", api.TouchBatchView.as_view(), name="api-touches-batch"),
    path("insights/merchants/<uuid:public_id>/", api.InsightsView.as_view(), name="api-merchant-insights"),
    path("merchants/<uuid:public_id>/notes/", api.MerchantNotesView.as_view(), name="api-merchant-notes"),
    path(
        "redemptions/<uuid:public_id>/note-invite/",
        api.NoteInviteView.as_view(),
        name="api-redemption-note-invite",
    ),
]
