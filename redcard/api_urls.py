"""Everything under /api/v1/. Each app contributes its own ``api_urls`` module."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("core.api.urls")),
    path("", include("members.api_urls")),
    path("", include("merchants.api_urls")),
    path("", include("redemptions.api.urls")),
    path("", include("curation.api.urls")),
]
