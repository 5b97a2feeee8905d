"""API endpoints of the curation app, under /api/v1/ (included by :mod:`redcard.api_urls`)."""

from django.urls import include, path

urlpatterns = [
    path("", include("curation.intake.api_urls")),
    path("", include("curation.standing.api_urls")),
    path("", include("curation.ops.api_urls")),
]
