"""Member events in the API (/api/v1/events/...).

Anyone reads published events; a signed-in person registers, confirms an offered place, cancels and
reads their registrations (with the waitlist number); organisers' tools (partner apps with the scope
``events:write``, granted on the organising or hosting shop) and the shop's staff read the counts,
the attendance list and the waitlist. Check-in with a member code is in ``redemptions`` (the code is
verified there); refusals are problem+json with a stable ``code``.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.permissions import IsPerson, partner_application, request_person, scoped
from core.api.schema import documented
from core.api.views import APIView, ListAPIView
from core.errors import DomainError
from merchants.selectors import catalogue_merchant, staff_membership

from ..models import Event, EventRegistration
from ..payments.wechat_signin import payer_of
from . import selectors, services

PARTNER = scoped(services.PARTNER_SCOPE)


class EventOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    city = serializers.CharField(source="city.code", read_only=True)
    venue = serializers.UUIDField(source="venue.public_id", read_only=True, allow_null=True, default=None)
    organiser = serializers.UUIDField(source="organiser.public_id", read_only=True, allow_null=True, default=None)
    places_left = serializers.SerializerMethodField()
    starts_local = serializers.SerializerMethodField()
    timezone = serializers.CharField(source="city.timezone", read_only=True)

    class Meta:
        model = Event
        fields = [
            "id",
            "title",
            "description",
            "state",
            "city",
            "timezone",
            "venue",
            "organiser",
            "address",
            "lat",
            "lng",
            "starts_at",
            "ends_at",
            "starts_local",
            "capacity",
            "places_left",
            "price_fen",
            "member_price_fen",
            "currency",
            "members_open_at",
            "public_open_at",
            "max_guests",
            "cancel_cutoff_hours",
            "offer_hours",
        ]

    def get_places_left(self, event: Event) -> int:
        return max(0, event.capacity - event.places_taken)

    def get_starts_local(self, event: Event) -> str:
        return services.local_text(event, event.starts_at)


class RegistrationOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    event = serializers.UUIDField(source="event.public_id", read_only=True)
    checked_in_at = serializers.SerializerMethodField()
    checkout_url = serializers.SerializerMethodField(help_text="The provider's payment page while a paid place waits.")

    class Meta:
        model = EventRegistration
        fields = [
            "id",
            "event",
            "state",
            "places",
            "as_member",
            "price_fen",
            "waitlist_position",
            "offer_expires_at",
            "created_at",
            "confirmed_at",
            "ended_at",
            "end_reason",
            "no_show",
            "checked_in_at",
            "checkout_url",
        ]

    def get_checkout_url(self, registration: EventRegistration) -> str | None:
        if registration.state != EventRegistration.State.PENDING_PAYMENT:
            return None
        payment = registration.payments.filter(state="pending").order_by("-pk").first()
        return payment.checkout_url if payment is not None else None

    def get_checked_in_at(self, registration: EventRegistration) -> Any:
        checkin = getattr(registration, "checkin", None)
        return checkin.at if checkin is not None else None


class AttendeeOutput(RegistrationOutput):
    member = serializers.UUIDField(source="user.public_id", read_only=True)
    name = serializers.CharField(source="user.masked_name", read_only=True)

    class Meta(RegistrationOutput.Meta):
        fields = [*RegistrationOutput.Meta.fields, "member", "name"]


class RegisterInput(serializers.Serializer):
    guests = serializers.IntegerField(min_value=0, max_value=1, default=0)


def merchant_for_event(*, public_id: Any) -> Any:
    shop = catalogue_merchant(public_id=public_id)
    if shop is None:
        raise Http404
    return shop


def staff_is_owner(*, user: Any, merchant: Any) -> bool:
    role = staff_membership(user=user, merchant=merchant)
    return role is not None and role.is_owner


def _event(public_id: Any) -> Event:
    event = selectors.event_by_public_id(public_id=public_id)
    if event is None:
        raise Http404
    return event


class EventProposalInput(serializers.Serializer):
    merchant = serializers.UUIDField(help_text="The shop where it takes place (the organiser).")
    title = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    capacity = serializers.IntegerField(min_value=1, max_value=10000)
    members_open_at = serializers.DateTimeField()
    public_open_at = serializers.DateTimeField()
    price_fen = serializers.IntegerField(min_value=0, default=0)
    member_price_fen = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None)
    max_guests = serializers.IntegerField(min_value=0, max_value=1, default=0)
    cancel_cutoff_hours = serializers.IntegerField(min_value=0, max_value=720, default=24)
    offer_hours = serializers.IntegerField(min_value=1, max_value=168, default=12)


class EventListView(ListAPIView):
    """Published events that have not ended, soonest first (``?city=shanghai``). Organisers' tools
    (``events:write`` granted on the shop) and the shop's owner propose an event with POST; a
    curator reviews it before it is listed."""

    permission_classes = [AllowAny]
    serializer_class = EventOutput

    def get_permissions(self) -> Any:
        if self.request.method == "POST":
            return [(IsPerson | PARTNER)()]
        return super().get_permissions()

    @extend_schema(
        request=EventProposalInput,
        **documented({201: EventOutput}, "event_invalid", "event_door_not_authorized"),
    )
    def post(self, request: Request) -> Response:
        data = EventProposalInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        shop = merchant_for_event(public_id=values.pop("merchant"))
        partner = partner_application(request)
        organiser = (
            services.may_manage(event=Event(organiser=shop, venue=shop), partner=partner)
            if partner is not None
            else staff_is_owner(user=request.user, merchant=shop)
        )
        if not organiser:
            raise DomainError("event_door_not_authorized")
        event = services.event_create(
            data=services.EventInput(
                city_id=shop.city_id, lat=shop.lat, lng=shop.lng, address=shop.address, venue_id=shop.pk, **values
            ),
            actor=f"partner:{partner.client_id}" if partner is not None else request_person(request),
            organiser_id=shop.pk,
        )
        return Response(
            EventOutput(selectors.event_by_public_id(public_id=event.public_id, published_only=False)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(parameters=[OpenApiParameter("city", str, description="city code")])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        queryset = selectors.upcoming_events(at=timezone.now())
        city = self.request.query_params.get("city")
        return queryset.filter(city__code=city) if city else queryset


class EventDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: EventOutput})
    def get(self, request: Request, public_id: Any) -> Response:
        return Response(EventOutput(_event(public_id)).data)


class RegisterView(APIView):
    """Register the signed-in person: a place while places are free, else the waitlist."""

    permission_classes = [IsPerson]

    @extend_schema(
        request=RegisterInput,
        **documented(
            {201: RegistrationOutput},
            "event_not_published",
            "event_cancelled",
            "event_started",
            "event_not_open_yet",
            "event_guests_not_allowed",
            "event_already_registered",
        ),
    )
    def post(self, request: Request, public_id: Any) -> Response:
        data = RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        registration = services.registration_create(
            event=_event(public_id),
            user=request_person(request),
            guests=data.validated_data["guests"],
            payer=payer_of(request),
        )
        return Response(RegistrationOutput(registration).data, status=status.HTTP_201_CREATED)


def _my_registration(request: Request, public_id: Any) -> EventRegistration:
    registration = selectors.registrations_of_user(user=request_person(request)).filter(public_id=public_id).first()
    if registration is None:
        raise Http404
    return registration


class CancelRegistrationView(APIView):
    """Give the place back before the cut-off (or leave the waitlist)."""

    permission_classes = [IsPerson]

    @extend_schema(
        request=None,
        **documented({200: RegistrationOutput}, "event_registration_not_live", "event_cancel_cutoff_passed"),
    )
    def post(self, request: Request, public_id: Any) -> Response:
        registration = services.registration_cancel(
            registration=_my_registration(request, public_id), actor=request_person(request), reason="cancelled (API)"
        )
        return Response(RegistrationOutput(registration).data)


class GiveBackView(APIView):
    """Keep the place and give the guest's back before the cut-off (a paid share is refunded once)."""

    permission_classes = [IsPerson]

    @extend_schema(
        request=None,
        **documented(
            {200: RegistrationOutput},
            "event_registration_not_live",
            "event_places_invalid",
            "event_cancel_cutoff_passed",
            "event_payment_pending",
        ),
    )
    def post(self, request: Request, public_id: Any) -> Response:
        registration = services.registration_reduce(
            registration=_my_registration(request, public_id), actor=request_person(request)
        )
        return Response(RegistrationOutput(registration).data)


class ConfirmOfferView(APIView):
    """Take a place offered from the waitlist before its deadline."""

    permission_classes = [IsPerson]

    @extend_schema(request=None, **documented({200: RegistrationOutput}, "event_offer_not_open", "event_offer_expired"))
    def post(self, request: Request, public_id: Any) -> Response:
        registration = services.offer_confirm(
            registration=_my_registration(request, public_id),
            user=request_person(request),
            payer=payer_of(request),
        )
        return Response(RegistrationOutput(registration).data)


class MyRegistrationsView(ListAPIView):
    permission_classes = [IsPerson]
    serializer_class = RegistrationOutput

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no person
            return EventRegistration.objects.none()
        return selectors.registrations_of_user(user=request_person(self.request))


class CountsOutput(serializers.Serializer):
    capacity = serializers.IntegerField()
    places_taken = serializers.IntegerField()
    places_left = serializers.IntegerField()
    registered = serializers.IntegerField()
    registered_places = serializers.IntegerField()
    offered = serializers.IntegerField()
    pending_payment = serializers.IntegerField()
    waitlisted = serializers.IntegerField()
    checked_in = serializers.IntegerField()
    checked_in_places = serializers.IntegerField()
    no_shows = serializers.IntegerField()
    cancelled = serializers.IntegerField()


class AttendanceOutput(serializers.Serializer):
    event = EventOutput()
    counts = CountsOutput()
    registrations = AttendeeOutput(many=True)


def managed_event(request: Request, public_id: Any) -> Event:
    """The event, if the shop's staff / operator (session) or the partner app (token) may manage it."""
    event = selectors.event_by_public_id(public_id=public_id, published_only=False)
    partner = partner_application(request)
    if event is None:
        raise Http404
    services.door_authorize(event=event, user=None if partner is not None else request.user, partner=partner)
    return event


class AttendanceView(APIView):
    """The organiser's counts and list: everyone registered, the waitlist in order, who came."""

    permission_classes = [IsPerson | PARTNER]

    @extend_schema(**documented({200: AttendanceOutput}, "event_door_not_authorized"))
    def get(self, request: Request, public_id: Any) -> Response:
        event = managed_event(request, public_id)
        return Response(
            {
                "event": EventOutput(event).data,
                "counts": CountsOutput(selectors.event_counts(event=event)).data,
                "registrations": AttendeeOutput(selectors.attendance(event=event), many=True).data,
            }
        )


class CapacityInput(serializers.Serializer):
    capacity = serializers.IntegerField(min_value=1, max_value=100_000)


class CapacityOutput(serializers.Serializer):
    event = EventOutput()
    counts = CountsOutput()
    promoted = serializers.IntegerField(help_text="People offered a place from the waitlist by this change.")


class CapacityView(APIView):
    """Change an event's capacity (organisers' tools and the shop's staff, as in the console): never
    below the places taken; raising it offers the freed places to the waitlist at once, in order."""

    permission_classes = [IsPerson | PARTNER]

    @extend_schema(
        request=CapacityInput,
        **documented({200: CapacityOutput}, "event_door_not_authorized", "event_capacity_invalid", "validation_failed"),
    )
    def post(self, request: Request, public_id: Any) -> Response:
        event = managed_event(request, public_id)
        data = CapacityInput(data=request.data)
        data.is_valid(raise_exception=True)
        partner = partner_application(request)
        actor: Any = f"partner:{partner.client_id}" if partner is not None else request_person(request)
        event, offered = services.event_capacity_change(
            event=event, capacity=data.validated_data["capacity"], actor=actor
        )
        return Response(
            {
                "event": EventOutput(event).data,
                "counts": CountsOutput(selectors.event_counts(event=event)).data,
                "promoted": len(offered),
            }
        )
