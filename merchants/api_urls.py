"""API endpoints of the merchants app, under /api/v1/."""

from django.urls import path

from . import api

urlpatterns = [
    path("merchants/", api.CatalogueListView.as_view(), name="api-catalogue"),
    path("merchants/<uuid:public_id>/", api.CatalogueDetailView.as_view(), name="api-catalogue-detail"),
    path("cities/", api.CityListView.as_view(), name="api-cities"),
    path("categories/", api.CategoryListView.as_view(), name="api-categories"),
    path("console/merchants/<uuid:public_id>/offer/", api.ConsoleOfferView.as_view(), name="api-console-offer"),
    path(
        "console/merchants/<uuid:public_id>/capacity/", api.ConsoleCapacityView.as_view(), name="api-console-capacity"
    ),
    path("console/merchants/<uuid:public_id>/pause/", api.ConsolePauseView.as_view(), name="api-console-pause"),
    path("console/merchants/<uuid:public_id>/staff/", api.ConsoleStaffView.as_view(), name="api-console-staff"),
    path(
        "console/merchants/<uuid:public_id>/staff/<int:staff_id>/",
        api.ConsoleStaffRemoveView.as_view(),
        name="api-console-staff-remove",
    ),
]
