"""Signed-out visitors on a shop's stand or tag page and on the merchant application see what the page is about
first (the shop and its offer; what joining means), then sign in or up and come back where they were (issue 14)."""

from urllib.parse import quote

import pytest
from django.contrib.auth.models import Group

from curation.models import WantedShop
from curation.wanted import services as wanted
from tests.factories import DistrictFactory, UserFactory
from tests.factories.core import PASSWORD
from tests.factories.members import paid_subscription
from tests.factories.merchants import MerchantFactory

pytestmark = pytest.mark.django_db


def test_the_stand_page_shows_the_shop_and_offer_then_signing_in_comes_back(client):
    shop = MerchantFactory(name_zh="弄堂面馆", offer__rate_bp=1500, address="复兴中路 8 号")
    url = f"/r/m/{shop.public_id}/claim/"
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "弄堂面馆" in html and "15%" in html and "复兴中路 8 号" in html
    assert f"/accounts/login/?next={quote(url, safe='')}" in html
    assert f"/accounts/signup/?next={quote(url, safe='')}" in html and 'href="/membership/join/"' in html

    person = paid_subscription().user
    signed_in = client.post(f"/accounts/login/?next={quote(url)}", {"login": person.email, "password": PASSWORD})
    assert signed_in["Location"] == url
    assert 'name="bill"' in client.get(url).content.decode()  # back on the shop's page, ready for the bill


def test_a_tag_tap_keeps_its_parameters_through_sign_in(client):
    shop = MerchantFactory()
    url = f"/r/m/{shop.public_id}/claim/?t=0b3f1c2e-0000-4000-8000-000000000000&picc=AB&cmac=CD"
    html = client.get(url).content.decode()
    assert quote(url, safe="") in html  # the whole tap (tag, counter, MAC) comes back after signing in


def test_a_signed_out_post_on_the_stand_page_goes_to_sign_in_and_writes_nothing(client):
    shop = MerchantFactory()
    response = client.post(f"/r/m/{shop.public_id}/claim/", {"bill": "80"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    assert not shop.claims.exists()


def test_the_application_page_explains_joining_before_asking_to_sign_in(client):
    html = client.get("/curation/apply/").content.decode()
    assert 'id="apply-pitch"' in html and "统一社会信用代码" in html
    assert "/accounts/signup/?next=%2Fcuration%2Fapply%2F" in html


def test_an_invitation_link_names_the_shop_and_survives_sign_in(client):
    district = DistrictFactory()
    member = UserFactory()
    wanted.nomination_submit(
        member=member,
        city=district.city,
        district=district,
        name="巷口馄饨",
        lat=None,
        lng=None,
        address="巨鹿路 10 号",
    )
    curator = UserFactory(is_staff=True)
    curator.groups.add(Group.objects.get(name="curator"))
    link = wanted.wanted_invite(shop=WantedShop.objects.get(), actor=curator)
    path = link[link.index("/curation/") :]
    html = client.get(path).content.decode()
    assert "巷口馄饨" in html and quote(path, safe="") in html

    owner = UserFactory()
    client.force_login(owner)
    form = client.get(path).content.decode()
    assert 'value="巷口馄饨"' in form  # signed in, the invitation still prefills the application


def test_the_claim_screen_says_the_amount_is_above_and_its_breakdown_is_not_greyed(client):
    from redemptions.counter import services

    member = paid_subscription().user
    claim = services.claim_create(member=member, merchant=MerchantFactory(), bill="80")
    client.force_login(member)
    html = client.get(f"/r/claims/{claim.public_id}/").content.decode()
    assert "请按上方金额付款" in html
    breakdown = html[html.index('class="rc-live-breakdown"') :]
    assert "消费 ¥80.00" in breakdown[:80]
