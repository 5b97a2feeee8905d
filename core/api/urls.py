from django.urls import path

from . import endpoints

urlpatterns = [
    path("me/", endpoints.MeView.as_view(), name="api-me"),
    path("partner/", endpoints.PartnerWhoAmIView.as_view(), name="api-partner"),
    path("notifications/", endpoints.NotificationListView.as_view(), name="api-notifications"),
    path(
        "notifications/<uuid:public_id>/read/",
        endpoints.NotificationReadView.as_view(),
        name="api-notification-read",
    ),
]
