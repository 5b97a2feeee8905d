"""API endpoints of the curation app, under /api/v1/."""

urlpatterns: list = []
