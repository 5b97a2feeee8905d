"""Real Chromium with its network switched off (DevTools network emulation): the scanner accepts a code it
verified itself, shows the amber screen and syncs when the network returns; the member's card opens with no
network from the service worker and says it is offline."""

from __future__ import annotations

import time

import pytest
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


class Unplugged:
    """The network between Chromium and the live server cut. The page is told it is offline (selenium's network
    emulation: ``navigator.onLine`` is false) and the server drops every request without an answer, so the page
    and its service workers alike see a network error. DevTools emulation alone is per target: a document
    reopened under the worker, or a worker restarted, escaped it now and then and reached the server.
    ``refused`` lists the request lines that were dropped."""

    def __init__(self, driver, live_server) -> None:
        self.driver, self.handler, self.refused = driver, live_server.thread.httpd.RequestHandlerClass, []

    def __enter__(self) -> Unplugged:
        refused = self.refused

        def parse_request(handler) -> bool:  # read, then hang up unanswered (keep-alive connections too)
            refused.append(handler.raw_requestline.decode("latin-1").strip())
            handler.close_connection = True
            return False

        self.driver.set_network_conditions(**OFFLINE)
        self.handler.parse_request = parse_request
        return self

    def __exit__(self, *exc) -> None:
        del self.handler.parse_request  # the class's own again
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
    with Unplugged(driver, live_server):
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
    with Unplugged(driver, live_server):  # the server answers nothing: the page can only come from the worker
        driver.get(url)
        visible(driver, "#rc-qr svg")
        wait(driver, 10).until(lambda d: "离线" in d.find_element(By.ID, "rc-net").text)
        code = driver.find_element(By.ID, "rc-qr").get_attribute("data-code") or ""
        assert code.startswith("RC")
