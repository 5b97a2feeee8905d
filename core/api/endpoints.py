"""Platform endpoints: the signed-in person and their notices."""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.permissions import IsPerson, partner_application, request_person
from core.models import Notification, User
from core.services import audit_record

from .views import APIView, ListAPIView


class MeSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    roles = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "display_name", "phone", "birth_year", "language", "roles"]
        read_only_fields = ["email"]

    def get_roles(self, user: User) -> list[str]:
        return sorted(group.name for group in user.groups.all())

    def validate_birth_year(self, value: int | None) -> int | None:
        this_year = timezone.now().year
        if value is not None and not (this_year - 120 <= value <= this_year - 12):
            raise serializers.ValidationError("birth year out of range", code="out_of_range")
        return value


class MeView(APIView):
    """The signed-in person's profile."""

    permission_classes = [IsPerson]

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=MeSerializer, responses=MeSerializer)
    def patch(self, request: Request) -> Response:
        user = request_person(request)
        serializer = MeSerializer(user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        before = {name: getattr(user, name) for name in serializer.validated_data}
        with transaction.atomic():
            serializer.save()
            audit_record(
                actor=user, action="user.profile_update", obj=user, before=before, after=serializer.validated_data
            )
        return Response(MeSerializer(user).data)


class NotificationSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "url", "created_at", "read_at"]


class NotificationListView(ListAPIView):
    """The signed-in person's in-app notices, newest first."""

    permission_classes = [IsPerson]
    serializer_class = NotificationSerializer
    filterset_fields = ["kind"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Notification.objects.none()
        return Notification.objects.filter(user=request_person(self.request))


class NotificationReadView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(request=None, responses=NotificationSerializer)
    def post(self, request: Request, public_id: str) -> Response:
        notice = get_object_or_404(Notification, public_id=public_id, user=request_person(request))
        if notice.read_at is None:
            notice.read_at = timezone.now()
            notice.save(update_fields=["read_at"])
        return Response(NotificationSerializer(notice).data)


class PartnerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField(), help_text="Scopes carried by this token.")
    allowed_scopes = serializers.ListField(child=serializers.CharField(), help_text="Scopes granted to the app.")


class IsPartner(IsPerson):
    def has_permission(self, request: Request, view: object) -> bool:
        return partner_application(request) is not None


class PartnerWhoAmIView(APIView):
    """The partner application behind the bearer token and the scopes it carries."""

    permission_classes = [IsPartner]

    @extend_schema(responses=PartnerSerializer)
    def get(self, request: Request) -> Response:
        app = partner_application(request)
        assert app is not None and request.auth is not None
        data = {
            "id": app.public_id,
            "name": app.name,
            "scopes": sorted(getattr(request.auth, "scope", "").split()),
            "allowed_scopes": sorted(app.scope_set),
        }
        return Response(PartnerSerializer(data).data)
