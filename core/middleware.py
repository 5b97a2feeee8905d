"""A strict Content-Security-Policy on every response: no inline scripts, nothing from other hosts."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def build_policy(style_attributes: bool = False) -> str:
    policy = {name: list(values) for name, values in settings.CSP_POLICY.items()}
    if style_attributes:
        # Swagger UI and the admin set style="" at run time; scripts stay strict.
        policy["style-src"] = [*policy.get("style-src", []), "'unsafe-inline'"]
    return "; ".join(f"{name} {' '.join(values)}" for name, values in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.strict = build_policy()
        self.relaxed_styles = build_policy(style_attributes=True)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            relaxed = any(request.path.startswith(p) for p in settings.CSP_STYLE_ATTRIBUTE_PATHS)
            response["Content-Security-Policy"] = self.relaxed_styles if relaxed else self.strict
        return response
