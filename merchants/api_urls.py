"""API endpoints of the merchants app, under /api/v1/."""

urlpatterns: list = []
