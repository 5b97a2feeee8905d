"""Everything under /api/v1/. Each app contributes its own ``api_urls`` module."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    # The counter first: a URL is matched pattern by pattern, and its confirm is the API's most frequent request
    # (no two apps' patterns overlap, so the order decides nothing else; the schema sorts its paths itself).
    path("", include("redemptions.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("core.api.urls")),
    path("", include("members.api_urls")),
    path("", include("merchants.api_urls")),
    path("", include("curation.api.urls")),
]
