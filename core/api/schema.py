"""OpenAPI: partner tokens as the OAuth 2 client-credentials scheme with each endpoint's scopes, and the
shared problem+json component with examples for refusal codes (use ``documented`` in ``extend_schema``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import translation
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers


class PartnerOAuth2Scheme(OpenApiAuthenticationExtension):
    """Documents partner tokens as the OAuth 2 client-credentials scheme with the view's scopes."""

    target_class = "core.api.auth.PartnerOAuth2Authentication"
    name = "oauth2"

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        scopes: list[str] = []
        for permission in auto_schema.view.get_permissions():
            scopes.extend(getattr(permission, "required_scopes", ()))
        return {self.name: sorted(set(scopes))}

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        scopes: dict[str, str] = dict(settings.OAUTH2_PROVIDER["SCOPES"])  # type: ignore[call-overload]
        return {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "/o/token/", "scopes": scopes}}}


class ProblemSerializer(serializers.Serializer):
    """application/problem+json (RFC 9457) with a stable ``code``; ``fields`` on validation failures."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    code = serializers.CharField()
    detail = serializers.CharField()
    params = serializers.DictField(required=False)

    class Meta:
        ref_name = "Problem"

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Per-field errors; named "fields", which a class attribute cannot be on a Serializer.
        fields["fields"] = serializers.DictField(
            child=serializers.ListField(child=serializers.DictField(child=serializers.CharField())), required=False
        )
        return fields


def problem_example(code: str, status: int | None = None, detail: str | None = None) -> OpenApiExample:
    """An example problem response for a registered ``code`` (its English message unless ``detail`` is given)."""
    from core.api.errors import problem_body
    from core.errors import CODES

    registered_status, message = CODES.get(code, (400, ""))
    status = status or registered_status
    with translation.override("en"):
        body = problem_body(status=status, code=code, detail=detail or str(message))
    return OpenApiExample(code, value=body, response_only=True, status_codes=[str(status)])


def problem_examples(*codes: str) -> list[OpenApiExample]:
    return [problem_example(code) for code in codes]


def documented(ok: dict[int, Any], *codes: str, extra: tuple[OpenApiExample, ...] = ()) -> dict[str, Any]:
    """``extend_schema`` arguments: the success responses, a problem response for each status that the
    refusal ``codes`` use, and one example per code."""
    from core.errors import CODES

    responses: dict[int, Any] = dict(ok)
    for code in codes:
        responses.setdefault(CODES[code][0], ProblemSerializer)
    return {"responses": responses, "examples": [*extra, *problem_examples(*codes)]}
