"""Orders paid through partner platforms (/api/v1/redemptions/partner-orders/), issue 16.

A partner app with the OAuth scope ``consumption:write`` exchanges the one-time code of a member's consent for
the member's token (/api/v1/redemptions/partner-links/token/), then (with the same scope granted on the shop
by its merchant) reports an order a linked member paid through it, and later its refund. See
:mod:`redemptions.counter.services.partner_orders`.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.permissions import partner_application, scoped
from core.api.represent import represent
from core.api.schema import documented
from core.api.views import APIView

from . import selectors
from .api import CONFIRM_EXAMPLE, RedemptionOutput
from .services import partner_orders

CONSUMPTION = scoped(partner_orders.CONSUMPTION_SCOPE)

REPORT_REFUSALS = (
    "partner_member_unknown",
    "partner_order_id_invalid",
    "partner_order_conflict",
    "partner_paid_at_future",
    "partner_paid_at_too_old",
    "partner_discount_invalid",
    "partner_discount_short",
    "partner_not_granted",
    "bill_invalid",
    "bill_below_minimum",
    "membership_inactive",
    "merchant_not_active",
    "merchant_paused",
    "merchant_at_capacity",
    "member_limit_reached",
)


class PartnerLinkCodeInput(serializers.Serializer):
    code = serializers.CharField(max_length=100, help_text="The one-time code the member's consent sent you.")
    redirect_uri = serializers.CharField(max_length=500, help_text="The redirect URI the consent page was given.")


class PartnerLinkTokenOutput(serializers.Serializer):
    member_token = serializers.CharField(help_text="Identifies the member to you alone; keep it secret.")
    link = serializers.UUIDField(source="public_id", help_text="The link's id.")
    linked_at = serializers.DateTimeField()


class PartnerLinkTokenView(APIView):
    """Exchange the one-time code of a member's consent (10 minutes, once) for the member's token."""

    permission_classes = [CONSUMPTION]

    @extend_schema(
        request=PartnerLinkCodeInput,
        **documented(
            {200: PartnerLinkTokenOutput},
            "partner_link_code_invalid",
            extra=(
                OpenApiExample(
                    "linked",
                    value={
                        "member_token": "rcm_3q2…",
                        "link": "5d0c1c52-8d1e-4f61-9a3e-2f1b7c9d4e10",
                        "linked_at": "2026-12-03T09:30:00Z",
                    },
                    response_only=True,
                    status_codes=["200"],
                ),
            ),
        ),
    )
    def post(self, request: Request) -> Response:
        data = PartnerLinkCodeInput(data=request.data)
        data.is_valid(raise_exception=True)
        application = partner_application(request)
        if application is None:
            raise Http404
        token, link = partner_orders.partner_link_exchange(
            application=application, code=data.validated_data["code"], redirect_uri=data.validated_data["redirect_uri"]
        )
        body = {"member_token": token, "public_id": link.public_id, "linked_at": link.linked_at}
        answer = Response(PartnerLinkTokenOutput(body).data)
        answer["Cache-Control"] = "no-store"
        return answer


class PartnerOrderInput(serializers.Serializer):
    member_token = serializers.CharField(max_length=100, help_text="The token RedCard gave when the member linked.")
    merchant = serializers.UUIDField(help_text="The shop's public id.")
    order_id = serializers.CharField(max_length=64, help_text="Your order id: the same order is one redemption.")
    bill_fen = serializers.JSONField(help_text="The bill in fen (a positive integer).")
    discount_fen = serializers.JSONField(help_text="The discount the member got, in fen.")
    paid_at = serializers.DateTimeField(help_text="When the member paid (ISO 8601 with an offset).")


class PartnerRefundInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class PartnerOrderView(APIView):
    """Report an order a linked member paid through your platform at a shop that granted you
    ``consumption:write``: 201 with the redemption; the same order again: 200 with the same redemption."""

    permission_classes = [CONSUMPTION]

    @extend_schema(
        request=PartnerOrderInput,
        **documented(
            {201: RedemptionOutput, 200: RedemptionOutput},
            *REPORT_REFUSALS,
            extra=(
                OpenApiExample(
                    "recorded",
                    value={**CONFIRM_EXAMPLE, "channel": "partner_platform", "staff": None},
                    response_only=True,
                    status_codes=["201"],
                ),
            ),
        ),
    )
    def post(self, request: Request) -> Response:
        data = PartnerOrderInput(data=request.data)
        data.is_valid(raise_exception=True)
        application = partner_application(request)
        merchant = selectors.merchant_by_public_id(public_id=data.validated_data["merchant"])
        if merchant is None or application is None:
            raise Http404
        redemption, created = partner_orders.partner_order_report(
            application=application,
            merchant=merchant,
            member_token=data.validated_data["member_token"],
            order_id=data.validated_data["order_id"],
            bill=data.validated_data["bill_fen"],
            discount=data.validated_data["discount_fen"],
            paid_at=data.validated_data["paid_at"],
        )
        return Response(
            represent(RedemptionOutput, redemption), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class PartnerOrderRefundView(APIView):
    """The order was refunded or cancelled on your platform: its redemption is voided (any time after the
    report; again: 200 with the voided redemption)."""

    permission_classes = [CONSUMPTION]

    @extend_schema(request=PartnerRefundInput, **documented({200: RedemptionOutput}, "partner_order_unknown"))
    def post(self, request: Request, order_id: str) -> Response:
        data = PartnerRefundInput(data=request.data)
        data.is_valid(raise_exception=True)
        application = partner_application(request)
        if application is None:
            raise Http404
        redemption = partner_orders.partner_order_refund(
            application=application, order_id=order_id, reason=data.validated_data.get("reason", "")
        )
        return Response(represent(RedemptionOutput, redemption))
