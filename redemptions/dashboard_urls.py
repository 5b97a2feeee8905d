"""Pages of issue 6 (included by redemptions/urls.py under /r/, namespace ``redemptions``)."""

from django.urls import path

from . import dashboard_views

urlpatterns = [
    path("dashboard/", dashboard_views.dashboard_pick, name="dashboard_pick"),
    path("dashboard/<uuid:merchant_id>/", dashboard_views.dashboard, name="dashboard"),
    path("dashboard/<uuid:merchant_id>/<str:kind>.csv", dashboard_views.dashboard_csv, name="dashboard_csv"),
    path("visits/<uuid:redemption_id>/note/", dashboard_views.note_invite, name="note_invite"),
]
