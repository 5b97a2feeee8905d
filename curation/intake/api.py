"""Merchant applications through the API (/api/v1/applications/): the owner's drafts, submit, withdraw."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.permissions import IsPerson, request_person
from core.api.schema import problem_example
from core.api.views import APIView, ListAPIView
from curation.models import Application
from merchants.models import Category, City, District

from . import selectors, services


class RuleResultSerializer(serializers.Serializer):
    kind = serializers.CharField()
    rule_version = serializers.IntegerField()
    outcome = serializers.CharField()
    evidence = serializers.JSONField()


class ApplicationOutSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    city: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="code", read_only=True)
    district: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="code", read_only=True)
    category: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="code", read_only=True)
    merchant: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="public_id", read_only=True)
    rules = RuleResultSerializer(source="rule_results", many=True, read_only=True)
    message = serializers.SerializerMethodField()

    class Meta:
        model = Application
        fields = [
            "id",
            "state",
            *services.EDITABLE_FIELDS,
            "submitted_at",
            "decided_at",
            "merchant",
            "rules",
            "message",
        ]

    def get_message(self, obj: Application) -> str:
        return selectors.latest_message(application=obj)


class ApplicationInSerializer(serializers.Serializer):
    """Every field is optional: a draft is saved as far as it goes; values given must be valid."""

    legal_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    name_zh = serializers.CharField(max_length=80, required=False, allow_blank=True)
    name_en = serializers.CharField(max_length=120, required=False, allow_blank=True)
    uscc = serializers.CharField(max_length=40, required=False, allow_blank=True)
    food_licence = serializers.CharField(max_length=40, required=False, allow_blank=True)
    category = serializers.SlugRelatedField(
        slug_field="code", queryset=Category.objects.all(), required=False, allow_null=True
    )
    city = serializers.SlugRelatedField(
        slug_field="code", queryset=City.objects.filter(is_active=True), required=False, allow_null=True
    )
    district = serializers.CharField(required=False, allow_null=True, help_text="District code within the city.")
    address = serializers.CharField(max_length=200, required=False, allow_blank=True)
    lat = serializers.FloatField(required=False, allow_null=True)
    lng = serializers.FloatField(required=False, allow_null=True)
    average_spend_fen = serializers.IntegerField(required=False, allow_null=True)
    external_rating = serializers.DecimalField(max_digits=3, decimal_places=1, required=False, allow_null=True)
    opening_hours = serializers.JSONField(
        required=False, help_text='{"mon": ["09:00-21:00"], "sat": ["10:00-02:00"]} or the text form.'
    )
    dine_in = serializers.BooleanField(required=False)
    offer_rate_bp = serializers.IntegerField(
        required=False, allow_null=True, help_text="1000 = 10% off; at least 1000."
    )
    offer_cap_fen = serializers.IntegerField(required=False, allow_null=True)
    offer_min_bill_fen = serializers.IntegerField(required=False, allow_null=True)
    daily_capacity = serializers.IntegerField(required=False, allow_null=True)
    contact_name = serializers.CharField(max_length=60, required=False, allow_blank=True)
    contact_phone = serializers.CharField(max_length=20, required=False, allow_blank=True)
    contact_email = serializers.EmailField(required=False, allow_blank=True)
    links = serializers.CharField(required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        code = attrs.get("district")
        if code:
            city = attrs.get("city") or getattr(self.context.get("application"), "city", None)
            district = District.objects.filter(city=city, code=code).first() if city else None
            if district is None:
                raise serializers.ValidationError(
                    {
                        "district": serializers.ErrorDetail(
                            "This district is not in the chosen city.", "district_not_in_city"
                        )
                    }
                )
            attrs["district"] = district
        return attrs


def _own(request: Request, public_id: Any) -> Application:
    app = Application.objects.filter(public_id=public_id, owner=request_person(request)).first()
    if app is None:
        raise Http404
    return app


def _out(app: Application) -> dict[str, Any]:
    fresh = Application.objects.select_related("city", "district", "category", "merchant").get(pk=app.pk)
    return ApplicationOutSerializer(fresh).data


READ_ONLY = problem_example("application_read_only")


@extend_schema(tags=["applications"])
class ApplicationListView(ListAPIView):
    """The signed-in owner's applications (newest first); POST starts a draft."""

    permission_classes = [IsPerson]
    serializer_class = ApplicationOutSerializer
    filter_backends: list = []

    def get_queryset(self) -> Any:
        return (
            Application.objects.filter(owner=request_person(self.request))
            .select_related("city", "district", "category", "merchant")
            .prefetch_related("rule_results", "decisions")
        )

    @extend_schema(
        request=ApplicationInSerializer,
        responses={201: ApplicationOutSerializer},
        examples=[
            problem_example("application_already_open"),
            problem_example("validation_failed"),
        ],
    )
    def post(self, request: Request) -> Response:
        data = ApplicationInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        app = services.application_save(owner=request_person(request), data=data.validated_data)
        return Response(_out(app), status=status.HTTP_201_CREATED)


@extend_schema(tags=["applications"])
class ApplicationDetailView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(responses={200: ApplicationOutSerializer})
    def get(self, request: Request, public_id: Any) -> Response:
        return Response(_out(_own(request, public_id)))

    @extend_schema(request=ApplicationInSerializer, responses={200: ApplicationOutSerializer}, examples=[READ_ONLY])
    def patch(self, request: Request, public_id: Any) -> Response:
        app = _own(request, public_id)
        data = ApplicationInSerializer(data=request.data, context={"application": app})
        data.is_valid(raise_exception=True)
        app = services.application_save(owner=request_person(request), application=app, data=data.validated_data)
        return Response(_out(app))


@extend_schema(
    tags=["applications"],
    request=None,
    responses={200: ApplicationOutSerializer},
    examples=[
        problem_example("application_incomplete"),
        problem_example("licence_duplicate"),
        problem_example("invalid_transition"),
    ],
)
class ApplicationSubmitView(APIView):
    permission_classes = [IsPerson]

    def post(self, request: Request, public_id: Any) -> Response:
        app = services.application_submit(application=_own(request, public_id), actor=request_person(request))
        return Response(_out(app))


@extend_schema(
    tags=["applications"],
    request=None,
    responses={200: ApplicationOutSerializer},
    examples=[problem_example("invalid_transition")],
)
class ApplicationWithdrawView(APIView):
    permission_classes = [IsPerson]

    def post(self, request: Request, public_id: Any) -> Response:
        app = services.application_withdraw(application=_own(request, public_id), actor=request_person(request))
        return Response(_out(app))
