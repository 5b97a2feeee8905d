"""Real Chromium through the partner consent (issue 16): a partner app, served on loopback, sends a signed-in
member to RedCard's consent page; the member allows (or refuses) and the browser lands back on the partner's
redirect URI. On *Allow* the partner's server trades the one-time code for the member token over the API, so
the token is never in the browser's address bar; on *Cancel* nothing is linked."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import Request, urlopen

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from merchants.models import PartnerGrant
from redemptions.counter.services import partner_orders
from redemptions.models import PartnerLink, PartnerLinkCode
from tests.e2e.conftest import console_errors, sign_in, submit
from tests.factories import PartnerApplicationFactory
from tests.factories.core import access_token_for
from tests.factories.redemptions import member_with_card, shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STATE = "st-4f9a"


class PartnerApp:
    """A partner platform's web app on 127.0.0.1: ``/start`` sends the member to RedCard's consent page; the
    callback checks ``state`` and, given a code, trades it at RedCard's token endpoint with the app's bearer
    token, as the partner's server would; it remembers every callback URL and what the exchange answered."""

    def __init__(self, redcard: str) -> None:
        self.redcard = redcard
        self.client_id = ""
        self.bearer = ""
        self.callbacks: list[str] = []
        self.exchanged: list[dict[str, Any]] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/start":
                    query = urlencode({"redirect_uri": app.redirect_uri, "state": STATE})
                    self.send_response(302)
                    self.send_header("Location", f"{app.redcard}/r/partners/link/{app.client_id}/?{query}")
                    self.end_headers()
                    return
                if parts.path != urlsplit(app.redirect_uri).path:  # the browser's /favicon.ico
                    self.send_response(204)
                    self.end_headers()
                    return
                app.callbacks.append(self.path)
                query = parse_qs(parts.query)
                if query.get("state") != [STATE]:
                    text = "state mismatch"
                elif "code" in query:
                    answer = app.exchange(query["code"][0])
                    app.exchanged.append(answer)
                    text = f"linked {answer['link']}"
                else:
                    text = f"refused: {query.get('error', ['?'])[0]}"
                body = f"<!doctype html><title>partner</title><p id='result'>{escape(text)}</p>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.redirect_uri = f"{self.origin}/redcard/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def exchange(self, code: str) -> dict[str, Any]:
        body = json.dumps({"code": code, "redirect_uri": self.redirect_uri}).encode()
        request = Request(  # noqa: S310 - the live server on loopback
            f"{self.redcard}/api/v1/redemptions/partner-links/token/",
            data=body,
            headers={"Authorization": f"Bearer {self.bearer}", "Content-Type": "application/json"},
            method="POST",
        )
        with urlopen(request, timeout=20) as answer:  # noqa: S310 - the live server on loopback
            return json.loads(answer.read())


@pytest.fixture
def partner(live_server) -> Iterator[PartnerApp]:
    app = PartnerApp(live_server.url)
    app.thread.start()
    yield app
    app.server.shutdown()
    app.server.server_close()


def registered(partner: PartnerApp):
    """The partner's application at RedCard, allowed ``consumption:write`` and granted it by a shop."""
    application = PartnerApplicationFactory(
        allowed_scopes="consumption:write", redirect_uris=partner.redirect_uri, name="美味外卖"
    )
    PartnerGrant.objects.create(merchant=shop(), application=application, scopes="consumption:write")
    partner.client_id = application.client_id
    partner.bearer = access_token_for(application, "consumption:write").token
    return application


def to_consent(browser, live_server, partner: PartnerApp):
    member = member_with_card()
    driver = browser()
    sign_in(driver, live_server, member)
    driver.get(partner.origin + "/start")  # the partner app sends the member to RedCard
    WebDriverWait(driver, 20).until(lambda d: "/r/partners/link/" in d.current_url)
    assert "美味外卖" in driver.find_element(By.TAG_NAME, "h1").text
    return driver, member


def back_at_partner(driver, partner: PartnerApp) -> str:
    WebDriverWait(driver, 20).until(lambda d: d.current_url.startswith(partner.redirect_uri))
    return driver.find_element(By.ID, "result").text


def test_the_member_allows_and_returns_to_the_partner_which_gets_the_token_by_code(browser, live_server, partner):
    application = registered(partner)
    driver, member = to_consent(browser, live_server, partner)
    assert not PartnerLink.objects.exists()
    submit(driver, "button[value=allow]")
    result = back_at_partner(driver, partner)
    link = PartnerLink.objects.get()
    assert result == f"linked {link.public_id}"
    assert (link.member, link.application, link.is_live) == (member, application, True)
    (callback,) = partner.callbacks
    query = parse_qs(urlsplit(callback).query)
    assert set(query) == {"code", "state"} and query["state"] == [STATE]
    token = partner.exchanged[0]["member_token"]
    assert token.startswith("rcm_") and token not in driver.current_url and "rcm_" not in callback
    assert partner_orders.linked_member(application=application, token=token) == member
    assert PartnerLinkCode.objects.get().used_at is not None
    assert not console_errors(driver)  # no CSP refusal on the way back to the partner


def test_the_member_refuses_and_returns_to_the_partner_with_nothing_linked(browser, live_server, partner):
    registered(partner)
    driver, _member = to_consent(browser, live_server, partner)
    submit(driver, "button[value=deny]")
    assert back_at_partner(driver, partner) == "refused: access_denied"
    (callback,) = partner.callbacks
    assert parse_qs(urlsplit(callback).query) == {"error": ["access_denied"], "state": [STATE]}
    assert not PartnerLink.objects.exists() and not PartnerLinkCode.objects.exists()
    assert partner.exchanged == []
