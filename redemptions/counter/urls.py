"""Pages at the counter: the member's card and visits, the staff scanner, the QR stand, tap-to-claim.

Included by :mod:`redemptions.urls` under /r/ (namespace ``redemptions``).
"""

from django.urls import path

from . import partner_pages, views

urlpatterns = [
    path("card/", views.card, name="card"),
    path("sw.js", views.service_worker, name="service_worker"),
    path("mine/", views.mine, name="mine"),
    path("partners/", partner_pages.partner_links, name="partners"),
    path("partners/link/<str:client_id>/", partner_pages.partner_link, name="partner_link"),
    path("partners/<uuid:link_id>/unlink/", partner_pages.partner_unlink, name="partner_unlink"),
    path("scan/", views.scanner_pick, name="scanner_pick"),
    path("scan/<uuid:merchant_id>/", views.scanner, name="scanner"),
    path("scan/<uuid:merchant_id>/stand/", views.stand, name="stand"),
    path("m/<uuid:merchant_id>/claim/", views.claim, name="claim"),
    path("claims/<uuid:claim_id>/", views.claim_live, name="claim_live"),
    # The scanner's event mode (member events' check-in at the door).
    path("scan/events/", views.door_pick, name="door_pick"),
    path("scan/events/<uuid:event_id>/", views.door_scan, name="door"),
]
