from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import factory
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.utils import timezone
from oauth2_provider.models import AccessToken, set_token_value

from core.models import PartnerApplication, User

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    display_name = factory.Sequence(lambda n: f"用户{n}")
    language = "zh-hans"

    @factory.post_generation
    def password(obj: User, create: bool, extracted: str | None, **kwargs: object) -> None:
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])
            EmailAddress.objects.get_or_create(user=obj, email=obj.email, defaults={"verified": True, "primary": True})


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group
        django_get_or_create = ("name",)

    name = "curator"


class PartnerApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerApplication

    name = factory.Sequence(lambda n: f"Partner {n}")
    client_type = PartnerApplication.CLIENT_CONFIDENTIAL
    authorization_grant_type = PartnerApplication.GRANT_CLIENT_CREDENTIALS
    allowed_scopes = "members:read"
    client_secret = "partner-secret"  # hashed on save; tests post this plain value


def access_token_for(application: PartnerApplication, scopes: str, *, expires_in: int = 3600) -> AccessToken:
    """A token as /o/token/ would issue it (stored hashed); ``.token`` holds the raw bearer value in memory."""
    raw = secrets.token_urlsafe(24)
    token = AccessToken(application=application, scope=scopes, expires=timezone.now() + timedelta(seconds=expires_in))
    set_token_value(token, raw)
    token.save()
    token.token = raw  # in memory only, for the test's Authorization header
    return token


def second_factor_session(session: Any, user: User) -> None:
    """Give ``user`` an authenticator app (allauth.mfa TOTP) and record in ``session`` that it was used, as
    allauth does after the second login step (``core.console`` lets only such sessions into the console)."""
    import time

    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if authenticator is None:
        authenticator = TOTP.activate(user, generate_totp_secret()).instance
    session["account_authentication_methods"] = [
        {"method": "password", "at": time.time(), "email": user.email},
        {"method": "mfa", "at": time.time(), "id": authenticator.pk, "type": "totp"},
    ]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()
