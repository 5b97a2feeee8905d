"""Pages of the redemptions app."""

app_name = "redemptions"
urlpatterns: list = []
