"""Pages of the merchants app."""

app_name = "merchants"
urlpatterns: list = []
