"""Pages of the curation app, mounted at /curation/ (namespace ``curation``), one URL module per domain."""

from django.urls import include, path

app_name = "curation"
urlpatterns = [
    path("", include("curation.intake.urls")),
    path("", include("curation.standing.urls")),
    path("", include("curation.ops.urls")),
    path("", include("curation.wanted.urls")),
]
