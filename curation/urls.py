"""Pages of the curation app."""

app_name = "curation"
urlpatterns: list = []
