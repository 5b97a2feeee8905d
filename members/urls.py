"""Pages of the members app (mounted at /membership/)."""

from django.urls import include, path

from . import views

app_name = "members"
urlpatterns = [
    path("", views.membership, name="membership"),
    path("join/", views.join, name="join"),
    path("join/continue/", views.join_continue, name="join_continue"),
    path("join/return/<uuid:payment_id>/", views.join_return, name="join_return"),
    path("receipt/<uuid:payment_id>/", views.receipt, name="receipt"),
    path("renew/", views.renew, name="renew"),
    path("renew/continue/", views.renew_continue, name="renew_continue"),
    path("wechat/signin/return/", views.wechat_signin_return, name="wechat_signin_return"),
    path("agreement/", views.agreement_sign, name="agreement_sign"),
    path("cancel/", views.cancel, name="cancel"),
    path("undo-cancel/", views.undo_cancel, name="undo_cancel"),
    path("auto-renew/", views.auto_renew, name="auto_renew"),
    path("sandbox/checkout/<uuid:order_id>/", views.sandbox_checkout, name="sandbox_checkout"),
    path("wechatpay/checkout/<uuid:order_id>/", views.wechatpay_checkout, name="wechatpay_checkout"),
    path("events/", include("members.events.urls")),  # member events (专属活动)
]
