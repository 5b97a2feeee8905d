"""Member event pages, included by :mod:`members.urls` under /membership/events/ (namespace ``members``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.event_list, name="events"),
    path("mine/", views.mine, name="events_mine"),
    path("organise/", views.organise, name="events_organise"),
    path("organise/<uuid:merchant_id>/new/", views.propose, name="events_propose"),
    path("<uuid:public_id>/", views.event_page, name="event"),
    path("<uuid:public_id>/register/", views.register, name="event_register"),
    path("<uuid:public_id>/cancel/", views.cancel, name="event_cancel"),
    path("<uuid:public_id>/give-back/", views.give_back, name="event_give_back"),
    path("<uuid:public_id>/confirm/", views.confirm, name="event_confirm"),
    path("<uuid:public_id>/resume/", views.resume, name="event_resume"),
    path("<uuid:public_id>/paid/<uuid:payment_id>/", views.paid, name="event_paid"),
    path("<uuid:public_id>/attendance/", views.attendance, name="event_attendance"),
]
