"""Pages of the redemptions app, mounted at /r/ (namespace ``redemptions``), one URL module per domain."""

from django.urls import include, path

app_name = "redemptions"
urlpatterns = [
    path("", include("redemptions.counter.urls")),
    path("", include("redemptions.dashboard.urls")),
]
