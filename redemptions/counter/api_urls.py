"""API endpoints at the counter (codes, prepare/confirm/void, claims, tags), included by :mod:`redemptions.api.urls`."""

from django.urls import path

from . import api, api_partners

urlpatterns = [
    # The confirm first (one per customer at every counter; see redcard/api_urls.py), then the card's status poll.
    path("redemptions/confirm/", api.confirm_view, name="api-redemption-confirm"),
    path("events/<uuid:public_id>/checkin/", api.EventCheckInView.as_view(), name="api-event-checkin"),
    path("redemptions/keys/", api.PublicKeysView.as_view(), name="api-redemption-keys"),
    path("redemptions/card/", api.CardView.as_view(), name="api-redemption-card"),
    path("redemptions/card/status/", api.CardStatusView.as_view(), name="api-redemption-card-status"),
    path("redemptions/counter/", api.CounterStateView.as_view(), name="api-redemption-counter"),
    path("redemptions/offline/", api.OfflineSyncView.as_view(), name="api-redemption-offline"),
    path(
        "redemptions/partner-links/token/", api_partners.PartnerLinkTokenView.as_view(), name="api-partner-link-token"
    ),
    path("redemptions/partner-orders/", api_partners.PartnerOrderView.as_view(), name="api-partner-orders"),
    path(
        "redemptions/partner-orders/<path:order_id>/refund/",
        api_partners.PartnerOrderRefundView.as_view(),
        name="api-partner-order-refund",
    ),
    path("redemptions/prepare/", api.PrepareView.as_view(), name="api-redemption-prepare"),
    path("redemptions/day/", api.MerchantDayView.as_view(), name="api-redemption-day"),
    path("redemptions/mine/", api.MyRedemptionsView.as_view(), name="api-redemption-mine"),
    path("redemptions/<uuid:public_id>/void/", api.VoidView.as_view(), name="api-redemption-void"),
    path("redemptions/tags/", api.TagsView.as_view(), name="api-redemption-tags"),
    path("redemptions/claims/", api.ClaimCreateView.as_view(), name="api-claim-create"),
    path("redemptions/claims/pending/", api.PendingClaimsView.as_view(), name="api-claim-pending"),
    path("redemptions/claims/feed/", api.ClaimFeedView.as_view(), name="api-claim-feed"),
    path("redemptions/claims/<uuid:public_id>/", api.ClaimStatusView.as_view(), name="api-claim-status"),
    path(
        "redemptions/claims/<uuid:public_id>/confirm/",
        api.ClaimDecideView.as_view(action_name="confirm"),
        name="api-claim-confirm",
    ),
    path(
        "redemptions/claims/<uuid:public_id>/reject/",
        api.ClaimDecideView.as_view(action_name="reject"),
        name="api-claim-reject",
    ),
]
