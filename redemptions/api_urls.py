"""API endpoints of the redemptions app, under /api/v1/."""

urlpatterns: list = []
