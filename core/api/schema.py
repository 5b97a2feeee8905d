"""OpenAPI: partner tokens appear as the OAuth 2 client-credentials scheme, with each endpoint's scopes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
