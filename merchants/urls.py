"""Pages of the merchants app (mounted at /merchants/)."""

from django.urls import path

from . import views

app_name = "merchants"
urlpatterns = [
    path("", views.catalogue_page, name="catalogue"),
    path("m/<uuid:public_id>/", views.merchant_page, name="merchant"),
    path("console/", views.console_home, name="console"),
    path("console/<uuid:public_id>/", views.console_shop, name="console_shop"),
    path("console/<uuid:public_id>/offer/", views.console_offer, name="console_offer"),
    path("console/<uuid:public_id>/capacity/", views.console_capacity, name="console_capacity"),
    path("console/<uuid:public_id>/phone/", views.console_phone, name="console_phone"),
    path("console/<uuid:public_id>/pause/", views.console_pause, name="console_pause"),
    path("console/<uuid:public_id>/offline/", views.console_offline, name="console_offline"),
    path("console/<uuid:public_id>/staff/", views.console_staff, name="console_staff"),
    path("console/<uuid:public_id>/photos/", views.console_photo_add, name="console_photo_add"),
    path(
        "console/<uuid:public_id>/photos/<uuid:photo_id>/remove/",
        views.console_photo_remove,
        name="console_photo_remove",
    ),
    path("photos/<uuid:photo_id>/", views.shop_photo, name="shop_photo"),
    path(
        "console/<uuid:public_id>/staff/<int:staff_id>/remove/",
        views.console_staff_remove,
        name="console_staff_remove",
    ),
]
