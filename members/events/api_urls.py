"""Member events under /api/v1/ (included by :mod:`members.api_urls`)."""

from django.urls import path

from . import api

urlpatterns = [
    path("events/", api.EventListView.as_view(), name="api-events"),
    path("events/<uuid:public_id>/", api.EventDetailView.as_view(), name="api-event"),
    path("events/<uuid:public_id>/registrations/", api.RegisterView.as_view(), name="api-event-register"),
    path("events/<uuid:public_id>/capacity/", api.CapacityView.as_view(), name="api-event-capacity"),
    path("events/<uuid:public_id>/attendance/", api.AttendanceView.as_view(), name="api-event-attendance"),
    path("me/event-registrations/", api.MyRegistrationsView.as_view(), name="api-event-registrations-mine"),
    path(
        "me/event-registrations/<uuid:public_id>/cancel/",
        api.CancelRegistrationView.as_view(),
        name="api-event-registration-cancel",
    ),
    path(
        "me/event-registrations/<uuid:public_id>/give-back/",
        api.GiveBackView.as_view(),
        name="api-event-registration-give-back",
    ),
    path(
        "me/event-registrations/<uuid:public_id>/confirm/",
        api.ConfirmOfferView.as_view(),
        name="api-event-registration-confirm",
    ),
]
