"""API endpoints of merchant standing (included by :mod:`curation.api.urls` under /api/v1/)."""

from django.urls import path

from . import api

urlpatterns = [
    path("complaints/", api.ComplaintListView.as_view(), name="api-complaints"),
    path("complaints/<uuid:public_id>/", api.ComplaintDetailView.as_view(), name="api-complaint"),
    path(
        "console/merchants/<uuid:public_id>/complaints/",
        api.ShopComplaintListView.as_view(),
        name="api-console-complaints",
    ),
    path(
        "console/merchants/<uuid:public_id>/complaints/<uuid:complaint_id>/answer/",
        api.ShopComplaintAnswerView.as_view(),
        name="api-console-complaint-answer",
    ),
    path(
        "console/merchants/<uuid:public_id>/findings/", api.ShopFindingListView.as_view(), name="api-console-findings"
    ),
    path(
        "console/merchants/<uuid:public_id>/findings/<uuid:finding_id>/appeal/",
        api.ShopFindingAppealView.as_view(),
        name="api-console-finding-appeal",
    ),
]
