"""API endpoints of the redemptions app, under /api/v1/ (included by :mod:`redcard.api_urls`)."""

from django.urls import include, path

urlpatterns = [
    path("", include("redemptions.counter.api_urls")),
    path("", include("redemptions.attribution.api_urls")),
]
