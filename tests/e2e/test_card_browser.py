"""Real Chromium: the member's open card answers a redemption made at the counter (another browser, another
device): within a couple of seconds it flips to "已核销 · 省 ¥x", the savings meter moves, and once the year's
savings pass the fee the card says "已回本"."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from members.models import Subscription
from members.services.subscriptions import seed_default_plans
from redemptions.counter import services
from redemptions.counter.selectors import merchant_by_public_id
from tests.e2e.conftest import console_errors, sign_in
from tests.e2e.test_redemption_browser import visible, wait
from tests.factories import UserFactory
from tests.factories.members import paid_subscription
from tests.factories.redemptions import shop, staff_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_open_card_flips_when_its_code_is_redeemed_and_says_when_the_card_has_paid_back(browser, live_server):
    seed_default_plans()
    merchant = merchant_by_public_id(public_id=shop().public_id)
    staff = staff_of(merchant)
    member = UserFactory(display_name="王小红")
    card = paid_subscription(member)  # ¥168 a year
    Subscription.objects.filter(pk=card.pk).update(savings_fen=16000)  # ¥160 saved so far this year
    driver = browser()
    sign_in(driver, live_server, member)
    driver.get(f"{live_server.url}/r/card/")
    visible(driver, "#rc-qr svg")
    assert not driver.find_element(By.ID, "rc-paid-back").is_displayed()
    code = driver.find_element(By.ID, "rc-qr").get_attribute("data-code")
    # Staff redeem the code on screen at the counter (their own device): ¥160.66 at 12% off saves ¥19.28.
    services.redemption_confirm(merchant=merchant, counter=services.Counter(staff=staff), bill=16066, code=code)
    done = visible(driver, "#rc-done", seconds=6)
    assert "已核销 · 省 ¥19.28" in done.text and merchant.name in done.text
    assert "已回本" in done.text
    assert not driver.find_element(By.ID, "rc-qr").is_displayed()  # the used code is gone
    wait(driver, 5).until(lambda d: "179.28" in d.find_element(By.ID, "rc-meter-figure").text)
    assert driver.find_element(By.ID, "rc-paid-back").is_displayed()
    bar = driver.find_element(By.ID, "rc-meter-bar")
    assert bar.get_attribute("max") == bar.get_attribute("value") == "16800"  # full: past the fee
    driver.find_element(By.ID, "rc-done-next").click()
    visible(driver, "#rc-qr svg")
    assert not [e for e in console_errors(driver) if "favicon" not in e]
