"""API endpoints of the members app, under /api/v1/."""

urlpatterns: list = []
