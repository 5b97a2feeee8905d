"""The redemption path through the API (/api/v1/redemptions/...).

Staff (session) and partner POS apps (OAuth scope ``redemptions:write``, only at
merchants that granted that partner access) prepare, confirm and void; members
read their card codes and redemptions and make claims. Every refusal is
problem+json with a stable ``code``; each code is shown as an OpenAPI example.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseNotModified
from django.http.response import HttpResponseBase
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.lean import lean_view
from core.api.pagination import CursorPagination
from core.api.permissions import IsPerson, partner_application, request_person, scoped
from core.api.represent import represent
from core.api.schema import documented
from core.api.views import APIView, ListAPIView
from core.errors import DomainError
from members.events.services import PARTNER_SCOPE as EVENTS_SCOPE
from members.selectors import member_savings

from ..models import Channel, Claim, NfcTag, OfflineRedemption, Redemption
from . import codes, door, feed, selectors, services
from .errors import REFUSAL_CODES

PARTNER = scoped(services.PARTNER_SCOPE)


CODE_REFUSALS = ("code_invalid", "code_expired", "code_already_used", "code_attempts_exceeded")
SHOP_REFUSALS = (
    "staff_not_authorized",
    "partner_not_granted",
    "membership_inactive",
    "merchant_not_active",
    "merchant_paused",
    "merchant_at_capacity",
    "member_limit_reached",
)
BILL_REFUSALS = ("bill_invalid", "bill_below_minimum")


@extend_schema_field(OpenApiTypes.INT)
class BillFenField(serializers.Field):
    """The bill in fen; checked by the service so that every bad value answers ``bill_invalid``."""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class CounterInput(serializers.Serializer):
    merchant = serializers.UUIDField(help_text="The merchant's public id.")


class PrepareInput(CounterInput):
    code = serializers.CharField(max_length=300, help_text="The scanned QR text or the typed numeric code.")


class ConfirmInput(CounterInput):
    code = serializers.CharField(max_length=300, required=False, allow_blank=True)
    token = serializers.CharField(max_length=2000, required=False, allow_blank=True, help_text="From prepare.")
    bill_fen = BillFenField(allow_null=True, help_text="The bill in fen (integer, 1 to 10,000,000).")


class VoidInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class PreparedOutput(serializers.Serializer):
    token = serializers.CharField()
    member = serializers.CharField(source="member_masked")
    code_kind = serializers.CharField()
    entitled = serializers.BooleanField(default=True)
    rate_bp = serializers.IntegerField()
    cap_fen = serializers.IntegerField(allow_null=True)
    min_bill_fen = serializers.IntegerField(allow_null=True)
    capacity = serializers.IntegerField()
    capacity_remaining = serializers.IntegerField()
    member_limit = serializers.IntegerField()
    member_limit_remaining = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class MemberRedemptionOutput(serializers.Serializer):
    """A redemption as its member sees it. Declared fields: a ``ModelSerializer`` rebuilds its fields from
    the model on every instance, which cost more than the rest of the response on the confirm path."""

    id = serializers.UUIDField(source="public_id")
    merchant = serializers.UUIDField(source="merchant.public_id")
    merchant_name = serializers.CharField(source="merchant.name")
    channel = serializers.ChoiceField(choices=Channel.choices)
    status = serializers.ChoiceField(choices=Redemption.Status.choices)
    bill_fen = serializers.IntegerField()
    discount_fen = serializers.IntegerField()
    charge_fen = serializers.IntegerField()
    currency = serializers.CharField()
    rate_bp = serializers.IntegerField(help_text="The discount rate in basis points (1200 = 12%).")
    local_date = serializers.DateField(help_text="The shop's local day the redemption counts against.")
    confirmed_at = serializers.DateTimeField()
    voided_at = serializers.DateTimeField(allow_null=True)
    void_reason = serializers.CharField()
    partner = serializers.SerializerMethodField(help_text="The partner app it came through (POS or platform), or null.")

    def get_partner(self, obj: Redemption) -> str | None:
        return obj.partner.name if obj.partner_id and obj.partner else None


class RedemptionOutput(MemberRedemptionOutput):
    """A redemption as the shop and its partner apps see it (the member's and the staff's masked names)."""

    member = serializers.SerializerMethodField()
    staff = serializers.SerializerMethodField()

    def get_member(self, obj: Redemption) -> str:
        return obj.member.masked_name

    def get_staff(self, obj: Redemption) -> str | None:
        return obj.staff.masked_name if obj.staff_id and obj.staff else None


def _merchant(public_id: Any) -> Any:
    merchant = selectors.merchant_by_public_id(public_id=public_id)
    if merchant is None:
        raise Http404
    return merchant


def _counter_merchant(request: Request, public_id: Any) -> tuple[Any, services.Counter]:
    """The shop of a counter request and who asks, read with what they may do there (one query)."""
    counter = _counter(request)
    merchant = services.counter_merchant(public_id=public_id, counter=counter)
    if merchant is None:
        raise Http404
    return merchant, counter


def _counter(request: Request) -> services.Counter:
    partner = partner_application(request)
    if partner is not None:
        return services.Counter(partner=partner)
    return services.Counter(staff=request_person(request))


CONFIRM_EXAMPLE = {
    "id": "5f0c4c39-8c1e-4a53-9a51-0d3c1b1f7a10",
    "merchant": "0b5e8f8e-2d55-4a2c-9b0a-5b6f0f6f3a11",
    "merchant_name": "示例咖啡",
    "member": "张**",
    "staff": "李**",
    "channel": "staff_scan",
    "status": "confirmed",
    "bill_fen": 8650,
    "discount_fen": 1038,
    "charge_fen": 7612,
    "currency": "CNY",
    "rate_bp": 1200,
    "local_date": "2026-11-20",
    "confirmed_at": "2026-11-20T04:00:12Z",
    "voided_at": None,
    "void_reason": "",
}


class PublicKeysView(APIView):
    """The Ed25519 public keys that sign member codes (``{key id: base64url raw key}``): a scanner can
    check a code's signature offline with these alone."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        examples=[OpenApiExample("keys", value={"keys": {"k1": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}})],
    )
    def get(self, request: Request) -> Response:
        response = Response(
            {
                "keys": codes.public_keys(),
                "rotate_seconds": codes.rotate_seconds(),
                "valid_seconds": codes.valid_seconds(),
            }
        )
        # Cached for a few minutes: a rotated key ring is published before the new key signs (the old one keeps
        # verifying), and a scanner that meets an unknown key id asks again.
        response["Cache-Control"] = "public, max-age=300"
        return response


class CardView(APIView):
    """The signed-in member's codes: the current one and the next few (so the card keeps working
    offline for a couple of minutes), the entitlement and the savings meter."""

    permission_classes = [IsPerson]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        from .views import card_payload

        return Response(card_payload(request_person(request)))


class CardStatusView(APIView):
    """What the open card polls every couple of seconds (cheap: the member's newest redemption and the savings
    meter, two indexed reads): when the code it showed is used, it flips to "redeemed · saved ¥x" and the meter
    moves; ``paid_back`` once this year's savings reach the fee."""

    permission_classes = [IsPerson]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        member = request_person(request)
        last = selectors.member_last_redemption(member=member)
        savings = member_savings(user=member)
        return Response(
            {
                "last": None
                if last is None
                else {
                    "code_id": last.code_id,
                    "status": last.status,
                    "discount_fen": last.discount_fen,
                    "charge_fen": last.charge_fen,
                    "merchant_name": last.merchant.name,
                    "confirmed_at": last.confirmed_at.isoformat(),
                },
                "savings": {"saved_fen": savings.saved_fen, "fee_fen": savings.fee_fen},
                "paid_back": 0 < savings.fee_fen <= savings.saved_fen,
            }
        )


class PrepareView(APIView):
    """Step one at the counter: who is this, what is the offer, how much capacity is left."""

    permission_classes = [IsPerson | PARTNER]

    @extend_schema(
        request=PrepareInput,
        **documented({200: PreparedOutput}, *CODE_REFUSALS, *SHOP_REFUSALS),
    )
    def post(self, request: Request) -> Response:
        data = PrepareInput(data=request.data)
        data.is_valid(raise_exception=True)
        merchant, counter = _counter_merchant(request, data.validated_data["merchant"])
        prepared = services.redemption_prepare(code=data.validated_data["code"], merchant=merchant, counter=counter)
        return Response(PreparedOutput(prepared).data)


class ConfirmView(APIView):
    """Redeem a code on a bill; the code is used up. **The fast path is one request**: send the scanned ``code``
    with ``bill_fen`` (the staff scanner does so after checking the code's signature itself with the public keys
    of ``/api/v1/redemptions/keys/``). ``prepare`` first, then its ``token`` here, only for a hold while the bill
    is typed, or for a typed numeric code."""

    permission_classes = [IsPerson | PARTNER]

    @extend_schema(
        request=ConfirmInput,
        **documented(
            {201: RedemptionOutput},
            *BILL_REFUSALS,
            *CODE_REFUSALS,
            *SHOP_REFUSALS,
            "prepare_expired",
            extra=(OpenApiExample("confirmed", value=CONFIRM_EXAMPLE, response_only=True, status_codes=["201"]),),
        ),
    )
    def post(self, request: Request) -> Response:
        data = ConfirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        redemption = _confirm(_counter(request), data.validated_data)
        return Response(represent(RedemptionOutput, redemption), status=status.HTTP_201_CREATED)


def _confirm(counter: services.Counter, data: dict[str, Any]) -> Redemption:
    """A confirm's work, from ``ConfirmInput``'s validated data (the DRF view) or ``_confirm_take`` (the lean path)."""
    merchant = services.counter_merchant(public_id=data["merchant"], counter=counter)
    if merchant is None:
        raise Http404
    return services.redemption_confirm(
        merchant=merchant,
        counter=counter,
        bill=data.get("bill_fen"),
        code=data.get("code") or None,
        token=data.get("token") or None,
    )


#: ``ConfirmInput``'s text fields and their lengths, read from the serializer once (``code``, ``token``).
_CONFIRM_TEXT_LIMITS = {
    name: field.max_length
    for name, field in ConfirmInput._declared_fields.items()  # noqa: SLF001 (DRF's declared fields)
    if isinstance(field, serializers.CharField) and field.max_length
}


def _confirm_take(body: dict[str, Any]) -> dict[str, Any] | None:
    """``ConfirmInput``'s reading of a body, for the lean path; None where the serializer would say more (or
    refuse): DRF then answers."""
    merchant = body.get("merchant")
    if "bill_fen" not in body or not isinstance(merchant, str):
        return None
    try:
        data: dict[str, Any] = {"merchant": uuid.UUID(hex=merchant), "bill_fen": body["bill_fen"]}
    except ValueError:
        return None
    for name, limit in _CONFIRM_TEXT_LIMITS.items():
        if name in body:
            value = body[name]
            if not isinstance(value, str) or "\x00" in value or len(value := value.strip()) > limit:
                return None
            try:
                value.encode()  # a lone surrogate: the serializer's own message
            except UnicodeEncodeError:
                return None
            data[name] = value
    return data


def _confirm_serve(request: HttpRequest, token: Any, data: dict[str, Any]) -> tuple[int, Any]:
    redemption = _confirm(services.Counter(partner=token.application), data)
    return status.HTTP_201_CREATED, represent(RedemptionOutput, redemption)


#: The confirm's URL view: a partner POS's bearer-token request on the lean path (``core.api.lean``), all else
#: (the staff scanner's session, an Idempotency-Key, an odd body) through ``ConfirmView``.
confirm_view = lean_view(
    ConfirmView.as_view(), take=_confirm_take, serve=_confirm_serve, scopes=(services.PARTNER_SCOPE,)
)


class VoidView(APIView):
    """Undo a redemption within the void window (default one hour), with a reason."""

    permission_classes = [IsPerson | PARTNER]

    @extend_schema(
        request=VoidInput,
        **documented(
            {200: RedemptionOutput},
            "void_window_passed",
            "already_voided",
            "staff_not_authorized",
            "partner_not_granted",
        ),
    )
    def post(self, request: Request, public_id: Any) -> Response:
        data = VoidInput(data=request.data)
        data.is_valid(raise_exception=True)
        redemption = (
            Redemption.objects.select_related("merchant", "member", "staff").filter(public_id=public_id).first()
        )
        if redemption is None:
            raise Http404
        counter = _counter(request)
        if counter.partner is not None:
            services.counter_authorize(merchant=redemption.merchant, counter=counter)
        elif not services.redemption_may_void(redemption=redemption, user=request_person(request)):
            raise DomainError("staff_not_authorized")
        services.redemption_void(redemption=redemption, actor=counter.actor, reason=data.validated_data["reason"])
        return Response(represent(RedemptionOutput, redemption))


class NewestFirst(CursorPagination):
    """Redemptions by the time they count from, newest first (an offline one synced late sits at its scan time)."""

    ordering = "-confirmed_at"


class MerchantDayView(ListAPIView):
    """A shop's redemptions of one local day (default today), newest first, a page at a time (``next``), for its
    staff or a granted partner."""

    permission_classes = [IsPerson | PARTNER]
    serializer_class = RedemptionOutput
    pagination_class = NewestFirst
    ordering = "-confirmed_at"

    @extend_schema(
        parameters=[
            OpenApiParameter("merchant", OpenApiTypes.UUID, required=True),
            OpenApiParameter("day", OpenApiTypes.DATE, required=False),
        ],
        **documented({200: RedemptionOutput(many=True)}, "staff_not_authorized", "partner_not_granted"),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Redemption]:
        if getattr(self, "swagger_fake_view", False):
            return Redemption.objects.none()
        from datetime import date

        merchant = _merchant_param(self.request)
        services.counter_authorize(merchant=merchant, counter=_counter(self.request))
        raw_day = self.request.query_params.get("day")
        try:
            day = date.fromisoformat(raw_day) if raw_day else selectors.merchant_today(merchant=merchant)
        except ValueError as exc:
            raise DomainError("validation_failed") from exc
        return selectors.redemptions_of_merchant_day(merchant=merchant, day=day).select_related("merchant")


class MyRedemptionsView(ListAPIView):
    """The signed-in member's redemptions with what each visit saved."""

    permission_classes = [IsPerson]
    serializer_class = MemberRedemptionOutput
    ordering = "-confirmed_at"

    def get_queryset(self) -> QuerySet[Redemption]:
        if getattr(self, "swagger_fake_view", False):
            return Redemption.objects.none()
        return selectors.redemptions_of_member(member=request_person(self.request))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().list(request, *args, **kwargs)
        savings = member_savings(user=request_person(request))
        response.data["savings"] = {"saved_fen": savings.saved_fen, "fee_fen": savings.fee_fen}
        return response


# --- Claims ---------------------------------------------------------------------------------------


class ClaimInput(serializers.Serializer):
    merchant = serializers.UUIDField()
    bill_fen = BillFenField(allow_null=True)
    tag = serializers.UUIDField(required=False, allow_null=True)
    picc = serializers.CharField(required=False, allow_blank=True, max_length=64)
    cmac = serializers.CharField(required=False, allow_blank=True, max_length=32)


class ClaimOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    merchant = serializers.UUIDField(source="merchant.public_id")
    member = serializers.SerializerMethodField()
    charge_fen = serializers.SerializerMethodField()
    redemption = serializers.SerializerMethodField()

    class Meta:
        model = Claim
        fields = [
            "id",
            "merchant",
            "member",
            "short_number",
            "status",
            "bill_fen",
            "discount_fen",
            "charge_fen",
            "tag_verified",
            "created_at",
            "expires_at",
            "redemption",
        ]

    def get_member(self, obj: Claim) -> str:
        return obj.member.masked_name

    def get_charge_fen(self, obj: Claim) -> int:
        return obj.bill_fen - obj.discount_fen

    def get_redemption(self, obj: Claim) -> str | None:
        return obj.redemption.public_id.hex if obj.redemption_id and obj.redemption else None


class ClaimCreateView(APIView):
    """A member asks for the discount at a shop (after tapping its tag or scanning its stand)."""

    permission_classes = [IsPerson]

    @extend_schema(
        request=ClaimInput,
        **documented(
            {201: ClaimOutput},
            *BILL_REFUSALS,
            "membership_inactive",
            "merchant_not_active",
            "merchant_paused",
            "merchant_at_capacity",
            "member_limit_reached",
            "tag_invalid",
            "tag_replayed",
        ),
    )
    def post(self, request: Request) -> Response:
        from .views import tag_from_tap

        data = ClaimInput(data=request.data)
        data.is_valid(raise_exception=True)
        merchant = _merchant(data.validated_data["merchant"])
        tag, verified = tag_from_tap(
            merchant=merchant,
            tag_id=data.validated_data.get("tag"),
            picc=data.validated_data.get("picc") or "",
            cmac=data.validated_data.get("cmac") or "",
        )
        claim = services.claim_create(
            member=request_person(request),
            merchant=merchant,
            bill=data.validated_data.get("bill_fen"),
            bill_in_yuan=False,
            tag=tag,
            tag_verified=verified,
        )
        return Response(ClaimOutput(claim).data, status=status.HTTP_201_CREATED)


class ClaimStatusView(APIView):
    """A claim's status: the member's live screen polls it."""

    permission_classes = [IsPerson]

    @extend_schema(responses={200: ClaimOutput})
    def get(self, request: Request, public_id: Any) -> Response:
        claim = selectors.claim_of_member(member=request_person(request), public_id=public_id)
        if claim is None:
            raise Http404
        if claim.status == Claim.Status.PENDING and claim.expires_at <= timezone.now():
            services.claims_expire()
            claim.refresh_from_db()
        return Response(ClaimOutput(claim).data)


class PendingClaimsView(APIView):
    """Claims waiting at a shop (the staff console polls this every couple of seconds)."""

    permission_classes = [IsPerson]

    @extend_schema(
        parameters=[OpenApiParameter("merchant", OpenApiTypes.UUID, required=True)],
        **documented({200: ClaimOutput(many=True)}, "staff_not_authorized"),
    )
    def get(self, request: Request) -> Response:
        merchant = _merchant_param(request)
        services.counter_authorize(merchant=merchant, counter=services.Counter(staff=request_person(request)))
        claims = list(selectors.pending_claims(merchant=merchant).select_related("merchant"))
        return Response({"results": ClaimOutput(claims, many=True).data})


class ClaimFeedView(APIView):
    """The scanner's claim feed: the claims waiting at the shop, for the staff member the signed feed token
    (header ``X-Claim-Feed-Token``) was made for (the scanner page makes it). Send the last answer's ETag as
    ``If-None-Match``: 304 when nothing changed, answered without the database (:mod:`redemptions.counter.feed`)."""

    authentication_classes: list = []  # the signed token is the credential: no session read
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """ "Nothing new" is answered before DRF wraps the request (a third of the CPU of a poll)."""
        if request.method == "GET":
            signed = feed.feed_token_of(request.headers)
            offered = feed.FeedTag.parse(request.headers.get("if-none-match", ""))
            version = feed.feed_version(merchant=signed[0]) if signed is not None else None
            if offered is not None and offered.still_current(version=version):
                response = HttpResponseNotModified()
                for name, value in _feed_headers(offered).items():
                    response[name] = value
                return response
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                feed.TOKEN_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="The feed token of the scanner page (a header: never in the URL, which access logs keep).",
            ),
            OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
        ],
        **documented({200: ClaimOutput(many=True), 304: None}, "staff_not_authorized"),
    )
    def get(self, request: Request) -> Response:
        signed = feed.feed_token_of(request.headers)
        if signed is None:
            raise DomainError("staff_not_authorized")
        merchant_public_id, staff_id = signed
        version = feed.feed_version(merchant=merchant_public_id)
        merchant = selectors.merchant_by_public_id(public_id=merchant_public_id)
        staff = selectors.active_person(pk=staff_id)
        if merchant is None or staff is None:
            raise DomainError("staff_not_authorized")
        services.counter_authorize(merchant=merchant, counter=services.Counter(staff=staff))
        claims = list(selectors.pending_claims(merchant=merchant).select_related("merchant"))
        tag = None if version is None else feed.tag_for(version=version, expiries=[c.expires_at for c in claims])
        return Response({"results": ClaimOutput(claims, many=True).data}, headers=_feed_headers(tag))


def _feed_headers(tag: feed.FeedTag | None) -> dict[str, str]:
    headers = {"Cache-Control": "private, no-cache", "Vary": feed.TOKEN_HEADER}
    if tag is not None:
        headers["ETag"] = tag.header()
    return headers


def _merchant_param(request: Request) -> Any:
    try:
        return _merchant(request.query_params.get("merchant"))
    except Exception as exc:  # a malformed UUID
        if isinstance(exc, Http404 | DomainError):
            raise
        raise Http404 from exc


class ClaimDecideView(APIView):
    """Staff confirm (``confirm``) or reject (``reject``) a pending claim."""

    permission_classes = [IsPerson]
    action_name = "confirm"

    @extend_schema(
        request=None,
        **documented({200: ClaimOutput}, "claim_expired", "claim_not_pending", *SHOP_REFUSALS[:1], *SHOP_REFUSALS[2:]),
    )
    def post(self, request: Request, public_id: Any) -> Response:
        staff = request_person(request)
        claim = Claim.objects.select_related("merchant__city", "merchant__offer", "member").filter(public_id=public_id)
        found = claim.first()
        if found is None:
            raise Http404
        merchant = found.merchant
        if self.action_name == "confirm":
            services.claim_confirm(claim=found, merchant=merchant, staff=staff)
        else:
            services.claim_reject(
                claim=found, merchant=merchant, staff=staff, reason=str(request.data.get("reason", ""))
            )
        found.refresh_from_db()
        return Response(ClaimOutput(found).data)


# --- NFC tags and the QR stand ---------------------------------------------------------------------


class TagInput(serializers.Serializer):
    merchant = serializers.UUIDField()
    label = serializers.CharField(max_length=60)  # type: ignore[assignment]
    kind = serializers.ChoiceField(choices=NfcTag.Kind.choices, default=NfcTag.Kind.PLAIN)
    meta_read_key = serializers.CharField(max_length=32, required=False, allow_blank=True, write_only=True)
    file_read_key = serializers.CharField(max_length=32, required=False, allow_blank=True, write_only=True)


class TagOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    url = serializers.SerializerMethodField()

    class Meta:
        model = NfcTag
        fields = ["id", "label", "kind", "uid", "last_counter", "last_tap_at", "is_active", "url"]

    def get_url(self, obj: NfcTag) -> str:
        from django.urls import reverse

        from .views import SUN_MIRROR

        path = reverse("redemptions:claim", kwargs={"merchant_id": obj.merchant.public_id})
        request = self.context.get("request")
        base = request.build_absolute_uri(path) if request is not None else path
        return f"{base}?t={obj.public_id}" + (SUN_MIRROR if obj.kind == NfcTag.Kind.SUN else "")


class TagsView(APIView):
    """A shop's NFC tags and QR stands (GET ?merchant=), and registering one (POST): each holds the URL of
    the shop's claim page; NTAG 424 DNA tags carry their SUN keys (write-only)."""

    permission_classes = [IsPerson]

    @extend_schema(
        parameters=[OpenApiParameter("merchant", OpenApiTypes.UUID, required=True)],
        **documented({200: TagOutput(many=True)}, "staff_not_authorized"),
    )
    def get(self, request: Request) -> Response:
        merchant = _merchant_param(request)
        services.counter_authorize(merchant=merchant, counter=services.Counter(staff=request_person(request)))
        tags = selectors.tags_of_merchant(merchant=merchant).select_related("merchant")
        return Response({"results": TagOutput(tags, many=True, context={"request": request}).data})

    @extend_schema(request=TagInput, **documented({201: TagOutput}, "staff_not_authorized", "validation_failed"))
    def post(self, request: Request) -> Response:
        data = TagInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        tag = services.tag_register(
            merchant=_merchant(values["merchant"]),
            actor=request_person(request),
            label=values["label"],
            kind=values["kind"],
            meta_read_key=values.get("meta_read_key", ""),
            file_read_key=values.get("file_read_key", ""),
        )
        return Response(TagOutput(tag, context={"request": request}).data, status=status.HTTP_201_CREATED)


class CounterStateView(APIView):
    """What a scanner holds to check codes itself and compute the discount as the bill is typed: the public
    keys and code timing, the offer terms, the shop's state (paused, full: shown as banners) and its offline
    policy. The scanner page embeds it and refreshes it every half minute."""

    permission_classes = [IsPerson | PARTNER]

    @extend_schema(
        parameters=[OpenApiParameter("merchant", OpenApiTypes.UUID, required=True)],
        **documented({200: OpenApiTypes.OBJECT}, "staff_not_authorized", "partner_not_granted"),
    )
    def get(self, request: Request) -> Response:
        merchant = _merchant_param(request)
        services.counter_authorize(merchant=merchant, counter=_counter(request))
        return Response(selectors.counter_state(merchant=merchant))


class OfflineRecordInput(serializers.Serializer):
    id = serializers.UUIDField(
        help_text="The record's id, generated on the scanner (a record sent twice answers once)."
    )
    code = serializers.CharField(max_length=240, help_text="The scanned QR text.")
    bill_fen = BillFenField(allow_null=True, help_text="The bill in fen.")
    scanned_at = serializers.DateTimeField(
        help_text="When it was scanned (the scanner's clock, corrected by the server's)."
    )
    staff = serializers.IntegerField(required=False, allow_null=True, help_text="Who scanned (the page's staff id).")


class OfflineSyncInput(CounterInput):
    records = OfflineRecordInput(many=True, allow_empty=False)

    def validate_records(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > selectors.offline_queue_max():
            raise serializers.ValidationError(f"At most {selectors.offline_queue_max()} records at a time.")
        return value


class OfflineResultOutput(serializers.Serializer):
    id = serializers.UUIDField(source="client_id")
    outcome = serializers.ChoiceField(choices=OfflineRedemption.Outcome.choices)
    reasons = serializers.ListField(child=serializers.CharField())
    redemption = serializers.SerializerMethodField()
    discount_fen = serializers.SerializerMethodField()

    def get_redemption(self, obj: OfflineRedemption) -> str | None:
        return str(obj.redemption.public_id) if obj.redemption_id and obj.redemption else None

    def get_discount_fen(self, obj: OfflineRedemption) -> int | None:
        return obj.redemption.discount_fen if obj.redemption_id and obj.redemption else None


class OfflineSyncView(APIView):
    """The redemptions a scanner accepted while the network was down, judged by their scan time: ``accepted``,
    ``flagged`` (it counts, over a limit or capacity, or the shop paused), ``conflict`` (code used elsewhere, card
    not entitled at the scan: no redemption) or ``refused`` (not a genuine, live code then; older than 24 h)."""

    permission_classes = [IsPerson | PARTNER]

    @extend_schema(
        request=OfflineSyncInput,
        **documented({200: OfflineResultOutput(many=True)}, "staff_not_authorized", "partner_not_granted"),
    )
    def post(self, request: Request) -> Response:
        data = OfflineSyncInput(data=request.data)
        data.is_valid(raise_exception=True)
        merchant = _merchant(data.validated_data["merchant"])
        records = [
            services.OfflineRecord(
                client_id=r["id"],
                code=r["code"],
                bill_fen=r.get("bill_fen"),
                scanned_at=r["scanned_at"],
                staff_id=r.get("staff"),
            )
            for r in data.validated_data["records"]
        ]
        kept = services.offline_sync(records=records, merchant=merchant, counter=_counter(request))
        return Response({"results": OfflineResultOutput(kept, many=True).data})


__all__ = ["REFUSAL_CODES"]


# --- Member events: check-in at the door (POST /api/v1/events/<id>/checkin/) ---------------------------


DOOR_REFUSALS = (
    "event_door_not_authorized",
    "code_invalid",
    "code_expired",
    "code_attempts_exceeded",
    "event_ticket_invalid",
    "event_not_registered",
    "event_already_checked_in",
    "event_not_today",
    "event_on_waitlist",
    "event_payment_pending",
    "event_cancelled",
)


class CheckInInput(serializers.Serializer):
    code = serializers.CharField(max_length=400, help_text="The member's card code (QR or typed) or a registration QR.")


class CheckInOutput(serializers.Serializer):
    registration = serializers.UUIDField(source="checkin.registration.public_id")
    member = serializers.CharField(source="member_masked")
    places = serializers.IntegerField()
    method = serializers.CharField(source="checkin.method")
    checked_in_at = serializers.DateTimeField(source="checkin.at")


class EventCheckInView(APIView):
    """Check a person in at the door, once per registration whichever door scans first."""

    permission_classes = [IsPerson | scoped(EVENTS_SCOPE)]

    @extend_schema(request=CheckInInput, **documented({201: CheckInOutput}, *DOOR_REFUSALS, "event_not_found"))
    def post(self, request: Request, public_id: Any) -> Response:
        data = CheckInInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = door.event_door_scan(
            event=door.door_event(public_id=public_id), text=data.validated_data["code"], counter=_counter(request)
        )
        return Response(CheckInOutput(result).data, status=status.HTTP_201_CREATED)
