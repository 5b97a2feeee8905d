"""Pages of the merchant dashboard (included by :mod:`redemptions.urls` under /r/, namespace ``redemptions``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("dashboard/", views.dashboard_pick, name="dashboard_pick"),
    path("dashboard/<uuid:merchant_id>/", views.dashboard, name="dashboard"),
    path("dashboard/<uuid:merchant_id>/<str:kind>.csv", views.dashboard_csv, name="dashboard_csv"),
    path("visits/<uuid:redemption_id>/note/", views.note_invite, name="note_invite"),
]
