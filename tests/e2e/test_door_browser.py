"""Real Chromium at an event's door: staff open the scanner's event mode, the fake camera shows the
member's card code, the screen goes green with the number of people; the same card again goes red."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from members.events import services as event_services
from members.models import EventCheckIn
from tests.e2e.conftest import console_errors, sign_in
from tests.e2e.y4m import write_qr_video
from tests.factories.events import EventFactory
from tests.factories.redemptions import code_of, member_with_card, shop, staff_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def visible(driver, css, seconds=25):
    return WebDriverWait(driver, seconds, poll_frequency=0.2).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, css))
    )


def test_staff_scan_the_card_at_the_door_and_see_green_then_red(browser, live_server, tmp_path):
    merchant = shop()
    now = timezone.now()
    event = EventFactory(
        venue=merchant,
        organiser=merchant,
        max_guests=1,
        starts_at=now - timedelta(minutes=1),  # under way: the door is open whatever the hour
        ends_at=now + timedelta(hours=2),
        members_open_at=now - timedelta(hours=3),
        public_open_at=now - timedelta(hours=3),
    )
    person = member_with_card(display_name="王小红")
    event_services.registration_create(event=event, user=person, guests=1, at=now - timedelta(hours=2))
    staff = staff_of(merchant)
    driver = browser(video=write_qr_video(tmp_path / "card.y4m", code_of(person).qr))
    sign_in(driver, live_server, staff)
    driver.get(f"{live_server.url}/r/scan/events/{event.public_id}/")
    result = visible(driver, "#rc-result.rc-ok")
    assert "已签到 · 2 位" in result.text and "王**" in result.text
    assert EventCheckIn.objects.get().places == 2
    # Next person: the same card is still in front of the camera a few seconds later -> red, plainly.
    driver.find_element(By.ID, "rc-next").click()
    refused = visible(driver, "#rc-result.rc-refused", seconds=30)
    assert "已于" in refused.text and "签到" in refused.text
    assert EventCheckIn.objects.count() == 1
    assert not [e for e in console_errors(driver) if "favicon" not in e and "409" not in e]
