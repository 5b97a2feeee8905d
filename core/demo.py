"""Demo people for the platform: an administrator, a curator and an operator."""

from __future__ import annotations

import functools

from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group

from .models import User
from .roles import CURATOR, OPERATOR

DEMO_PASSWORD = "redcard-demo"
#: The demo console accounts' authenticator-app secret (base32): add it to any TOTP app, or print the current
#: code with ``python manage.py demo_totp``. The console asks for it after the password (core.console).
DEMO_TOTP_SECRET = "REDCARDDEMOCONSOLESECRET23456723"


@functools.cache
def _hashed(password: str) -> str:
    # One slow hash for all demo logins (each one would cost about a second of PBKDF2).
    return make_password(password)


def demo_user(email: str, *, display_name: str = "", password: str = DEMO_PASSWORD, **extra: object) -> User:
    """Create (or find) a demo login with a verified e-mail address. Idempotent."""
    user, _ = User.objects.get_or_create(
        email=email, defaults={"display_name": display_name, "password": _hashed(password), **extra}
    )
    EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


def seed(out: list[tuple[str, str, str]]) -> None:
    admin = demo_user("admin@redcard.local", display_name="管理员", is_staff=True, is_superuser=True)
    curator = demo_user("curator@redcard.local", display_name="审核员 Chen", is_staff=True)
    operator = demo_user("operator@redcard.local", display_name="运营 Li", is_staff=True)
    curator.groups.add(Group.objects.get(name=CURATOR))
    operator.groups.add(Group.objects.get(name=OPERATOR))
    for person in (admin, curator, operator):
        demo_second_factor(person)
    out.append(("administrator", admin.email, DEMO_PASSWORD))
    out.append(("curator", curator.email, DEMO_PASSWORD))
    out.append(("operator", operator.email, DEMO_PASSWORD))
    out.append(("console code (TOTP)", "python manage.py demo_totp", DEMO_TOTP_SECRET))


def demo_second_factor(user: User) -> None:
    """The demo console accounts' authenticator app (the console requires a second factor). Idempotent."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, DEMO_TOTP_SECRET)
