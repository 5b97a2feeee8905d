"""API endpoints of the members app, under /api/v1/."""

from django.urls import include, path

from . import api

urlpatterns = [
    path("plans/", api.PlanListView.as_view(), name="api-members-plans"),
    path("me/subscription/", api.MySubscriptionView.as_view(), name="api-members-me"),
    path("me/subscription/checkout/", api.CheckoutView.as_view(), name="api-members-checkout"),
    path("me/subscription/trial/", api.TrialView.as_view(), name="api-members-trial"),
    path("me/subscription/cancel/", api.CancelView.as_view(), name="api-members-cancel"),
    path("me/subscription/undo-cancel/", api.UndoCancelView.as_view(), name="api-members-undo-cancel"),
    path("me/subscription/auto-renew/", api.AutoRenewView.as_view(), name="api-members-auto-renew"),
    path(
        "members/<uuid:member_id>/entitlement/",
        api.PartnerEntitlementView.as_view(),
        name="api-members-entitlement",
    ),
    path("subscriptions/<uuid:subscription_id>/refund/", api.RefundView.as_view(), name="api-members-refund"),
    path("payments/notify/<slug:provider>/", api.PaymentNotifyView.as_view(), name="api-members-payment-notify"),
    path(
        "payments/agreements/notify/<slug:provider>/",
        api.AgreementNotifyView.as_view(),
        name="api-members-agreement-notify",
    ),
    path("", include("members.events.api_urls")),  # member events
]
