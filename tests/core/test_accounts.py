"""Sign-in for people: sign up with e-mail verification, password reset, rate-limited login, roles."""

import re

import pytest
from django.contrib.auth.models import Group
from django.core import mail

from core.models import User
from tests.factories import UserFactory
from tests.factories.core import PASSWORD

pytestmark = pytest.mark.django_db


def link_in(message):
    return re.search(r"http://testserver(/\S+)", message.body).group(1)


def test_sign_up_requires_verifying_the_email_address_with_a_code(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": "a long pass phrase 42", "password2": "a long pass phrase 42"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert User.objects.filter(email="new@example.com").exists()
    assert client.get("/api/v1/me/").status_code in (401, 403)  # not signed in until verified

    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert body.splitlines()[0] == "您好，这里是小红卡！"  # not allauth's "Hello from testserver!"
    assert "testserver" not in body  # the site is named, not the request's host
    assert body.rstrip().endswith("http://127.0.0.1:8000")  # SITE_URL, not the request's host
    code = re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})$", body, re.MULTILINE).group(1)
    assert client.post("/accounts/confirm-email/", {"code": "AAAA-AAAA"}).status_code == 200  # a wrong code
    assert client.get("/api/v1/me/").status_code in (401, 403)
    assert client.post("/accounts/confirm-email/", {"code": code}).status_code == 302
    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["email"] == "new@example.com"


def test_password_reset_by_email(client):
    person = UserFactory()
    client.post("/accounts/password/reset/", {"email": person.email})
    assert len(mail.outbox) == 1
    reset_url = link_in(mail.outbox[0])
    page = client.get(reset_url, follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else reset_url
    done = client.post(form_url, {"password1": "brand new phrase 77", "password2": "brand new phrase 77"})
    assert done.status_code == 302
    person.refresh_from_db()
    assert person.check_password("brand new phrase 77")


def test_repeated_failed_logins_are_rate_limited(client):
    person = UserFactory()
    for _ in range(5):
        response = client.post("/accounts/login/", {"login": person.email, "password": "wrong"})
        assert response.status_code == 200
    blocked = client.post("/accounts/login/", {"login": person.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session  # even the right password is refused now
    codes = [e.code for errors in blocked.context["form"].errors.as_data().values() for e in errors]
    assert "too_many_login_attempts" in codes


def test_correct_login_signs_in(client):
    person = UserFactory()
    response = client.post("/accounts/login/", {"login": person.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(person.pk)


def test_sign_in_pages_use_the_site_layout(client):
    for url in ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"]:
        page = client.get(url).content.decode()
        assert "css/site.css" in page and 'class="topbar"' in page, url


def test_curator_and_operator_roles_exist_with_permissions():
    curator, operator = Group.objects.get(name="curator"), Group.objects.get(name="operator")
    assert curator.permissions.filter(codename="view_auditentry").exists()
    assert operator.permissions.filter(codename="add_partnerapplication").exists()
    assert not curator.permissions.filter(codename="add_partnerapplication").exists()
