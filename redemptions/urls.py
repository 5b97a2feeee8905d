"""Pages of the redemptions app (mounted at /r/)."""

from django.urls import path

from . import views

app_name = "redemptions"
urlpatterns = [
    path("card/", views.card, name="card"),
    path("mine/", views.mine, name="mine"),
    path("scan/", views.scanner_pick, name="scanner_pick"),
    path("scan/<uuid:merchant_id>/", views.scanner, name="scanner"),
    path("scan/<uuid:merchant_id>/stand/", views.stand, name="stand"),
    path("m/<uuid:merchant_id>/claim/", views.claim, name="claim"),
    path("claims/<uuid:claim_id>/", views.claim_live, name="claim_live"),
]
urlpatterns += __import__("redemptions.dashboard_urls", fromlist=["urlpatterns"]).urlpatterns  # issue 6
