"""The catalogue and the merchant console through the API (/api/v1/)."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import CursorPagination
from core.api.permissions import IsPerson, partner_application, request_person
from core.api.schema import problem_example
from core.api.views import APIView, ListAPIView, RetrieveAPIView
from core.i18n import localized

from . import services
from .filters import CatalogueFilter, catalogue_search_note
from .models import Category, City, Merchant, MerchantStaff
from .selectors import capacity_status, catalogue, merchant_for_staff, merchant_is_open, today_used


class OfferSerializer(serializers.Serializer):
    rate_bp = serializers.IntegerField()
    percent_off = serializers.CharField()
    cap_fen = serializers.IntegerField(allow_null=True)
    min_bill_fen = serializers.IntegerField(allow_null=True)
    funded_by = serializers.CharField()


class CapacitySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["open", "busy", "full", "paused"])
    used = serializers.IntegerField()
    capacity = serializers.IntegerField()


class CatalogueMerchantSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.SerializerMethodField()
    name_zh = serializers.CharField()
    name_en = serializers.CharField()
    city = serializers.CharField(source="city.code")
    district = serializers.CharField(source="district.code")
    district_name = serializers.SerializerMethodField()
    category = serializers.CharField(source="category.code")
    category_name = serializers.SerializerMethodField()
    price_tier = serializers.IntegerField(source="category.price_tier")
    average_spend_fen = serializers.IntegerField()
    currency = serializers.CharField()
    address = serializers.CharField()
    lat = serializers.FloatField()
    lng = serializers.FloatField()
    distance_km = serializers.SerializerMethodField()
    external_rating = serializers.DecimalField(max_digits=2, decimal_places=1, allow_null=True)
    dine_in = serializers.BooleanField()
    redcard = serializers.SerializerMethodField(help_text="The RedCard badge: the shop takes the card.")
    promoted = serializers.SerializerMethodField(help_text="False while the surge detector holds promotion.")
    open_now = serializers.SerializerMethodField()
    opening_hours = serializers.JSONField()
    offer = OfferSerializer()
    capacity = serializers.SerializerMethodField()
    state = serializers.CharField()

    def get_name(self, obj: Merchant) -> str:
        return obj.name

    def get_district_name(self, obj: Merchant) -> str:
        return localized(obj.district, "name")

    def get_category_name(self, obj: Merchant) -> str:
        return localized(obj.category, "name")

    def get_distance_km(self, obj: Merchant) -> float | None:
        distance = getattr(obj, "distance_km", None)
        return None if distance is None else round(distance, 3)

    def get_redcard(self, obj: Merchant) -> bool:
        return obj.is_visible

    def get_promoted(self, obj: Merchant) -> bool:
        return not obj.promotion_hold

    def get_open_now(self, obj: Merchant) -> bool:
        return merchant_is_open(merchant=obj, at=self.context["now"])

    @extend_schema_field(CapacitySerializer)
    def get_capacity(self, obj: Merchant) -> dict[str, Any]:
        now = self.context["now"]
        status_ = capacity_status(merchant=obj, used=today_used(merchant=obj, at=now), at=now)
        return {"status": status_.code, "used": status_.used, "capacity": status_.capacity}

    def to_representation(self, instance: Merchant) -> dict[str, Any]:
        """The declared fields above document the shape; a catalogue row is built directly because the
        list is the hottest read of the product (field-by-field rendering cost more than the query)."""
        offer = instance.offer
        rating = instance.external_rating
        return {
            "id": str(instance.public_id),
            "name": instance.name,
            "name_zh": instance.name_zh,
            "name_en": instance.name_en,
            "city": instance.city.code,
            "district": instance.district.code,
            "district_name": self.get_district_name(instance),
            "category": instance.category.code,
            "category_name": self.get_category_name(instance),
            "price_tier": instance.category.price_tier,
            "average_spend_fen": instance.average_spend_fen,
            "currency": instance.currency,
            "address": instance.address,
            "lat": instance.lat,
            "lng": instance.lng,
            "distance_km": self.get_distance_km(instance),
            "external_rating": None if rating is None else f"{rating:.1f}",
            "dine_in": instance.dine_in,
            "redcard": self.get_redcard(instance),
            "promoted": self.get_promoted(instance),
            "open_now": self.get_open_now(instance),
            "opening_hours": instance.opening_hours,
            "offer": {
                "rate_bp": offer.rate_bp,
                "percent_off": offer.percent_off,
                "cap_fen": offer.cap_fen,
                "min_bill_fen": offer.min_bill_fen,
                "funded_by": offer.funded_by,
            },
            "capacity": self.get_capacity(instance),
            "state": instance.state,
        }


class CataloguePagination(CursorPagination):
    """Cursor pagination ordered by distance when the request is "near me", else newest first."""

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        if "distance_km" in queryset.query.annotations:
            return ("distance_km", "pk")
        return ("-pk",)


NEAR_PARAMS = [
    OpenApiParameter("lat", OpenApiTypes.DOUBLE, description="Latitude for “near me” (with lng)."),
    OpenApiParameter("lng", OpenApiTypes.DOUBLE, description="Longitude for “near me” (with lat)."),
    OpenApiParameter("radius_km", OpenApiTypes.DOUBLE, description="Search radius, default 5, at most 50."),
]


@extend_schema(tags=["catalogue"], parameters=NEAR_PARAMS)
class CatalogueListView(ListAPIView):
    """Listed and probation merchants, filtered; ordered by distance when lat/lng are given."""

    permission_classes = [AllowAny]
    serializer_class = CatalogueMerchantSerializer
    filterset_class = CatalogueFilter
    pagination_class = CataloguePagination

    def get_queryset(self) -> Any:
        return catalogue()

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        answer = super().list(request, *args, **kwargs)
        if partner_application(request) is None:  # a person's search, not a partner's sync
            first_page = "cursor" not in request.query_params
            catalogue_search_note(user=request.user, params=request.query_params, first_page=first_page)
        return answer


@extend_schema(tags=["catalogue"])
class CatalogueDetailView(RetrieveAPIView):
    permission_classes = [AllowAny]
    serializer_class = CatalogueMerchantSerializer
    lookup_field = "public_id"

    def get_queryset(self) -> Any:
        return catalogue()

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}


class DistrictSerializer(serializers.Serializer):
    code = serializers.CharField()
    name_zh = serializers.CharField()
    name_en = serializers.CharField()


class CitySerializer(serializers.ModelSerializer):
    districts = DistrictSerializer(many=True)

    class Meta:
        model = City
        fields = ["code", "name_zh", "name_en", "timezone", "center_lat", "center_lng", "radius_km", "districts"]


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["code", "name_zh", "name_en", "is_food", "spend_min_fen", "spend_max_fen", "price_tier"]


@extend_schema(tags=["catalogue"])
class CityListView(ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = CitySerializer
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self) -> Any:
        return City.objects.filter(is_active=True).prefetch_related("districts").order_by("code")


@extend_schema(tags=["catalogue"])
class CategoryListView(ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = CategorySerializer
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self) -> Any:
        return Category.objects.order_by("price_tier", "code")


# --- Merchant console -----------------------------------------------------------------------------------


class ConsoleAPIView(APIView):
    permission_classes = [IsPerson]

    def merchant_and_role(self, request: Request, public_id: Any) -> tuple[Merchant, MerchantStaff]:
        found = merchant_for_staff(user=request_person(request), public_id=public_id)
        if found is None:
            raise Http404  # never say whether the shop exists
        return found


class OfferInSerializer(serializers.Serializer):
    rate_bp = serializers.IntegerField(min_value=0, max_value=10000)
    cap_fen = serializers.IntegerField(required=False, allow_null=True)
    min_bill_fen = serializers.IntegerField(required=False, allow_null=True)


class OfferChangeOutSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    state = serializers.CharField()
    rate_bp = serializers.IntegerField()
    cap_fen = serializers.IntegerField(allow_null=True)
    min_bill_fen = serializers.IntegerField(allow_null=True)


@extend_schema(
    tags=["merchant console"],
    request=OfferInSerializer,
    responses={200: OfferChangeOutSerializer},
    examples=[
        problem_example("staff_not_owner"),
        problem_example("offer_change_pending"),
    ],
    description="Raising the offer applies at once (state `applied`); lowering it waits for a curator (`pending`).",
)
class ConsoleOfferView(ConsoleAPIView):
    def post(self, request: Request, public_id: Any) -> Response:
        merchant, _role = self.merchant_and_role(request, public_id)
        data = OfferInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        change = services.offer_change_request(
            merchant=merchant,
            actor=request_person(request),
            rate_bp=data.validated_data["rate_bp"],
            cap_fen=data.validated_data.get("cap_fen"),
            min_bill_fen=data.validated_data.get("min_bill_fen"),
        )
        return Response(OfferChangeOutSerializer(change).data)


class CapacityInSerializer(serializers.Serializer):
    daily_capacity = serializers.IntegerField()


@extend_schema(
    tags=["merchant console"],
    request=CapacityInSerializer,
    responses={200: CapacityInSerializer},
    examples=[problem_example("staff_not_owner")],
)
class ConsoleCapacityView(ConsoleAPIView):
    def post(self, request: Request, public_id: Any) -> Response:
        merchant, _role = self.merchant_and_role(request, public_id)
        data = CapacityInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.merchant_capacity_set(
            merchant=merchant, actor=request_person(request), daily_capacity=data.validated_data["daily_capacity"]
        )
        return Response({"daily_capacity": merchant.daily_capacity})


class PauseInSerializer(serializers.Serializer):
    paused = serializers.BooleanField()


@extend_schema(tags=["merchant console"], request=PauseInSerializer, responses={200: OpenApiTypes.OBJECT})
class ConsolePauseView(ConsoleAPIView):
    """Pause RedCard for the rest of today (the shop's local day), or resume it."""

    def post(self, request: Request, public_id: Any) -> Response:
        merchant, _role = self.merchant_and_role(request, public_id)
        data = PauseInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.merchant_pause_today(
            merchant=merchant, actor=request_person(request), paused=data.validated_data["paused"]
        )
        return Response({"paused_on": merchant.paused_on})


class StaffOutSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.display_name")
    role = serializers.CharField()


class StaffInSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    role = serializers.ChoiceField(choices=MerchantStaff.Role.choices, default=MerchantStaff.Role.STAFF)


@extend_schema(tags=["merchant console"])
class ConsoleStaffView(ConsoleAPIView):
    @extend_schema(responses={200: StaffOutSerializer(many=True)})
    def get(self, request: Request, public_id: Any) -> Response:
        merchant, _role = self.merchant_and_role(request, public_id)
        rows = MerchantStaff.objects.filter(merchant=merchant).select_related("user").order_by("role", "pk")
        return Response(StaffOutSerializer(rows, many=True).data)

    @extend_schema(
        request=StaffInSerializer,
        responses={201: StaffOutSerializer},
        examples=[
            problem_example("staff_not_owner"),
            problem_example("staff_already_member"),
        ],
    )
    def post(self, request: Request, public_id: Any) -> Response:
        merchant, _role = self.merchant_and_role(request, public_id)
        data = StaffInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        staff = services.staff_invite(
            merchant=merchant,
            actor=request_person(request),
            email=data.validated_data["email"],
            role=data.validated_data["role"],
        )
        return Response(StaffOutSerializer(staff).data, status=status.HTTP_201_CREATED)


@extend_schema(
    tags=["merchant console"],
    responses={204: None},
    examples=[problem_example("staff_last_owner")],
)
class ConsoleStaffRemoveView(ConsoleAPIView):
    def delete(self, request: Request, public_id: Any, staff_id: int) -> Response:
        merchant, _role = self.merchant_and_role(request, public_id)
        staff = MerchantStaff.objects.filter(merchant=merchant, pk=staff_id).select_related("user", "merchant").first()
        if staff is None:
            raise Http404
        services.staff_remove(staff=staff, actor=request_person(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
