"""Real Chromium at phone size: the scanner for the untrained (issue 14) — the typed-code prompt says what to
type, a paused or full shop is told on the scanner itself, today's list is newest first and complete for the void
window a page at a time, and a void needs a second tap on a sheet that asks why."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.db.models import F
from django.utils import timezone
from selenium.webdriver.common.by import By

from members.models import Subscription
from merchants.selectors import city_zone, local_date
from merchants.services import merchant_pause_today
from redemptions.counter import codes, services
from redemptions.counter.selectors import merchant_by_public_id
from redemptions.models import Redemption
from tests.e2e.conftest import sign_in
from tests.e2e.test_redemption_browser import visible, wait
from tests.factories.redemptions import code_of, member_with_card, shop, staff_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def todays_recent_times(merchant, *, count: int) -> tuple[datetime, timedelta]:
    """Where and how far apart ``count`` redemptions of the last half hour go so that all fall on the shop's
    today (the browser's clock cannot be frozen): a minute apart, closer after local midnight (never closer
    than a code's window, the last few a little ahead of now in the first minutes of a day)."""
    now = timezone.now()
    midnight = datetime.combine(local_date(merchant=merchant, at=now), time.min, tzinfo=city_zone(merchant.city))
    start = max(now - timedelta(minutes=30), midnight + timedelta(seconds=1))
    step = max(min(timedelta(minutes=1), (now - start) / count), timedelta(seconds=codes.rotate_seconds()))
    return start, step


@pytest.fixture
def counter_setup(db):
    merchant = merchant_by_public_id(public_id=shop().public_id)
    return merchant, staff_of(merchant)


def test_a_paused_shop_is_told_on_the_scanner_and_the_typed_code_prompt_says_what_to_type(
    browser, live_server, counter_setup
):
    merchant, staff = counter_setup
    merchant_pause_today(merchant=merchant, actor=staff, paused=True)
    driver = browser()
    sign_in(driver, live_server, staff)
    driver.get(f"{live_server.url}/r/scan/{merchant.public_id}/")
    banner = visible(driver, "#rc-banner")
    assert "本店今日已暂停小红卡" in banner.text
    visible(driver, "#rc-type-code").click()
    label = visible(driver, "#rc-entry-label").text
    assert label == "会员码（二维码下方的数字）" and "RedCard" not in label


def test_todays_list_is_newest_first_paged_and_a_void_asks_why_on_a_sheet(browser, live_server, counter_setup):
    merchant, staff = counter_setup
    merchant.member_daily_limit = 30
    merchant.save(update_fields=["member_daily_limit"])
    member = member_with_card(display_name="王小红")
    Subscription.objects.filter(user=member).update(period_start=F("period_start") - timedelta(days=1))
    counter = services.Counter(staff=staff)
    start, step = todays_recent_times(merchant, count=23)
    for i in range(23):  # bills ¥10.00 .. ¥32.00, the newest last
        at = start + step * i
        services.redemption_confirm(
            merchant=merchant, counter=counter, bill=1000 + 100 * i, code=code_of(member, at=at).qr, at=at
        )
    driver = browser()
    sign_in(driver, live_server, staff)
    driver.get(f"{live_server.url}/r/scan/{merchant.public_id}/")
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rc-today .rc-void-open")) == 20)
    rows = driver.find_elements(By.CSS_SELECTOR, "#rc-today li.rc-today-row")
    assert "¥32.00" in rows[0].text and "¥13.00" in rows[19].text  # newest first
    visible(driver, "#rc-today-more").click()  # the three earliest, still voidable
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rc-today li.rc-today-row")) == 23)
    assert not driver.find_element(By.ID, "rc-today-more").is_displayed()
    earliest = driver.find_elements(By.CSS_SELECTOR, "#rc-today li.rc-today-row")[-1]
    assert "¥10.00" in earliest.text
    # One compact button per row; the void itself waits for the sheet, its reason and a second tap.
    earliest.find_element(By.CSS_SELECTOR, ".rc-void-open").click()
    sheet = visible(driver, "#rc-void-sheet")
    assert "¥10.00" in sheet.find_element(By.ID, "rc-void-what").text
    driver.find_element(By.ID, "rc-void-keep").click()
    wait(driver).until(lambda d: not d.find_element(By.ID, "rc-void-sheet").is_displayed())
    assert not Redemption.objects.filter(status="voided").exists()
    earliest.find_element(By.CSS_SELECTOR, ".rc-void-open").click()
    visible(driver, "#rc-void-sheet")
    driver.find_element(By.ID, "rc-void-confirm").click()  # no reason: the form does not go
    assert not Redemption.objects.filter(status="voided").exists()
    driver.find_element(By.ID, "rc-void-reason").send_keys("输错金额")
    driver.find_element(By.ID, "rc-void-confirm").click()
    wait(driver).until(lambda d: not d.find_element(By.ID, "rc-void-sheet").is_displayed())
    voided = Redemption.objects.get(status="voided")
    assert (voided.bill_fen, voided.void_reason) == (1000, "输错金额")
    wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rc-today li.rc-voided")) == 1)
