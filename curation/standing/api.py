"""Merchant standing through the API (/api/v1/): complaints (a member's own; a partner app filing for a
member with ``complaints:write``; an owner's view of the complaints about the shop and answers), findings
for the owner (and appeals)."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.permissions import IsPerson, partner_application, request_person, scoped
from core.api.schema import documented
from core.api.views import APIView, ListAPIView
from core.errors import DomainError
from core.models import User
from curation.models import Complaint, Finding
from merchants.models import Merchant
from merchants.selectors import merchant_for_staff, merchant_with_city
from redemptions.counter.selectors import redemption_by_public_id

from . import services as standing
from .selectors import (
    complaint_of_member,
    complaint_sla,
    complaints_of_member,
    complaints_of_merchant,
    finding_of_merchant,
    findings_of_merchant,
)

FILE_REFUSALS = (
    "complaint_redemption_not_yours",
    "complaint_merchant_not_visited",
    "complaint_target_required",
    "complaint_duplicate",
    "complaint_text_required",
    "complaint_text_too_long",
    "complaint_category_invalid",
    "complaint_photo_not_image",
    "complaint_photo_too_large",
    "not_found",
)


class MessageOutput(serializers.Serializer):
    author = serializers.CharField(source="author_role")
    body = serializers.CharField()
    at = serializers.DateTimeField(source="created_at")


class ComplaintOutput(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    merchant = serializers.UUIDField(source="merchant.public_id")
    merchant_name = serializers.CharField(source="merchant.name")
    redemption = serializers.SerializerMethodField()
    category = serializers.CharField()
    text = serializers.CharField()
    has_photo = serializers.SerializerMethodField()
    state = serializers.CharField()
    outcome = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    first_response_due = serializers.DateTimeField()
    resolution_due = serializers.DateTimeField()
    first_responded_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    sla_breached = serializers.SerializerMethodField()

    def get_redemption(self, obj: Complaint) -> str | None:
        return str(obj.redemption.public_id) if obj.redemption_id and obj.redemption else None

    def get_has_photo(self, obj: Complaint) -> bool:
        return bool(obj.photo)

    def get_sla_breached(self, obj: Complaint) -> bool:
        return complaint_sla(complaint=obj).breached


class ComplaintDetailOutput(ComplaintOutput):
    messages = serializers.SerializerMethodField()

    @extend_schema_field(MessageOutput(many=True))
    def get_messages(self, obj: Complaint) -> list[dict[str, Any]]:
        # From the prefetched messages (lists prefetch them): internal notes never leave the console.
        shown = [m for m in obj.messages.all() if m.author_role != "internal"]
        shown.sort(key=lambda m: (m.created_at, m.pk))
        return MessageOutput(shown, many=True).data  # type: ignore[return-value]


class ComplaintInput(serializers.Serializer):
    redemption = serializers.UUIDField(required=False, help_text="The redemption complained about (preferred).")
    merchant = serializers.UUIDField(required=False, help_text="Or the shop, when there is no single redemption.")
    member = serializers.UUIDField(required=False, help_text="Partner apps only: the member's public id.")
    category = serializers.CharField(help_text="refused_card, discount_not_applied, service, hygiene or other")
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)
    photo = serializers.FileField(required=False, help_text="JPEG, PNG or WebP, at most 5 MB (multipart only).")


class ComplaintListView(ListAPIView):
    """A member's own complaints (newest first); ``POST`` files one.

    Partner apps holding ``complaints:write`` file on a member's behalf, naming the member by public id.
    """

    permission_classes = [IsPerson | scoped("complaints:write")]
    serializer_class = ComplaintOutput
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    ordering = "-created_at"

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Complaint.objects.none()
        if partner_application(self.request) is not None:
            return Complaint.objects.none()  # partners file; they do not browse members' tickets
        return complaints_of_member(member=request_person(self.request))

    @extend_schema(
        request={"application/json": ComplaintInput, "multipart/form-data": ComplaintInput},
        **documented({201: ComplaintDetailOutput}, *FILE_REFUSALS, "complaint_member_unknown"),
    )
    def post(self, request: Request) -> Response:
        data = ComplaintInput(data=request.data)
        if not data.is_valid():
            fields = {k: [{"code": "invalid", "detail": str(v[0])}] for k, v in data.errors.items()}
            raise DomainError("validation_failed", fields=fields)
        values = data.validated_data
        partner = partner_application(request)
        if partner is not None:
            member = User.objects.filter(public_id=values.get("member"), is_active=True).first()
            if member is None:
                raise DomainError("complaint_member_unknown")
        else:
            member = request_person(request)
        redemption = None
        merchant = None
        if values.get("redemption"):
            redemption = redemption_by_public_id(public_id=values["redemption"])
            if redemption is None:
                raise DomainError("not_found")
        elif values.get("merchant"):
            merchant = merchant_with_city(public_id=values["merchant"])
            if merchant is None:
                raise DomainError("not_found")
        complaint = standing.complaint_file(
            member=member,
            category=values["category"],
            text=values["text"],
            redemption=redemption,
            merchant=merchant,
            photo=values.get("photo"),
            partner=partner,
        )
        return Response(ComplaintDetailOutput(complaint).data, status=status.HTTP_201_CREATED)


class ComplaintDetailView(APIView):
    """One of the member's complaints with the messages from customer service and the shop."""

    permission_classes = [IsPerson]

    @extend_schema(**documented({200: ComplaintDetailOutput}, "not_found"))
    def get(self, request: Request, public_id: Any) -> Response:
        complaint = complaint_of_member(member=request_person(request), public_id=public_id)
        if complaint is None:
            raise Http404
        return Response(ComplaintDetailOutput(complaint).data)


def _owned(request: Request, public_id: Any) -> Merchant:
    found = merchant_for_staff(user=request_person(request), public_id=public_id)
    if found is None or not found[1].is_owner:
        raise Http404
    return found[0]


class ShopComplaintOutput(ComplaintDetailOutput):
    member = serializers.CharField(source="member.masked_name", help_text="Masked: the shop sees no personal data.")


class ShopComplaintListView(ListAPIView):
    """The complaints about a shop, for its owner (member names masked)."""

    permission_classes = [IsPerson]
    serializer_class = ShopComplaintOutput
    ordering = "-created_at"

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Complaint.objects.none()
        merchant = _owned(self.request, self.kwargs["public_id"])
        return complaints_of_merchant(merchant=merchant).prefetch_related("messages")


class AnswerInput(serializers.Serializer):
    body = serializers.CharField(allow_blank=True)


class ShopComplaintAnswerView(APIView):
    """The owner answers a complaint about the shop."""

    permission_classes = [IsPerson]

    @extend_schema(
        request=AnswerInput,
        **documented({201: MessageOutput}, "complaint_message_required", "complaint_closed", "owner_required"),
    )
    def post(self, request: Request, public_id: Any, complaint_id: Any) -> Response:
        merchant = _owned(request, public_id)
        complaint = complaints_of_merchant(merchant=merchant).filter(public_id=complaint_id).first()
        if complaint is None:
            raise Http404
        message = standing.complaint_merchant_answer(
            complaint=complaint, actor=request_person(request), body=str(request.data.get("body", ""))
        )
        return Response(MessageOutput(message).data, status=status.HTTP_201_CREATED)


class FindingOutput(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    rule = serializers.CharField(source="rule_kind")
    rule_version = serializers.IntegerField()
    evaluated_on = serializers.DateField()
    state = serializers.CharField()
    fix_by = serializers.DateField()
    summary = serializers.SerializerMethodField()
    advice = serializers.SerializerMethodField()
    evidence = serializers.JSONField()
    latest_evidence = serializers.JSONField()
    decision_reason = serializers.CharField(allow_blank=True)
    appeal = serializers.SerializerMethodField()

    def get_summary(self, obj: Finding) -> str:
        return standing.evidence_summary(kind=obj.rule_kind, evidence=obj.latest_evidence or obj.evidence)

    def get_advice(self, obj: Finding) -> str:
        return str(standing.FINDING_ADVICE.get(obj.rule_kind, ""))

    def get_appeal(self, obj: Finding) -> dict[str, Any] | None:
        appeal = getattr(obj, "appeal", None)
        if appeal is None:
            return None
        return {"state": appeal.state, "text": appeal.text, "decision_note": appeal.decision_note}


class ShopFindingListView(ListAPIView):
    """The removal-rule findings of a shop with their evidence, for its owner."""

    permission_classes = [IsPerson]
    serializer_class = FindingOutput
    ordering = "-evaluated_on"

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Finding.objects.none()
        return findings_of_merchant(merchant=_owned(self.request, self.kwargs["public_id"]))


class AppealInput(serializers.Serializer):
    text = serializers.CharField(allow_blank=True)


class ShopFindingAppealView(APIView):
    """The owner appeals a finding (once)."""

    permission_classes = [IsPerson]

    @extend_schema(
        request=AppealInput,
        **documented({201: FindingOutput}, "appeal_already_filed", "appeal_text_required", "finding_closed"),
    )
    def post(self, request: Request, public_id: Any, finding_id: Any) -> Response:
        merchant = _owned(request, public_id)
        finding = finding_of_merchant(merchant=merchant, public_id=finding_id)
        if finding is None:
            raise Http404
        standing.appeal_file(finding=finding, actor=request_person(request), text=str(request.data.get("text", "")))
        finding = finding_of_merchant(merchant=merchant, public_id=finding_id)
        return Response(FindingOutput(finding).data, status=status.HTTP_201_CREATED)
