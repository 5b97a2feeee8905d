"""Pages of the operations overview (included by :mod:`curation.urls` under /curation/, namespace ``curation``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("standing/ops.json", views.ops_json, name="ops_json"),
]
