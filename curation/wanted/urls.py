"""Pages of the shops members ask for (included by :mod:`curation.urls`)."""

from django.urls import path

from . import views

urlpatterns = [path("wanted/", views.wanted_mine, name="wanted")]
