"""A new visitor's way to a card (issue 14, item 1): the join page sells, the chosen plan survives sign-up and the
e-mail code, checkout follows by itself, and the member lands on the card; trial members see days left."""

import re

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from members.models import Subscription
from members.services.subscriptions import trial_start
from merchants.models import MerchantStaff
from tests.factories import UserFactory
from tests.factories.core import PASSWORD
from tests.factories.merchants import MerchantFactory, MerchantStaffFactory

pytestmark = pytest.mark.django_db

PHRASE = "a long pass phrase 42"


def sign_up_and_verify(client, email: str):
    """Fill the sign-up form the join page led to, then type the code of the e-mail; returns the last response."""
    signup_url = client.post("/membership/join/", {"plan": client.chosen_plan})["Location"]
    assert signup_url.startswith("/accounts/signup/?next=")
    page = client.get(signup_url)
    assert page.status_code == 200
    signed_up = client.post(signup_url, {"email": email, "password1": PHRASE, "password2": PHRASE})
    assert signed_up["Location"] == "/accounts/confirm-email/"
    code = re.search(r"^([A-Z0-9]{4}-[A-Z0-9]{4})$", mail.outbox[-1].body, re.MULTILINE).group(1)
    return client.post("/accounts/confirm-email/", {"code": code})


def test_a_new_visitor_goes_from_join_to_checkout_without_choosing_again_and_lands_on_the_card(plans, client):
    client.chosen_plan = "annual"
    verified = sign_up_and_verify(client, "new@example.com")
    assert verified["Location"] == "/membership/join/continue/"
    checkout_url = client.get(verified["Location"])["Location"]
    assert checkout_url.startswith("/membership/sandbox/checkout/")  # no second choice of the plan
    back = client.post(checkout_url, {"action": "pay"})
    landed = client.get(back["Location"])
    assert landed["Location"] == "/r/card/"
    card = client.get(landed["Location"]).content.decode()
    assert 'id="rc-qr"' in card
    assert Subscription.objects.get(user__email="new@example.com").state == "active"


def test_the_plan_is_taken_once(plans, client):
    client.chosen_plan = "annual"
    sign_up_and_verify(client, "once@example.com")
    client.get("/membership/join/continue/")
    assert client.get("/membership/join/continue/")["Location"] == "/membership/join/"


def test_a_new_visitor_starting_the_trial_lands_on_the_card_with_the_days_left(plans, client):
    client.chosen_plan = "trial"
    verified = sign_up_and_verify(client, "trial@example.com")
    landed = client.get(verified["Location"])
    assert landed["Location"] == "/r/card/"
    card = client.get("/r/card/").content.decode()
    assert 'id="rc-trial"' in card and "还剩 90 天" in card
    assert "/membership/#upgrade" in card
    assert "¥0 / 年费 ¥0" not in card and "年费 ¥168" in card  # the trial's meter runs against the card's fee


def test_an_existing_member_signing_in_keeps_the_plan(plans, client):
    person = UserFactory()
    signup_url = client.post("/membership/join/", {"plan": "annual"})["Location"]
    login_url = "/accounts/login/?next=/membership/join/continue/"
    assert "next=%2Fmembership%2Fjoin%2Fcontinue%2F" in signup_url
    signed_in = client.post(login_url, {"login": person.email, "password": PASSWORD})
    assert signed_in["Location"] == "/membership/join/continue/"
    assert client.get(signed_in["Location"])["Location"].startswith("/membership/sandbox/checkout/")


def test_the_join_page_sells_with_shops_savings_and_plain_terms(plans, client):
    best = MerchantFactory(name_zh="好味小馆", offer__rate_bp=1500)
    MerchantFactory(name_zh="街角咖啡")
    html = client.get("/membership/join/").content.decode()
    assert "最高 15% 折扣" in html or "15%" in html
    assert best.name_zh in html and "街角咖啡" in html
    assert html.index(best.name_zh) < html.index("街角咖啡")  # best offers first
    assert "¥480" in html  # ¥400 a month at the 10% floor for a year
    assert 'id="terms"' in html and "7 天" in html and "90 天" in html


def test_membership_page_shows_trial_days_left_and_opens_the_real_card(plans, client):
    member = UserFactory()
    with time_machine.travel(timezone.now(), tick=False):
        trial_start(user=member)
        client.force_login(member)
        html = client.get("/membership/").content.decode()
    assert 'id="trial-left"' in html and "还剩 90 天" in html
    assert 'href="/r/card/" id="open-card"' in html


def test_the_console_hub_links_scan_dashboard_stand_and_staff(client):
    owner_row = MerchantStaffFactory(role=MerchantStaff.Role.OWNER)
    shop = owner_row.merchant
    client.force_login(owner_row.user)
    hub = client.get(f"/merchants/console/{shop.public_id}/").content.decode()
    start = hub.index('class="hub"')
    nav = hub[start : hub.index("</nav>", start)]
    for url in (
        f"/r/scan/{shop.public_id}/",
        f"/r/dashboard/{shop.public_id}/",
        f"/r/scan/{shop.public_id}/stand/",
        f"/merchants/console/{shop.public_id}/staff/",
    ):
        assert url in nav, url

    staff_row = MerchantStaffFactory(merchant=shop)
    client.force_login(staff_row.user)
    staff_view = client.get(f"/merchants/console/{shop.public_id}/").content.decode()
    assert f"/r/scan/{shop.public_id}/" in staff_view
    assert f"/r/dashboard/{shop.public_id}/" not in staff_view  # the figures are the owner's
