"""Pages of intake: the merchant owner's application wizard (included by :mod:`curation.urls` under /curation/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("apply/", views.apply_home, name="apply"),
    path("apply/submit/", views.apply_submit, name="apply_submit"),
    path("apply/withdraw/", views.apply_withdraw, name="apply_withdraw"),
    path("apply/<slug:step>/", views.apply_step, name="apply_step"),
]
