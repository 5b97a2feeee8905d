"""Reads of the platform that other apps reuse."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import User


def people_in_role(*, role: str) -> QuerySet[User]:
    """Active people in the role's group (``core.roles.CURATOR``, ``OPERATOR``), by e-mail."""
    return User.objects.filter(is_active=True, groups__name=role).order_by("email")
