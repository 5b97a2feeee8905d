"""Permissions shared by the API: people by session, partner apps by OAuth scope."""

from __future__ import annotations

from typing import Any

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from core.models import User


def request_person(request: Request) -> User:
    """The signed-in person of a request that passed ``IsPerson``."""
    user = request.user
    assert isinstance(user, User)
    return user


def partner_application(request: Request) -> Any | None:
    """The partner application behind an OAuth token, or None for a person."""
    token = getattr(request, "auth", None)
    return getattr(token, "application", None) if hasattr(token, "allow_scopes") else None


def token_has_scopes(request: Request, scopes: tuple[str, ...]) -> bool:
    token = getattr(request, "auth", None)
    return bool(token is not None and hasattr(token, "allow_scopes") and token.allow_scopes(scopes))


def scoped(*scopes: str) -> type[BasePermission]:
    """A permission that lets a partner token through when it carries every scope in ``scopes``."""

    class HasScopes(BasePermission):
        required_scopes = scopes
        message = format_lazy(
            _("This token does not carry the scope this endpoint needs: {scopes}"), scopes=" ".join(scopes)
        )
        code = "insufficient_scope"

        def has_permission(self, request: Request, view: Any) -> bool:
            return token_has_scopes(request, scopes)

    HasScopes.__name__ = "HasScopes_" + "_".join(s.replace(":", "_") for s in scopes)
    return HasScopes


class IsPerson(BasePermission):
    """A signed-in person (session), not a partner token."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_authenticated and not hasattr(request.auth, "allow_scopes"))


class IsOperator(BasePermission):
    """A signed-in member of the ``operator`` group (or a superuser)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or hasattr(request.auth, "allow_scopes"):
            return False
        return bool(user.is_superuser or user.groups.filter(name="operator").exists())
