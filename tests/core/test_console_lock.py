"""Issue 18, part 2: the console is locked. Its login is allauth's (rate limited), and everyone who can reach
it works there only in a session that passed a second factor (allauth.mfa: TOTP, WebAuthn, recovery codes).
These tests go through allauth's real pages: no pre-passed factor (``real_mfa``)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time

from tests.factories import UserFactory
from tests.factories.core import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.real_mfa]


def totp_now(secret: str) -> str:
    counter = next(iter(yield_hotp_counters_from_time()))
    return format_hotp_value(hotp_value(secret, counter))


@pytest.fixture
def operator(db):
    return UserFactory(is_staff=True, is_superuser=True, email="ops@example.com")


def form_error_codes(response) -> list[str]:
    if not response.context or "form" not in response.context:
        return []
    return [e.code for errors in response.context["form"].errors.as_data().values() for e in errors]


def sign_in(client, user, next_url="/admin/"):
    return client.post(f"/accounts/login/?next={next_url}", {"login": user.email, "password": PASSWORD})


def test_admin_login_is_allauths_and_comes_back_to_the_console(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    login = client.get(response["Location"])
    assert login.status_code == 302
    target = urlsplit(login["Location"])
    assert target.path == "/accounts/login/" and parse_qs(target.query)["next"] == ["/admin/"]
    # An outside address in ?next= is not followed.
    outside = client.get("/admin/login/?next=https://evil.example/")
    assert parse_qs(urlsplit(outside["Location"]).query)["next"] == ["/admin/"]


def test_thirty_wrong_console_passwords_are_cut_off_by_allauths_limits(client, operator):
    """Issue 18: 30 wrong passwords at /admin/login/ all got 200 and the right one then logged in."""
    statuses = []
    for _ in range(30):
        client.post("/admin/login/", {"username": operator.email, "password": "wrong"})  # no form here any more
        statuses.append(client.post("/accounts/login/?next=/admin/", {"login": operator.email, "password": "x"}))
    assert "_auth_user_id" not in client.session
    sign_in(client, operator)
    assert "_auth_user_id" not in client.session  # the right password is refused while the limit holds
    limited = [r for r in statuses if r.status_code == 429 or "too_many_login_attempts" in form_error_codes(r)]
    assert len(limited) >= 25


@pytest.mark.django_db(transaction=True)  # allauth announces the new authenticator on commit, inside the request
def test_staff_without_a_second_factor_enrols_an_authenticator_app_then_reaches_the_console(client, operator):
    assert sign_in(client, operator).status_code == 302
    assert client.session["_auth_user_id"] == str(operator.pk)
    # Signed in, but the console sends them to add a second factor first.
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/"
    assert client.get("/admin/members/plan/").status_code == 302
    # Enrolling asks for the password again first (allauth's reauthentication), then shows the secret; a code
    # from it activates the authenticator.
    ask = client.get("/accounts/2fa/totp/activate/")
    assert ask.status_code == 302 and ask["Location"].startswith("/accounts/reauthenticate/")
    assert client.post(ask["Location"], {"password": PASSWORD}).status_code == 302
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = page.context["form"].secret
    wrong = client.post("/accounts/2fa/totp/activate/", {"code": "000000" if totp_now(secret) != "000000" else "1"})
    assert wrong.status_code == 200 and not Authenticator.objects.filter(user=operator).exists()
    done = client.post("/accounts/2fa/totp/activate/", {"code": totp_now(secret)})
    assert done.status_code == 302
    kinds = set(Authenticator.objects.filter(user=operator).values_list("type", flat=True))
    assert kinds == {"totp", "recovery_codes"}
    # The enrolment proved the factor in this session: the console opens.
    assert client.get("/admin/").status_code == 200


def test_an_enrolled_operator_needs_the_code_at_every_sign_in(client, operator):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    TOTP.activate(operator, secret)
    response = sign_in(client, operator)
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session  # the password alone does not sign in
    assert client.get("/admin/").status_code == 302
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "12345"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    ok = client.post("/accounts/2fa/authenticate/", {"code": totp_now(secret)})
    assert ok.status_code == 302 and ok["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_recovery_code_stands_in_for_a_lost_authenticator(client, operator):
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(operator, generate_totp_secret())
    codes = RecoveryCodes.activate(operator).generate_codes()
    sign_in(client, operator)
    ok = client.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert ok.status_code == 302
    assert client.get("/admin/").status_code == 200
    client.post("/accounts/logout/")
    sign_in(client, operator)
    reused = client.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert reused.status_code == 200 and "_auth_user_id" not in client.session  # each code works once


def test_a_session_without_the_second_factor_is_asked_for_it_again(client, operator):
    """A session made another way (or before enrolling) must pass the factor before the console opens."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    TOTP.activate(operator, secret)
    client.force_login(operator)
    response = client.get("/admin/members/plan/")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == "/accounts/2fa/reauthenticate/"
    assert parse_qs(target.query)["next"] == ["/admin/members/plan/"]
    done = client.post(response["Location"], {"code": totp_now(secret)})
    assert done.status_code == 302 and done["Location"] == "/admin/members/plan/"
    assert client.get("/admin/members/plan/").status_code == 200


def test_security_keys_are_offered_for_enrolment(client, operator):
    """WebAuthn (security keys, passkeys) is one of the offered factors; registering one needs a browser
    authenticator (not driven here)."""
    sign_in(client, operator)
    page = client.get("/accounts/2fa/").content.decode()
    assert "/accounts/2fa/webauthn/add/" in page and "/accounts/2fa/totp/activate/" in page
    ask = client.get("/accounts/2fa/webauthn/add/")
    assert ask["Location"].startswith("/accounts/reauthenticate/")
    client.post(ask["Location"], {"password": PASSWORD})
    assert client.get("/accounts/2fa/webauthn/add/").status_code == 200


def test_people_who_cannot_reach_the_console_are_not_asked_for_a_second_factor(client):
    member = UserFactory()
    sign_in(client, member, next_url="/")
    assert client.session["_auth_user_id"] == str(member.pk)
    assert client.get("/membership/").status_code == 200
    assert client.get("/admin/").status_code == 302  # the admin's own refusal: not staff
    assert re.match(r"^/admin/login/", client.get("/admin/")["Location"])
