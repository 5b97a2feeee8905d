"""Pages of the curation app (mounted at /curation/): the merchant owner's application wizard."""

from django.urls import path

from . import views

app_name = "curation"
urlpatterns = [
    path("apply/", views.apply_home, name="apply"),
    path("apply/submit/", views.apply_submit, name="apply_submit"),
    path("apply/withdraw/", views.apply_withdraw, name="apply_withdraw"),
    path("apply/<slug:step>/", views.apply_step, name="apply_step"),
]

from .standing_views import urlpatterns as standing_urlpatterns  # noqa: E402  (issue 7: complaints, findings)

urlpatterns += standing_urlpatterns
