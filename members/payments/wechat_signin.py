"""WeChat sign-in for payment: the payer's openid for our official account, which WeChat Pay's JSAPI checkout
(paying inside WeChat's browser) requires.

WeChat's web authorisation (网页授权) with the silent scope ``snsapi_base``: the member's browser goes to
``https://open.weixin.qq.com/connect/oauth2/authorize?appid=…&redirect_uri=…&response_type=code&scope=snsapi_base
&state=…#wechat_redirect`` (the parameters in that order, as WeChat requires), WeChat sends it back to our
``redirect_uri`` with ``code`` and our ``state``, and our server exchanges the code at
``https://api.weixin.qq.com/sns/oauth2/access_token?appid=…&secret=…&code=…&grant_type=authorization_code``,
whose JSON answer names the ``openid`` (an error answers ``errcode``/``errmsg``, still HTTP 200). A member
WeChat shows the "snapshot page" (``is_snapshotuser`` = 1: a virtual account) has not authorised us: that
openid cannot pay and is not kept.

The application is WeChat Pay's (``WECHATPAY_APPID``: the openid must belong to the app id the order names);
its AppSecret is ``WECHAT_SIGNIN_SECRET``. Without it JSAPI is not offered and members inside WeChat pay by
the Native QR code (pressed and held in WeChat); WeChat Pay refuses H5 inside WeChat's own browser.
django-allauth's ``weixin`` provider does not fit (decision 0021): it always calls ``sns/userinfo``, which
``snsapi_base`` may not, and it signs people in rather than adding an openid to the member who is paying.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from core.errors import DomainError
from core.logs import client_ip

from . import WECHATPAY, default_provider_code
from .base import CHANNEL_DESKTOP, CHANNEL_WECHAT, Payer, channel_of
from .wechatpay import setting

AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
TOKEN_URL = "https://api.weixin.qq.com/sns/oauth2/access_token"  # noqa: S105 (an address, not a secret)
SCOPE = "snsapi_base"
#: The session's pending authorisation: our ``state`` and the page to go on to.
SESSION_KEY = "members.wechat_signin"
#: The app id WeChat would not give an openid for in this session (the member pays by QR code instead).
DECLINED_KEY = "members.wechat_signin_declined"

logger = logging.getLogger(__name__)


def app_id() -> str:
    return setting("WECHATPAY_APPID")


def configured() -> bool:
    """Whether JSAPI can be offered: WeChat Pay is the gateway and our official account's id and AppSecret
    are set (without them no openid can be obtained)."""
    return default_provider_code() == WECHATPAY and bool(app_id() and setting("WECHAT_SIGNIN_SECRET"))


def authorize_url(*, state: str) -> str:
    """WeChat's authorisation page for ``state``, coming back to our return page."""
    params = OrderedDict(
        [
            ("appid", app_id()),
            ("redirect_uri", settings.SITE_URL + reverse("members:wechat_signin_return")),
            ("response_type", "code"),
            ("scope", SCOPE),
            ("state", state),
        ]
    )
    base = setting("WECHAT_SIGNIN_AUTHORIZE_URL") or AUTHORIZE_URL
    return f"{base}?{urlencode(params)}#wechat_redirect"


def openid_for_code(code: str) -> str:
    """Exchange an authorisation code for the member's openid (outside any transaction). Raises
    ``wechat_signin_refused`` (WeChat answered an error, e.g. 40029 invalid or used code, or a snapshot-page
    virtual account) and ``wechat_signin_unavailable`` (no answer, 5xx, not JSON)."""
    params = {
        "appid": app_id(),
        "secret": setting("WECHAT_SIGNIN_SECRET"),
        "code": code,
        "grant_type": "authorization_code",
    }
    url = setting("WECHAT_SIGNIN_TOKEN_URL") or TOKEN_URL
    timeout = float(setting("WECHAT_SIGNIN_TIMEOUT") or 10)
    try:
        response = requests.get(url, params=params, timeout=timeout)
        answer: Any = response.json() if response.status_code < 500 else None
    except (requests.RequestException, ValueError) as exc:
        logger.warning("WeChat sign-in: no answer from the code exchange (%s)", type(exc).__name__)
        raise DomainError("wechat_signin_unavailable") from exc
    if not isinstance(answer, dict):
        logger.warning("WeChat sign-in: HTTP %s from the code exchange", response.status_code)
        raise DomainError("wechat_signin_unavailable")
    if answer.get("errcode") or not answer.get("openid"):
        logger.warning("WeChat sign-in refused: %s %s", answer.get("errcode"), answer.get("errmsg"))
        raise DomainError("wechat_signin_refused", reason=answer.get("errcode") or "openid")
    if str(answer.get("is_snapshotuser", "0")) == "1":
        raise DomainError("wechat_signin_refused", reason="is_snapshotuser")
    return str(answer["openid"])


# --- the request's side -----------------------------------------------------------------------------------


def signin_needed(request: HttpRequest) -> bool:
    """A member inside WeChat who is about to pay through WeChat Pay and has no openid for our app yet (and
    has not declined in this session): send them through :func:`signin_start` first."""
    from ..selectors import wechat_openid

    if channel_of(request.headers.get("User-Agent", "")) != CHANNEL_WECHAT or not configured():
        return False
    if request.session.get(DECLINED_KEY) == app_id():
        return False
    return not wechat_openid(user=request.user, app_id=app_id())  # type: ignore[arg-type]


def signin_start(request: HttpRequest, *, then: str) -> str:
    """Remember a fresh ``state`` and the page to go on to (``then``: one of ours), and return WeChat's
    authorisation page to send the member to."""
    state = secrets.token_urlsafe(24)
    request.session[SESSION_KEY] = {"state": state, "then": then}
    return authorize_url(state=state)


def openid_of(request: HttpRequest) -> str:
    """The member's kept openid for WeChat Pay's application, or ``""`` (WeChat Pay's agreement signing
    inside WeChat names the member by it when known)."""
    from ..selectors import wechat_openid

    if default_provider_code() != WECHATPAY:
        return ""
    return wechat_openid(user=request.user, app_id=app_id())  # type: ignore[arg-type]


def payer_of(request: HttpRequest) -> Payer:
    """What the gateway needs of the payer of this request. Inside WeChat with WeChat Pay: JSAPI with the
    member's openid, or, without one (sign-in not configured, declined), the Native QR code the member presses
    and holds in WeChat. Elsewhere: the device's channel and the address (WeChat Pay H5 needs it)."""
    from ..selectors import wechat_openid

    channel = channel_of(request.headers.get("User-Agent", ""))
    address = client_ip(request)
    if channel != CHANNEL_WECHAT or default_provider_code() != WECHATPAY:
        return Payer(channel=channel, client_ip=address)
    openid = wechat_openid(user=request.user, app_id=app_id()) if configured() else ""  # type: ignore[arg-type]
    if openid:
        return Payer(channel=CHANNEL_WECHAT, client_ip=address, openid=openid)
    return Payer(channel=CHANNEL_DESKTOP, client_ip=address)
