"""Partner apps: OAuth 2 client credentials with scopes limited to what admin granted."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory

from core.api.permissions import scoped
from core.api.views import APIView
from tests.factories import PartnerApplicationFactory, access_token_for

pytestmark = pytest.mark.django_db


def request_token(app, scope=None):
    data = {"grant_type": "client_credentials", "client_id": app.client_id, "client_secret": "partner-secret"}
    if scope is not None:
        data["scope"] = scope
    return APIClient().post("/o/token/", data, format="multipart")


def test_client_credentials_token_is_issued_with_the_granted_scopes():
    app = PartnerApplicationFactory(allowed_scopes="members:read notes:write")
    response = request_token(app)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert set(body["scope"].split()) == {"members:read", "notes:write"}

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + body["access_token"])
    whoami = client.get("/api/v1/partner/")
    assert whoami.status_code == 200
    assert whoami.json()["name"] == app.name
    assert whoami.json()["scopes"] == ["members:read", "notes:write"]


def test_a_scope_that_was_not_granted_cannot_be_obtained():
    app = PartnerApplicationFactory(allowed_scopes="members:read")
    response = request_token(app, scope="members:read members:refund")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert request_token(app, scope="members:read").status_code == 200


def test_wrong_secret_gets_no_token():
    app = PartnerApplicationFactory()
    data = {"grant_type": "client_credentials", "client_id": app.client_id, "client_secret": "nope"}
    response = APIClient().post("/o/token/", data, format="multipart")
    assert response.status_code == 401


class NeedsRefund(APIView):
    permission_classes = [scoped("members:refund")]

    def get(self, request):
        return Response({"ok": True})


def call(view_class, token):
    request = APIRequestFactory().get("/x", HTTP_AUTHORIZATION=f"Bearer {token.token}")
    return view_class.as_view()(request)


def test_scopes_are_enforced_per_endpoint():
    app = PartnerApplicationFactory(allowed_scopes="members:read members:refund")
    narrow = access_token_for(app, "members:read")
    wide = access_token_for(app, "members:read members:refund")
    denied = call(NeedsRefund, narrow)
    assert denied.status_code == 403
    assert denied.data["code"] == "insufficient_scope"
    assert "members:refund" in denied.data["detail"]
    assert call(NeedsRefund, wide).status_code == 200
    assert issubclass(scoped("a:b"), BasePermission)


@pytest.mark.parametrize("kind", ["expired", "invalid"])
def test_expired_or_invalid_token_is_401(kind):
    app = PartnerApplicationFactory(allowed_scopes="members:read")
    token = access_token_for(app, "members:read")
    if kind == "expired":
        token.expires = timezone.now() - timedelta(seconds=1)
        token.save()
        value = token.token
    else:
        value = "not-a-token"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    response = client.get("/api/v1/partner/")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_authenticated"


def test_a_partner_call_loads_its_token_and_application_in_one_query(django_assert_num_queries):
    """The validator reads the token joined to its application (no ORM compile per request); the
    application is the one the token belongs to, with its granted scopes."""
    from core.oauth import PartnerValidator

    app = PartnerApplicationFactory(allowed_scopes="members:read", name="收银台")
    token = access_token_for(app, "members:read")
    with django_assert_num_queries(1):
        loaded = PartnerValidator()._load_access_token(token.token)
        assert loaded.application.name == "收银台" and loaded.application.allowed_scopes == "members:read"
        assert loaded.pk == token.pk and loaded.is_valid(["members:read"]) and not loaded.is_valid(["ops:read"])
        assert loaded.user is None  # client credentials: no person behind the token
    assert PartnerValidator()._load_access_token("not-a-token") is None


def test_a_revoked_token_stops_working_on_the_next_call():
    app = PartnerApplicationFactory(allowed_scopes="members:read")
    token = access_token_for(app, "members:read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    assert client.get("/api/v1/partner/").status_code == 200
    token.revoke()
    assert client.get("/api/v1/partner/").status_code == 401
