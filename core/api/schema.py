"""OpenAPI post-processing: list the partner scopes on the OAuth 2 scheme."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def add_oauth_scopes(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    oauth = schemes.get("oauth2")
    if oauth:
        oauth["flows"]["clientCredentials"]["scopes"] = dict(settings.OAUTH2_PROVIDER["SCOPES"])  # type: ignore[call-overload]
    return result
