"""Real Chromium with its network switched off (DevTools network emulation): the scanner accepts a code it
verified itself, shows the amber screen and syncs when the network returns; the member's card opens with no
network from the service worker and says it is offline."""

from __future__ import annotations

import time

import pytest
from django.core.signals import request_started
from selenium.webdriver.common.by import By

from redemptions.counter.selectors import merchant_by_public_id
from redemptions.models import OfflineRedemption, Redemption
from tests.e2e.conftest import sign_in
from tests.e2e.test_redemption_browser import press, visible, wait
from tests.e2e.y4m import write_qr_video
from tests.factories.redemptions import code_of, member_with_card, shop, staff_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEPT = "const done = arguments[arguments.length - 1]; caches.match(arguments[0]).then((r) => done(Boolean(r)));"
OFFLINE = {"offline": True, "latency": 0, "download_throughput": -1, "upload_throughput": -1}


@pytest.fixture
def counter_setup(db):
    merchant = merchant_by_public_id(public_id=shop().public_id)
    return merchant, staff_of(merchant), member_with_card(display_name="王小红")


class ServerRequests:
    """Counts the requests that reach the live server for paths starting with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.paths = prefix, []

    def __call__(self, sender, environ, **kwargs) -> None:
        if environ.get("PATH_INFO", "").startswith(self.prefix):
            self.paths.append(environ["PATH_INFO"])


class Unplugged:
    """The network switched off for the page (selenium's network emulation) and for its service workers: the
    emulation applies per DevTools session, and a worker is its own target, so each worker target gets a session
    of its own (over the browser's DevTools endpoint) that holds the emulation until ``plug_in``."""

    def __init__(self, driver) -> None:
        self.driver, self.sockets = driver, []

    def __enter__(self) -> Unplugged:
        import json
        import urllib.request

        import websocket

        self.driver.set_network_conditions(**OFFLINE)
        address = self.driver.capabilities["goog:chromeOptions"]["debuggerAddress"]
        with urllib.request.urlopen(f"http://{address}/json/list") as answer:
            targets = json.load(answer)
        for target in targets:
            if target.get("type") != "service_worker":
                continue
            socket = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=10, suppress_origin=True)
            for number, (method, params) in enumerate(
                [
                    ("Network.enable", {}),
                    (
                        "Network.emulateNetworkConditions",
                        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
                    ),
                ],
                start=1,
            ):
                socket.send(json.dumps({"id": number, "method": method, "params": params}))
                while json.loads(socket.recv()).get("id") != number:
                    pass
            self.sockets.append(socket)
        assert self.sockets, "no service worker to unplug"
        return self

    def __exit__(self, *exc) -> None:
        for socket in self.sockets:
            socket.close()  # the session ends, and with it the emulation
        self.driver.delete_network_conditions()


def until(condition, seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.3)


def test_the_scanner_accepts_a_code_offline_and_syncs_when_the_network_returns(
    browser, live_server, tmp_path, counter_setup
):
    merchant, staff, member = counter_setup
    driver = browser(video=write_qr_video(tmp_path / "card.y4m", code_of(member).qr))
    sign_in(driver, live_server, staff)
    driver.get(f"{live_server.url}/r/scan/{merchant.public_id}/")
    # The page verified the code itself: the member and the offer show before any request.
    visible(driver, "#rc-entry-view #rc-member")
    assert driver.find_element(By.ID, "rc-member-name").text == "王**"
    wait(driver).until(lambda d: d.execute_script("return Boolean(navigator.serviceWorker.controller);"))
    driver.set_script_timeout(10)
    wait(driver).until(lambda d: d.execute_async_script(KEPT, d.current_url))  # the worker kept the page
    with Unplugged(driver):
        press(driver, "86")
        driver.find_element(By.ID, "rc-go").click()
        amber = visible(driver, "#rc-result.rc-offline")
        assert "已离线接受" in amber.text and "联网后同步" in amber.text and "¥75.68" in amber.text
        assert "1 笔离线核销等待同步" in driver.find_element(By.ID, "rc-pending").text
        # The page reopens with no network (the service worker) and the queue is still there.
        driver.get(f"{live_server.url}/r/scan/{merchant.public_id}/")
        wait(driver).until(lambda d: "1 笔离线核销等待同步" in d.find_element(By.ID, "rc-pending").text)
        assert Redemption.objects.count() == 0
    # The network returns: the queue is synced and the redemption counts as of the scan.
    driver.execute_script("window.dispatchEvent(new Event('online'));")
    until(lambda: Redemption.objects.count() == 1)
    redemption = Redemption.objects.get()
    assert (redemption.channel, redemption.staff, redemption.bill_fen, redemption.charge_fen) == (
        "staff_offline",
        staff,
        8600,
        7568,
    )
    assert OfflineRedemption.objects.get().outcome == "accepted"
    pending = wait(driver).until(
        lambda d: (text := d.find_element(By.ID, "rc-pending").text) and "已同步 1 笔离线核销" in text and text
    )
    assert "等待同步" not in pending  # the queue is empty


def test_the_card_page_opens_with_no_network(browser, live_server, counter_setup):
    _, _, member = counter_setup
    driver = browser()
    driver.set_script_timeout(10)
    sign_in(driver, live_server, member)
    url = f"{live_server.url}/r/card/"
    driver.get(url)
    visible(driver, "#rc-qr svg")
    wait(driver).until(lambda d: d.execute_script("return Boolean(navigator.serviceWorker.controller);"))
    driver.get(url)  # now under the worker, which keeps the page
    visible(driver, "#rc-qr svg")
    wait(driver).until(
        lambda d: d.execute_async_script(
            KEPT,
            url,
        )
    )
    requests = ServerRequests("/r/card/")
    request_started.connect(requests)
    try:
        with Unplugged(driver):
            driver.get(url)
            visible(driver, "#rc-qr svg")
            wait(driver, 10).until(lambda d: "离线" in d.find_element(By.ID, "rc-net").text)
            code = driver.find_element(By.ID, "rc-qr").get_attribute("data-code") or ""
            assert code.startswith("RC")
            assert requests.paths == []  # the page came from the service worker, not the server
    finally:
        request_started.disconnect(requests)
