"""WeChat sign-in as the source of the payer's openid: inside WeChat's browser a member who goes to pay
and has no openid for our app id goes through WeChat's silent web authorisation (snsapi_base) and back,
against a local server answering WeChat's documented endpoints (tests/members/wechat_signin_server.py),
then the JSAPI checkout of the local WeChat Pay (tests/members/wechatpay_gateway.py) names the payer by that
openid and our page carries the signed WeixinJSBridge parameters. A state we did not issue is refused; a
refused or failed sign-in shows why and falls back to the QR code; no AppSecret: no JSAPI."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.urls import reverse

from members.models import EventPayment, Payment, WeChatOpenid
from tests.factories import UserFactory
from tests.factories.events import EventFactory, member

from .wechat_signin_server import SECRET, FakeWeChatSignin
from .wechatpay_gateway import APPID, FakeWeChatPay

pytestmark = pytest.mark.django_db
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
WECHAT = PHONE + " MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
RETURN = "/membership/wechat/signin/return/"


@pytest.fixture
def wechat(gateway, settings):
    """WeChat Pay (the local gateway) with WeChat sign-in configured against the local authorisation server."""
    fake = FakeWeChatSignin(app_id=APPID)
    fake.start()
    for name, value in fake.settings().items():
        setattr(settings, name, value)
    yield fake
    fake.stop()


def through_wechat(client, location: str) -> str:
    """The member's browser at WeChat's authorisation page: WeChat answers with a redirect to our return page
    (with the code, or without it when refused); returns our return page's path and query."""
    answer = requests.get(location.split("#", maxsplit=1)[0], allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def jsapi_fields(page: str) -> dict[str, str]:
    return {
        name: page.split(f'data-{name}="')[1].split('"', maxsplit=1)[0]
        for name in ("app-id", "time-stamp", "nonce-str", "package", "sign-type", "pay-sign")
    }


def assert_signed_for_weixinjsbridge(gateway: FakeWeChatPay, fields: dict[str, str]) -> None:
    """paySign is RSA-SHA256 over appId, timeStamp, nonceStr and package, one per line, with our merchant
    key: WeChat checks it with our merchant certificate."""
    assert fields["app-id"] == APPID and fields["package"].startswith("prepay_id=wx") and fields["sign-type"] == "RSA"
    message = "\n".join([fields["app-id"], fields["time-stamp"], fields["nonce-str"], fields["package"]]) + "\n"
    gateway.merchant_key.public_key().verify(
        base64.b64decode(fields["pay-sign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_paying_inside_wechat_signs_in_with_wechat_then_the_jsapi_checkout_names_the_openid(gateway, wechat, client):
    user = UserFactory()
    client.force_login(user)
    asked = client.post("/membership/join/", {"plan": "annual"}, headers={"user-agent": WECHAT})
    # off to WeChat's authorisation first: nothing ordered yet
    location = asked["Location"]
    assert location.startswith(wechat.base_url + "/connect/oauth2/authorize?") and location.endswith("#wechat_redirect")
    query = urlsplit(location).query
    assert [pair.split("=")[0] for pair in query.split("&")] == [  # the order WeChat requires
        "appid",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
    ]
    params = {name: values[0] for name, values in parse_qs(query).items()}
    assert params["appid"] == APPID and params["scope"] == "snsapi_base" and params["response_type"] == "code"
    assert urlsplit(params["redirect_uri"]).path == RETURN
    assert not Payment.objects.exists() and gateway.requests_to("checkout") == []

    back = client.get(through_wechat(client, location), headers={"user-agent": WECHAT})
    assert back.status_code == 302 and back["Location"] == reverse("members:join_continue")
    ((token_query),) = wechat.token_requests()  # the code exchanged by our server, with our AppSecret
    assert token_query["appid"] == APPID and token_query["secret"] == SECRET
    assert token_query["grant_type"] == "authorization_code"
    assert WeChatOpenid.objects.get(user=user, app_id=APPID).openid == wechat.openid

    checkout = client.get(back["Location"], headers={"user-agent": WECHAT})
    payment = Payment.objects.get(subscription__user=user)
    ((_, path, body),) = gateway.requests_to("checkout")
    assert path == "/v3/pay/transactions/jsapi" and body["payer"] == {"openid": wechat.openid}
    assert body["out_trade_no"] == payment.public_id.hex and body["appid"] == APPID
    assert checkout["Location"] == payment.checkout_url
    page = client.get(payment.checkout_url, headers={"user-agent": WECHAT}).content.decode()
    assert "js/wechatpay" in page
    assert_signed_for_weixinjsbridge(gateway, jsapi_fields(page))

    # the openid is kept: the next payment inside WeChat goes straight to the checkout
    again = client.post("/membership/join/", {"plan": "annual"}, headers={"user-agent": WECHAT})
    assert again["Location"] == payment.checkout_url and len(wechat.token_requests()) == 1


def test_a_state_we_did_not_issue_is_refused_and_nothing_is_kept(gateway, wechat, client):
    user = UserFactory()
    client.force_login(user)
    assert client.get(RETURN + "?code=abc&state=forged").status_code == 400  # nothing was started
    asked = client.post("/membership/join/", {"plan": "annual"}, headers={"user-agent": WECHAT})
    back = through_wechat(client, asked["Location"])
    forged = back.replace("state=", "state=x")
    refused = client.get(forged, headers={"user-agent": WECHAT})
    assert refused.status_code == 400 and 'data-error-code="wechat_signin_state_invalid"' in refused.content.decode()
    # the pending sign-in is spent: the genuine answer replayed afterwards is refused too
    assert client.get(back, headers={"user-agent": WECHAT}).status_code == 400
    assert wechat.token_requests() == [] and not WeChatOpenid.objects.exists() and not Payment.objects.exists()


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ({"answer": "deny"}, "wechat_signin_declined"),
        ({"snapshot": True}, "wechat_signin_refused"),
        ({"secret": "another-secret"}, "wechat_signin_refused"),
        ({"faults": {"token": "5xx"}}, "wechat_signin_unavailable"),
    ],
)
def test_a_refused_or_failed_signin_explains_and_falls_back_to_the_qr_code(gateway, wechat, client, setup, code):
    for name, value in setup.items():
        setattr(wechat, name, value)
    user = UserFactory()
    client.force_login(user)
    asked = client.post("/membership/join/", {"plan": "annual"}, headers={"user-agent": WECHAT})
    page = client.get(through_wechat(client, asked["Location"]), headers={"user-agent": WECHAT})
    assert page.status_code == 200  # a page with a way on
    text = page.content.decode()
    assert f'data-error-code="{code}"' in text and 'href="/membership/join/continue/"' in text
    assert not WeChatOpenid.objects.exists() and not Payment.objects.exists()

    checkout = client.get("/membership/join/continue/", headers={"user-agent": WECHAT})
    ((_, path, body),) = gateway.requests_to("checkout")
    assert path == "/v3/pay/transactions/native" and "payer" not in body
    shown = client.get(checkout["Location"], headers={"user-agent": WECHAT}).content.decode()
    assert '<img src="data:image/png;base64,' in shown  # pressed and held inside WeChat
    # not asked again in this session
    Payment.objects.all().delete()
    again = client.post("/membership/join/", {"plan": "annual"}, headers={"user-agent": WECHAT})
    assert not again["Location"].startswith(wechat.base_url)


def test_a_code_used_twice_is_refused_by_wechat(gateway, wechat, client):
    client.force_login(UserFactory())
    asked = client.post("/membership/join/", {"plan": "annual"}, headers={"user-agent": WECHAT})
    back = through_wechat(client, asked["Location"])
    code = parse_qs(urlsplit(back).query)["code"][0]
    wechat.codes[code] = True  # spent already (WeChat codes are single-use, five minutes)
    page = client.get(back, headers={"user-agent": WECHAT})
    assert page.status_code == 200 and "40163" in page.content.decode()


def test_without_an_app_secret_jsapi_is_not_offered(gateway, settings, client):
    settings.WECHAT_SIGNIN_SECRET = ""
    user = UserFactory()
    client.force_login(user)
    response = client.post("/membership/join/", {"plan": "annual"}, headers={"user-agent": WECHAT})
    ((_, path, _),) = gateway.requests_to("checkout")
    assert path == "/v3/pay/transactions/native"
    assert response["Location"] == Payment.objects.get(subscription__user=user).checkout_url


def test_renewal_inside_wechat_goes_through_the_signin_too(gateway, wechat, client):
    user = UserFactory()
    client.force_login(user)
    asked = client.post("/membership/renew/", headers={"user-agent": WECHAT})
    assert asked["Location"].startswith(wechat.base_url)
    back = client.get(through_wechat(client, asked["Location"]), headers={"user-agent": WECHAT})
    assert back["Location"] == reverse("members:renew_continue")
    assert WeChatOpenid.objects.filter(user=user).exists()
    # no card to renew: the renewal's own refusal, shown once; a second visit is not a renewal
    refused = client.get(back["Location"], headers={"user-agent": WECHAT}, follow=True)
    assert "membership" in refused.redirect_chain[-1][0]
    assert client.get(back["Location"])["Location"] == reverse("members:membership")


# --- event checkouts pass the channel hint --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "product"),
    [(DESKTOP, "native"), (PHONE, "h5")],
)
def test_event_checkout_follows_the_device_like_the_cards(gateway, client, agent, product):
    event = EventFactory(price_fen=8800, member_price_fen=6800)
    person = member()
    client.force_login(person)
    url = reverse("members:event_register", args=[event.public_id])
    response = client.post(url, headers={"user-agent": agent}, REMOTE_ADDR="203.0.113.7")
    payment = EventPayment.objects.get()
    ((_, path, body),) = gateway.requests_to("checkout")
    assert path == f"/v3/pay/transactions/{product}" and body["amount"]["total"] == 6800
    assert body["out_trade_no"] == payment.public_id.hex
    if product == "h5":
        assert body["scene_info"]["payer_client_ip"] == "203.0.113.7"
        assert urlsplit(response["Location"]).netloc == "wx.tenpay.com"
    else:
        assert response["Location"] == payment.checkout_url


def test_event_checkout_inside_wechat_signs_in_then_pays_by_jsapi(gateway, wechat, client):
    event = EventFactory(price_fen=8800, member_price_fen=6800)
    person = member()
    client.force_login(person)
    asked = client.post(
        reverse("members:event_register", args=[event.public_id]), {"guests": "0"}, headers={"user-agent": WECHAT}
    )
    assert asked["Location"].startswith(wechat.base_url) and not EventPayment.objects.exists()
    back = client.get(through_wechat(client, asked["Location"]), headers={"user-agent": WECHAT})
    assert back["Location"] == reverse("members:event_resume", args=[event.public_id])
    checkout = client.get(back["Location"], headers={"user-agent": WECHAT})
    payment = EventPayment.objects.get()
    ((_, path, body),) = gateway.requests_to("checkout")
    assert path == "/v3/pay/transactions/jsapi" and body["payer"] == {"openid": wechat.openid}
    assert checkout["Location"] == payment.checkout_url
    page = client.get(payment.checkout_url, headers={"user-agent": WECHAT}).content.decode()
    assert_signed_for_weixinjsbridge(gateway, jsapi_fields(page))
    # the intent was taken once
    assert client.get(back["Location"])["Location"] == reverse("members:event", args=[event.public_id])


def test_event_api_registration_passes_the_channel_hint_with_the_kept_openid(gateway, wechat, client):
    event = EventFactory(price_fen=8800, member_price_fen=6800)
    person = member()
    WeChatOpenid.objects.create(user=person, app_id=APPID, openid="oStoredOpenid")
    client.force_login(person)
    response = client.post(
        f"/api/v1/events/{event.public_id}/registrations/",
        {"guests": 0},
        content_type="application/json",
        headers={"user-agent": WECHAT, "idempotency-key": "k1"},
    )
    assert response.status_code == 201, response.content
    ((_, path, body),) = gateway.requests_to("checkout")
    assert path == "/v3/pay/transactions/jsapi" and body["payer"] == {"openid": "oStoredOpenid"}
