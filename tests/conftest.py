"""Fixtures shared by the whole suite (factories live in tests/factories)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils import translation
from rest_framework.test import APIClient

from tests.factories import PartnerApplicationFactory, UserFactory, access_token_for


@pytest.fixture(autouse=True)
def _clean_cache_and_language():
    cache.clear()
    translation.activate("zh-hans")
    yield
    translation.deactivate()
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def person_client(user) -> APIClient:
    """An API client signed in as ``user`` through the session."""
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def partner_client(db):
    """``partner_client("scope another:scope")`` -> (client, application) with a bearer token."""

    def make(scopes: str, **app_fields):
        app = PartnerApplicationFactory(allowed_scopes=scopes, **app_fields)
        token = access_token_for(app, scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
        return client, app

    return make
