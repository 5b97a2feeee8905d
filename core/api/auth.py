"""Authentication for partner apps (OAuth 2 client credentials)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.request import Request


class PartnerOAuth2Authentication(OAuth2Authentication):
    """A client-credentials token authenticates the application, not a person.

    ``request.user`` is then anonymous and ``request.auth`` is the access token;
    views reach partner features only through scope permissions.
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        return (user if user is not None else AnonymousUser()), token
