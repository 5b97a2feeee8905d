"""Real Chromium in the console (issue 14, item 6): suspending the programme first shows a dry run (how many
cards, how much money back), then needs the programme's name typed and a tick before anything changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from selenium.webdriver.common.by import By

from members.models import Programme, Refund
from tests.e2e.conftest import sign_in, submit
from tests.factories import UserFactory
from tests.factories.members import PlanFactory, paid_subscription

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fill(driver, name: str, text: str) -> None:
    field = driver.find_element(By.NAME, name)
    field.clear()
    field.send_keys(text)


def test_the_suspension_previews_then_needs_the_name_typed(browser, live_server):
    PlanFactory()
    cards = [paid_subscription() for _ in range(2)]
    operator = UserFactory(is_staff=True)
    operator.groups.add(Group.objects.get(name="operator"))
    driver = browser()
    sign_in(driver, live_server, operator)
    driver.get(live_server.url + "/admin/members/programme/suspend/")
    when = (timezone.now() + timedelta(days=7)).date()
    driver.execute_script("document.querySelector('[name=effective_date]').value = arguments[0]", when.isoformat())
    fill(driver, "reason", "项目暂停，全额退款")
    driver.find_element(By.CSS_SELECTOR, "select[name=refund_mode] option[value=full]").click()
    submit(driver, "input[type=submit]")

    preview = driver.find_element(By.ID, "suspend-preview").text
    assert "2" in preview and "¥336.00" in preview  # two cards, ¥168 each, nothing written yet
    assert not Programme.objects.get().suspended_at
    fill(driver, "typed_name", "红卡")  # not the name
    driver.find_element(By.NAME, "confirm").click()
    submit(driver, "input[type=submit]")
    assert "小红卡" in driver.find_element(By.CSS_SELECTOR, ".errorlist").text
    assert not Programme.objects.get().suspended_at

    fill(driver, "typed_name", "小红卡")
    if not driver.find_element(By.NAME, "confirm").is_selected():
        driver.find_element(By.NAME, "confirm").click()
    submit(driver, "input[type=submit]")
    assert "/admin/members/programme/" in driver.current_url
    assert Programme.objects.get().suspended_at is not None
    assert Refund.objects.filter(subscription__in=cards).count() == 2  # the run (inline here) refunded each card once
