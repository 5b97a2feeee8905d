"""Notes, touches, insights and the post-redemption note invitation through the API (issue 6).

- ``PUT /api/v1/notes/<external_id>/`` (scope ``notes:write``): upsert a note; ``DELETE`` hides it.
- ``POST /api/v1/touches/batch/`` (scope ``touches:write``): up to 1,000 touches; bad rows reported per index.
- ``GET /api/v1/insights/merchants/<public_id>/`` (scope ``insights:read`` at a merchant that granted it,
  or the shop's owner in the browser): the dashboard figures, k-anonymous audience included.
- ``GET /api/v1/redemptions/<public_id>/note-invite/`` (the member): the invitation to write a note.
- ``GET /api/v1/merchants/<public_id>/notes/`` (anyone): visible notes about a shop, verified visits marked.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.permissions import IsPerson, partner_application, request_person, scoped
from core.api.schema import problem_examples
from core.api.views import APIView
from core.errors import DomainError
from core.models import PartnerApplication
from merchants.models import Merchant
from merchants.selectors import merchant_with_city, partner_granted, staff_membership, visible_merchant
from redemptions.counter.selectors import redemption_by_public_id

from . import selectors, services
from .errors import TOUCH_ROW_CODES

NOTES_SCOPE = "notes:write"
TOUCHES_SCOPE = "touches:write"
INSIGHTS_SCOPE = "insights:read"


def content_app(request: Request) -> PartnerApplication:
    """The partner application behind the token (the scoped permissions let only tokens through)."""
    application = partner_application(request)
    assert isinstance(application, PartnerApplication)
    return application


# --- Notes -----------------------------------------------------------------------------------------------


class NoteInput(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    url = serializers.URLField(max_length=500)
    published_at = serializers.DateTimeField()
    merchants = serializers.ListField(
        child=serializers.UUIDField(), min_length=1, max_length=services.NOTE_MERCHANT_LIMIT
    )
    author_member = serializers.UUIDField(required=False, allow_null=True, help_text="The author's member id.")
    author_external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    visit_token = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, help_text="From the post-redemption invitation."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("author_member") and not attrs.get("author_external_id"):
            raise serializers.ValidationError({"author_member": "Give author_member or author_external_id."})
        if attrs["published_at"] > timezone.now() + services.CLOCK_SKEW:
            raise serializers.ValidationError({"published_at": "A note cannot be published in the future."})
        return attrs


class NoteOutput(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    external_id = serializers.CharField()
    title = serializers.CharField()
    url = serializers.URLField()
    published_at = serializers.DateTimeField()
    verified_visit = serializers.BooleanField()
    hidden = serializers.BooleanField(source="is_hidden")
    merchants = serializers.SerializerMethodField()

    def get_merchants(self, note: Any) -> list[str]:
        return [str(m.public_id) for m in note.merchants.all()]


class NoteView(APIView):
    permission_classes = [scoped(NOTES_SCOPE)]

    @extend_schema(
        operation_id="notes_upsert",
        request=NoteInput,
        responses={200: NoteOutput, 201: NoteOutput},
        examples=problem_examples("note_merchant_unknown", "note_author_unknown", "visit_token_invalid"),
        description="Create or update a note by its external id at your content app (scope notes:write). "
        "A note answering a post-redemption invitation carries its visit_token and becomes a verified visit.",
    )
    def put(self, request: Request, external_id: str) -> Response:
        data = NoteInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        result = services.note_upsert(
            source=content_app(request),
            external_id=external_id,
            title=v["title"],
            url=v["url"],
            published_at=v["published_at"],
            merchant_ids=v["merchants"],
            author_member_id=v.get("author_member"),
            author_external_id=v.get("author_external_id", ""),
            visit_token=v.get("visit_token") or None,
        )
        return Response(
            NoteOutput(result.note).data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )

    @extend_schema(
        operation_id="notes_delete",
        request=None,
        responses={204: None},
        examples=problem_examples("note_not_found"),
        description="The note was deleted in the content app: it is hidden (credits already given stay).",
    )
    def delete(self, request: Request, external_id: str) -> Response:
        services.note_hide(source=content_app(request), external_id=external_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MerchantNotesView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="merchant_notes", responses={200: NoteOutput(many=True)})
    def get(self, request: Request, public_id: UUID) -> Response:
        merchant = visible_merchant(public_id=public_id)
        if merchant is None:
            raise DomainError("not_found")
        notes = services.notes_for_merchant(merchant=merchant)
        from django.db.models import prefetch_related_objects

        prefetch_related_objects(notes, "merchants")
        return Response(NoteOutput(notes, many=True).data)


# --- Touches ---------------------------------------------------------------------------------------------


class TouchRow(serializers.Serializer):
    external_id = serializers.CharField(max_length=100)
    note = serializers.CharField(max_length=100, help_text="The note's external id at your content app.")
    member = serializers.UUIDField(help_text="The member's public id.")
    kind = serializers.CharField(max_length=5, help_text="view, click or save.")
    at = serializers.DateTimeField(help_text="ISO 8601 with an offset.")


class TouchBatchInput(serializers.Serializer):
    touches = TouchRow(many=True)


class RejectedRow(serializers.Serializer):
    index = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    code = serializers.ChoiceField(choices=list(TOUCH_ROW_CODES))
    detail = serializers.CharField()


class TouchBatchOutput(serializers.Serializer):
    received = serializers.IntegerField()
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Already stored (a retried batch): nothing changed.")
    rejected = RejectedRow(many=True)


class TouchBatchView(APIView):
    permission_classes = [scoped(TOUCHES_SCOPE)]

    @extend_schema(
        operation_id="touches_batch",
        request=TouchBatchInput,
        responses={200: TouchBatchOutput},
        examples=problem_examples("touch_batch_too_large", "touch_batch_empty"),
        description="Up to 1,000 touches (scope touches:write). Rows are validated in bulk; good rows are "
        "stored, bad rows reported with their index and code; an external id already stored changes nothing.",
    )
    def post(self, request: Request) -> Response:
        rows = request.data.get("touches") if isinstance(request.data, dict) else None
        if not isinstance(rows, list):
            raise DomainError("touch_batch_empty")
        result = services.touches_ingest(source=content_app(request), rows=rows)
        return Response(
            {
                "received": result.received,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
            }
        )


# --- Insights --------------------------------------------------------------------------------------------


def insights_merchant(request: Request, public_id: UUID) -> Merchant:
    """The merchant a partner (``insights:read`` and a grant) or the owner (session) may read; else refuse."""
    merchant = merchant_with_city(public_id=public_id)
    if merchant is None:
        raise DomainError("not_found")
    application = partner_application(request)
    if application is not None:
        if not partner_granted(application=application, merchant=merchant, scope=INSIGHTS_SCOPE):
            raise DomainError("insights_not_granted")
        return merchant
    staff = staff_membership(user=request_person(request), merchant=merchant)
    if staff is None:
        raise DomainError("not_found")
    if not staff.is_owner:
        raise DomainError("dashboard_not_owner")
    return merchant


class InsightsView(APIView):
    permission_classes = [scoped(INSIGHTS_SCOPE) | IsPerson]

    @extend_schema(
        operation_id="merchant_insights",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (default: 30 days ago)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (default: today, local)."),
            OpenApiParameter("model", str, enum=["last", "first", "linear"], description="Attribution model."),
        ],
        responses={200: OpenApiTypes.OBJECT},
        examples=problem_examples("insights_not_granted", "dashboard_not_owner", "period_invalid", "not_found"),
        description="The dashboard figures of a merchant: totals, daily series, notes leaderboard under the "
        "chosen model, and audience insights (groups of at least 10 members; smaller ones merged into 'other').",
    )
    def get(self, request: Request, public_id: UUID) -> Response:
        merchant = insights_merchant(request, public_id)
        today = selectors.merchant_today(merchant=merchant)
        period = selectors.period_parse(
            start=request.query_params.get("from"), end=request.query_params.get("to"), today=today
        )
        model = selectors.model_parse(request.query_params.get("model"))
        board = selectors.dashboard(merchant=merchant, period=period, model=model, today=today)
        return Response(selectors.dashboard_payload(board))


# --- Post-redemption note ----------------------------------------------------------------------------------


class NoteInviteOutput(serializers.Serializer):
    redemption = serializers.UUIDField(source="redemption_public_id")
    merchant = serializers.UUIDField(source="merchant_public_id")
    merchant_name = serializers.CharField()
    hashtag = serializers.CharField()
    visit_token = serializers.CharField()
    compose_url = serializers.URLField()


class NoteInviteView(APIView):
    permission_classes = [IsPerson]

    @extend_schema(
        operation_id="redemption_note_invite",
        responses={200: NoteInviteOutput},
        examples=problem_examples("note_invite_unavailable", "not_found"),
        description="After a redemption, the member is invited to write a note pre-tagged with the shop and "
        "#小红卡; the content app sends the visit_token with the note, which then shows as a verified visit.",
    )
    def get(self, request: Request, public_id: UUID) -> Response:
        redemption = redemption_by_public_id(public_id=public_id)
        if redemption is None:
            raise DomainError("not_found")
        invite = services.note_invite(redemption=redemption, member=request_person(request))
        return Response(NoteInviteOutput(invite).data)
