"""Real Chromium: the staff scanner reads a member's QR through the fake camera, the red screen for a
used code, the member's card rotating its code, and the tap-claim flow from member page to staff."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from redemptions.counter import services
from redemptions.counter.selectors import merchant_by_public_id
from redemptions.models import Claim, Redemption
from tests.e2e.conftest import console_errors, sign_in
from tests.e2e.y4m import write_qr_video
from tests.factories.redemptions import code_of, member_with_card, shop, staff_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait(driver, seconds=20):
    return WebDriverWait(driver, seconds, poll_frequency=0.2)


def visible(driver, css, seconds=20):
    return wait(driver, seconds).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))


def press(driver, keys):
    for key in keys:
        driver.find_element(By.CSS_SELECTOR, f'#rc-keypad button[data-key="{key}"]').click()


@pytest.fixture
def counter_setup(db):
    merchant = merchant_by_public_id(public_id=shop().public_id)
    return merchant, staff_of(merchant), member_with_card(display_name="王小红")


def test_staff_scans_the_members_qr_with_the_camera_and_confirms(browser, live_server, tmp_path, counter_setup):
    merchant, staff, member = counter_setup
    video = write_qr_video(tmp_path / "card.y4m", code_of(member).qr)
    driver = browser(video=video)
    sign_in(driver, live_server, staff)
    driver.get(f"{live_server.url}/r/scan/{merchant.public_id}/")
    # The camera opens by itself; the polyfill (no native BarcodeDetector on Linux) reads the code.
    visible(driver, "#rc-entry-view #rc-member")
    assert driver.find_element(By.ID, "rc-member-name").text == "王**"
    press(driver, "86")
    assert "75.68" in driver.find_element(By.ID, "rc-preview").text
    driver.find_element(By.ID, "rc-go").click()
    result = visible(driver, "#rc-result.rc-ok")
    assert "¥75.68" in result.text
    redemption = Redemption.objects.get()
    assert (redemption.bill_fen, redemption.charge_fen, redemption.staff, redemption.channel) == (
        8600,
        7568,
        staff,
        "staff_scan",
    )
    wait(driver).until(lambda d: "75.68" in d.find_element(By.ID, "rc-today").text)
    # The page checked the code itself (signature, window, name): one request redeemed it, no lookup.
    assert api_calls(driver, "/prepare/") == 0 and api_calls(driver, "/confirm/") == 1
    assert not [e for e in console_errors(driver) if "favicon" not in e]


def api_calls(driver, path: str) -> int:
    return driver.execute_script(
        "return performance.getEntriesByType('resource').filter((e) => e.name.includes(arguments[0])).length;", path
    )


def test_a_used_code_goes_red(browser, live_server, tmp_path, counter_setup):
    merchant, staff, member = counter_setup
    code = code_of(member).qr
    services.redemption_confirm(merchant=merchant, counter=services.Counter(staff=staff), bill=5000, code=code)
    driver = browser(video=write_qr_video(tmp_path / "used.y4m", code))
    sign_in(driver, live_server, staff)
    driver.get(f"{live_server.url}/r/scan/{merchant.public_id}/")
    # The page sees a genuine, live code and shows the member; the one confirm request finds it used.
    visible(driver, "#rc-entry-view #rc-member")
    press(driver, "50")
    driver.find_element(By.ID, "rc-go").click()
    result = visible(driver, "#rc-result.rc-refused")
    assert "此码已被使用" in result.text
    assert Redemption.objects.count() == 1


def test_the_card_page_rotates_its_code(browser, live_server, settings, counter_setup):
    settings.REDCARD_CODE_ROTATE_SECONDS = 3
    settings.REDCARD_CODE_VALID_SECONDS = 9
    _, _, member = counter_setup
    driver = browser()
    sign_in(driver, live_server, member)
    driver.get(f"{live_server.url}/r/card/")
    qr = visible(driver, "#rc-qr svg")
    assert qr
    # The connection drops: the card keeps rotating through the codes it holds, and says so.
    driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    first_number = driver.find_element(By.ID, "rc-numeric").text
    wait(driver, 12).until(lambda d: d.find_element(By.ID, "rc-numeric").text != first_number)
    wait(driver, 5).until(lambda d: "离线" in d.find_element(By.ID, "rc-net").text)
    driver.delete_network_conditions()
    visible(driver, "#rc-qr svg")  # the new code is drawn
    second_code = driver.find_element(By.ID, "rc-qr").get_attribute("data-code")
    assert second_code and second_code.startswith("RC")
    assert "秒后换码" in driver.find_element(By.ID, "rc-countdown").text
    # The code on screen is genuine: the server accepts it.
    from redemptions.counter import codes

    assert codes.verify(second_code).member_public_id == member.public_id


def test_tap_claim_from_member_page_to_staff_confirmation(browser, live_server, counter_setup):
    merchant, staff, member = counter_setup
    phone = browser()
    sign_in(phone, live_server, member)
    phone.get(f"{live_server.url}/r/m/{merchant.public_id}/claim/")
    phone.find_element(By.ID, "rc-bill").send_keys("88")
    phone.find_element(By.ID, "rc-claim-go").click()
    number = visible(phone, "#rc-live-number").text
    claim = Claim.objects.get()
    assert number == f"#{claim.short_number}"
    till = browser()
    sign_in(till, live_server, staff)
    till.get(f"{live_server.url}/r/scan/{merchant.public_id}/")
    row = visible(till, f'li.rc-claim[data-claim="{claim.public_id}"]')
    assert claim.short_number in row.text and "王**" in row.text
    row.find_element(By.CSS_SELECTOR, ".rc-claim-confirm").click()
    assert "77.44" in visible(till, "#rc-result.rc-ok").text
    visible(phone, ".rc-live-confirmed")
    assert Redemption.objects.get().channel == "member_claim"


def test_staff_types_the_number_under_the_qr_and_confirms(browser, live_server, counter_setup):
    merchant, staff, member = counter_setup
    number = code_of(member).numeric
    driver = browser()  # the default fake camera shows no QR code
    sign_in(driver, live_server, staff)
    driver.get(f"{live_server.url}/r/scan/{merchant.public_id}/")
    visible(driver, "#rc-type-code").click()
    press(driver, number)
    driver.find_element(By.ID, "rc-go").click()
    visible(driver, "#rc-entry-view #rc-member")
    assert "个小红卡名额" in driver.find_element(By.ID, "rc-member-offer").text
    press(driver, "120")
    driver.find_element(By.ID, "rc-go").click()
    assert "¥105.60" in visible(driver, "#rc-result.rc-ok").text
    assert Redemption.objects.get().channel == "staff_typed"


def test_the_scanners_list_tells_the_shops_time_in_the_pages_language(live_server, counter_setup):
    """The browser runs in UTC with English settings; the list the script renders shows the shop's
    wall clock on a 24-hour clock (never the tablet's zone, never "PM")."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from tests.e2e.conftest import CHROMEDRIVER, chromium_options

    merchant, staff, member = counter_setup
    services.redemption_confirm(
        merchant=merchant, counter=services.Counter(staff=staff), bill=8600, code=code_of(member).qr
    )
    at = Redemption.objects.get().confirmed_at
    shop_clock, utc_clock = at.astimezone(ZoneInfo("Asia/Shanghai")), at.astimezone(UTC)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=chromium_options(language="en-US"))
    try:
        sign_in(driver, live_server, staff)
        driver.get(f"{live_server.url}/r/scan/{merchant.public_id}/")
        # The row with a void form is the one the script rendered from the API (UTC with offset).
        row = visible(driver, "#rc-today li.list-item .rc-void-open").find_element(By.XPATH, "..")
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        assert row.text.startswith(f"{shop_clock:%H:%M} ·"), row.text
        assert not row.text.startswith(f"{utc_clock:%H:%M}") and "PM" not in row.text and "AM" not in row.text
    finally:
        driver.quit()
