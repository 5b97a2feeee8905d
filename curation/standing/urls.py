"""Pages of merchant standing (included by :mod:`curation.urls` under /curation/, namespace ``curation``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("standing/complaints/new/", views.complaint_new, name="complaint_new"),
    path("standing/complaints/", views.complaint_list, name="complaint_list"),
    path("standing/complaints/<uuid:public_id>/", views.complaint_detail, name="complaint_detail"),
    path("standing/complaints/<uuid:public_id>/photo/", views.complaint_photo, name="complaint_photo"),
    path("standing/shop/<uuid:public_id>/", views.shop_standing, name="shop_standing"),
    path(
        "standing/shop/<uuid:public_id>/complaints/<uuid:complaint_id>/answer/", views.shop_answer, name="shop_answer"
    ),
    path("standing/shop/<uuid:public_id>/findings/<uuid:finding_id>/appeal/", views.shop_appeal, name="shop_appeal"),
]
