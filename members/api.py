"""The members API under /api/v1/: the member's own subscription, partner entitlement lookup,
operator refunds and the payment provider's notification endpoint."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.permissions import IsOperator, IsPerson, partner_application, request_person, scoped
from core.api.schema import problem_example
from core.api.views import APIView, ListAPIView
from core.models import User

from . import selectors
from .models import Payment, Plan, Refund, Subscription
from .payments.wechat_signin import payer_of
from .services.agreements import agreement_notification_receive, auto_renew_switch
from .services.checkout import checkout_start, notification_ack, payment_notification_receive
from .services.refunds import subscription_refund
from .services.subscriptions import (
    subscription_cancel,
    subscription_cancel_undo,
    trial_start,
)


class PlanSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)

    class Meta:
        model = Plan
        fields = ["code", "name", "price_fen", "currency", "duration_days", "is_trial"]


class SubscriptionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    plan = PlanSerializer(read_only=True)

    class Meta:
        model = Subscription
        fields = ["id", "plan", "state", "period_start", "period_end", "auto_renew", "savings_fen", "created_at"]


class PaymentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Payment
        fields = ["id", "kind", "amount_fen", "currency", "state", "refunded_fen", "created_at", "paid_at"]


class RefundSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    payment = serializers.UUIDField(source="payment.public_id", read_only=True)

    class Meta:
        model = Refund
        fields = ["id", "payment", "kind", "amount_fen", "currency", "state", "reason", "created_at", "settled_at"]


class EntitlementSerializer(serializers.Serializer):
    entitled = serializers.BooleanField()
    code = serializers.CharField(allow_null=True)
    state = serializers.CharField(allow_null=True)
    period_end = serializers.DateTimeField(allow_null=True)


class GuaranteeSerializer(serializers.Serializer):
    """The savings guarantee of the paid year in force (省不回年费，退差价)."""

    state = serializers.ChoiceField(choices=["covered", "on_track", "below"])
    fee_fen = serializers.IntegerField()
    projected_fen = serializers.IntegerField(help_text="Savings projected to the year's end at the pace so far.")
    due_now_fen = serializers.IntegerField(help_text="What would come back if the year ended now.")
    expected_fen = serializers.IntegerField(help_text="What comes back at the year's end at this pace.")
    year_end = serializers.DateTimeField()


class SavingsSerializer(serializers.Serializer):
    saved_fen = serializers.IntegerField()
    fee_fen = serializers.IntegerField()
    currency = serializers.CharField()
    guarantee = GuaranteeSerializer(allow_null=True, help_text="None without a guarantee (plan, trial, refund).")


class MySubscriptionSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer(allow_null=True)
    entitlement = EntitlementSerializer()
    savings = SavingsSerializer()
    payments = PaymentSerializer(many=True)
    refunds = RefundSerializer(many=True)


def my_subscription_data(user: User) -> dict[str, Any]:
    return MySubscriptionSerializer(
        {
            "subscription": selectors.current_subscription(user=user),
            "entitlement": selectors.entitlement(user=user),
            "savings": selectors.member_savings(user=user),
            "payments": list(selectors.member_payments(user=user)[:50]),
            "refunds": list(selectors.member_refunds(user=user)[:50]),
        }
    ).data


ACTIVE_EXAMPLE = OpenApiExample(
    "active card",
    value={
        "subscription": selectors.schema_example_subscription(),
        "entitlement": {"entitled": True, "code": None, "state": "active", "period_end": "2027-01-05T02:00:00Z"},
        "savings": {"saved_fen": 21240, "fee_fen": 16800, "currency": "CNY"},
        "payments": [],
        "refunds": [],
    },
    response_only=True,
)


class PlanListView(ListAPIView):
    """Plans on sale."""

    permission_classes = [AllowAny]
    serializer_class = PlanSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Plan]:
        return selectors.plans_on_sale()


class MySubscriptionView(APIView):
    """The signed-in member's card: subscription, entitlement, savings meter, payments and refunds."""

    permission_classes = [IsPerson]

    @extend_schema(responses=MySubscriptionSerializer, examples=[ACTIVE_EXAMPLE])
    def get(self, request: Request) -> Response:
        return Response(my_subscription_data(request_person(request)))


class CheckoutInput(serializers.Serializer):
    plan = serializers.SlugField(help_text="Plan code, e.g. `annual`.")


class CheckoutOutput(serializers.Serializer):
    subscription = serializers.UUIDField()
    payment = serializers.UUIDField()
    amount_fen = serializers.IntegerField()
    currency = serializers.CharField()
    checkout_url = serializers.CharField(help_text="The provider's hosted checkout page; send the payer there.")


class CheckoutView(APIView):
    """Start paying for a card: returns the hosted checkout page of the payment provider."""

    permission_classes = [IsPerson]

    @extend_schema(
        request=CheckoutInput,
        responses={201: CheckoutOutput, 404: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample("annual", value={"plan": "annual"}, request_only=True),
            OpenApiExample(
                "checkout",
                value={
                    "subscription": "6f1c1d8e-3b4a-4a59-9d62-5b4f1f0b2a11",
                    "payment": "0b8f3c55-1f0e-4f4f-8f43-6a2d2d3f1c90",
                    "amount_fen": 16800,
                    "currency": "CNY",
                    "checkout_url": "/membership/sandbox/checkout/2c5e.../",
                },
                response_only=True,
                status_codes=["201"],
            ),
            problem_example("subscription_already_current", 409, "You already have a current RedCard."),
            problem_example("sales_closed", 409, "RedCard is not selling new cards at the moment."),
            problem_example("plan_unavailable", 404, "This plan is not available."),
        ],
    )
    def post(self, request: Request) -> Response:
        data = CheckoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        payer = payer_of(request)
        payment = checkout_start(
            user=request_person(request),
            plan_code=data.validated_data["plan"],
            channel=payer.channel,
            client_ip=payer.client_ip,
            openid=payer.openid,
        )
        body = {
            "subscription": payment.subscription.public_id,
            "payment": payment.public_id,
            "amount_fen": payment.amount_fen,
            "currency": payment.currency,
            "checkout_url": request.build_absolute_uri(payment.checkout_url),
        }
        return Response(CheckoutOutput(body).data, status=status.HTTP_201_CREATED)


class TrialView(APIView):
    """Start the free 90-day trial (once per person)."""

    permission_classes = [IsPerson]

    @extend_schema(
        request=None,
        responses={201: SubscriptionSerializer, 409: OpenApiTypes.OBJECT},
        examples=[problem_example("trial_already_used", 409, "The free trial can be taken only once per person.")],
    )
    def post(self, request: Request) -> Response:
        subscription = trial_start(user=request_person(request))
        return Response(SubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED)


class CancelView(APIView):
    """Cancel at period end: the card keeps working until then and does not renew."""

    permission_classes = [IsPerson]

    @extend_schema(
        request=None,
        responses={200: SubscriptionSerializer, 403: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
        examples=[
            problem_example(
                "invalid_transition", 409, "Cannot change subscription from “trialing” to “cancel_at_period_end”."
            ),
            problem_example("membership_inactive", 403, "You do not have an active RedCard membership."),
        ],
    )
    def post(self, request: Request) -> Response:
        return Response(SubscriptionSerializer(subscription_cancel(user=request_person(request))).data)


class UndoCancelView(APIView):
    """Undo a cancellation before the period ends."""

    permission_classes = [IsPerson]

    @extend_schema(
        request=None,
        responses={200: SubscriptionSerializer, 409: OpenApiTypes.OBJECT},
        examples=[problem_example("invalid_transition", 409, "Cannot change subscription from “active” to “active”.")],
    )
    def post(self, request: Request) -> Response:
        return Response(SubscriptionSerializer(subscription_cancel_undo(user=request_person(request))).data)


class AutoRenewInput(serializers.Serializer):
    auto_renew = serializers.BooleanField()


class AutoRenewView(APIView):
    """Switch auto-renew on or off; off also ends the member's recurring agreement at the gateway (Alipay 周期扣款,
    WeChat Pay 委托代扣)."""

    permission_classes = [IsPerson]

    @extend_schema(
        request=AutoRenewInput,
        responses={200: SubscriptionSerializer, 409: OpenApiTypes.OBJECT},
        examples=[problem_example("subscription_not_paid", 409, "This subscription has no paid, unrefunded payment.")],
    )
    def post(self, request: Request) -> Response:
        data = AutoRenewInput(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = auto_renew_switch(user=request_person(request), auto_renew=data.validated_data["auto_renew"])
        return Response(SubscriptionSerializer(subscription).data)


class PartnerEntitlementView(APIView):
    """May this member redeem right now? (partner apps with scope ``members:read``)."""

    permission_classes = [scoped("members:read")]

    @extend_schema(
        responses={200: EntitlementSerializer, 404: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "entitled",
                value={"entitled": True, "code": None, "state": "active", "period_end": "2027-01-05T02:00:00Z"},
                response_only=True,
            ),
            OpenApiExample(
                "not entitled",
                value={"entitled": False, "code": "membership_inactive", "state": "expired", "period_end": None},
                response_only=True,
            ),
            problem_example("not_found", 404, "Not found."),
        ],
    )
    def get(self, request: Request, member_id: str) -> Response:
        member = get_object_or_404(User, public_id=member_id, is_active=True)
        return Response(EntitlementSerializer(selectors.entitlement(user=member)).data)


class RefundInput(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Refund.Kind.choices)
    reason = serializers.CharField(max_length=2000)
    amount_fen = serializers.IntegerField(
        required=False, min_value=1, help_text="Refund exactly this much instead of the full or prorated amount."
    )


class RefundView(APIView):
    """Refund a subscription and end it (operators, or partner tokens with ``members:refund``).
    Send an ``Idempotency-Key``: a retry returns the first refund."""

    permission_classes = [scoped("members:refund") | IsOperator]

    @extend_schema(
        request=RefundInput,
        responses={201: RefundSerializer(many=True), 404: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample("prorated", value={"mode": "prorated", "reason": "moved abroad"}, request_only=True),
            problem_example("subscription_already_refunded", 409, "This subscription has already been refunded."),
            problem_example("refund_exceeds_paid", 409, "The refund would exceed what was paid."),
            problem_example("subscription_not_paid", 409, "This subscription has no paid, unrefunded payment."),
        ],
    )
    def post(self, request: Request, subscription_id: str) -> Response:
        data = RefundInput(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = get_object_or_404(Subscription, public_id=subscription_id)
        application = partner_application(request)
        actor: Any = f"partner:{application.name}" if application is not None else request_person(request)
        refunds = subscription_refund(
            subscription_id=subscription.pk,
            mode=data.validated_data["mode"],
            reason=data.validated_data["reason"],
            amount_fen=data.validated_data.get("amount_fen"),
            actor=actor,
            request_key=request.headers.get("Idempotency-Key"),
        )
        return Response(RefundSerializer(refunds, many=True).data, status=status.HTTP_201_CREATED)


class PaymentNotifyView(APIView):
    """Asynchronous payment notifications from the provider (signed; see the sandbox's headers).
    Answers 200 ``{"code": "SUCCESS"}`` once processed (also for duplicates), or the word the gateway
    expects (Alipay: the text ``success``), else problem+json."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={
            200: inline_serializer("NotifyAck", {"code": serializers.CharField(), "outcome": serializers.CharField()}),
            401: OpenApiResponse(description="signature invalid or stale"),
            404: OpenApiResponse(description="unknown payment"),
            409: OpenApiResponse(description="amount mismatch (flagged)"),
        },
        examples=[
            OpenApiExample(
                "sandbox notification",
                value={
                    "id": "5b0d...",
                    "event_type": "TRANSACTION.SUCCESS",
                    "create_time": "2026-01-05T02:00:00+00:00",
                    "resource": {
                        "out_trade_no": "0b8f3c55-1f0e-4f4f-8f43-6a2d2d3f1c90",
                        "transaction_id": "SB20260105ab12...",
                        "trade_state": "SUCCESS",
                        "amount": {"total": 16800, "currency": "CNY"},
                        "success_time": "2026-01-05T02:00:00+00:00",
                    },
                },
                request_only=True,
            ),
            OpenApiExample("ack", value={"code": "SUCCESS", "outcome": "activated"}, response_only=True),
            problem_example("notification_signature_invalid", 401, "The notification signature is missing or invalid."),
            problem_example("payment_amount_mismatch", 409, "The amount or currency paid does not match the order."),
            problem_example("payment_unknown", 404, "The notification names a payment we do not know."),
        ],
    )
    def post(self, request: Request, provider: str) -> Response | HttpResponse:
        outcome = payment_notification_receive(provider_code=provider, headers=request.headers, body=request.body)
        return _acknowledged(provider, outcome)


def _acknowledged(provider: str, outcome: str) -> Response | HttpResponse:
    ack = notification_ack(provider_code=provider)
    if ack:  # the gateway reads a word of its own (Alipay: "success")
        return HttpResponse(ack, content_type="text/plain; charset=utf-8")
    return Response({"code": "SUCCESS", "outcome": outcome})


class AgreementNotifyView(APIView):
    """Notices about recurring agreements (Alipay 周期扣款: signed, ended by the member), signed by the
    gateway. Answers as :class:`PaymentNotifyView`; an ended agreement switches the card's auto-renew off."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiResponse(description="taken (the gateway's own word, e.g. `success`)"),
            401: OpenApiResponse(description="signature invalid"),
            404: OpenApiResponse(description="unknown agreement"),
        },
    )
    def post(self, request: Request, provider: str) -> Response | HttpResponse:
        outcome = agreement_notification_receive(provider_code=provider, headers=request.headers, body=request.body)
        return _acknowledged(provider, outcome)
